"""A small, real LTI 1.3 platform built into development and demo installs, so an evaluator can
walk the learner's path without an LMS: "Try it as a learner" (/demo/try) starts a signed launch
into the tool, and the demo LMS's gradebook (/demo/lms/gradebook) shows the grade coming back.

It plays the LMS's part only: the tool treats it like any registered platform (OIDC login, signed
id_token checked against its JWKS, AGS scores through the outbox). It keeps its key and gradebook
in the instance folder, and does not exist in production: no route is registered there, and
`flask demo launch` refuses.
"""

from flask import Flask


def enabled(app: Flask) -> bool:
    return app.config["CONFIG_NAME"] != "production"


def init_app(app: Flask) -> None:
    from demo_lms import cli

    cli.register()  # everywhere: in production it says why it refuses
    if not enabled(app):
        return
    from demo_lms.views import bp

    app.register_blueprint(bp)
    app.jinja_env.globals["demo_lms_enabled"] = True
