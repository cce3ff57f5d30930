"""1 LAUNCH: LTI 1.3 Advantage - OIDC login, launch, deep linking, AGS, NRPS, JWKS, registration."""

from flask import Flask


def init_app(app: Flask) -> None:
    from lti.views import bp

    app.register_blueprint(bp)
