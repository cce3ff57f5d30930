"""4 CERTIFY: issue, render PDF, verify page, credentials."""

from flask import Flask


def init_app(app: Flask) -> None:
    from certificates.views import bp

    app.register_blueprint(bp)
