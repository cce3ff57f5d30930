"""2 LEARN: content loader, versions, enrolment, lesson progress, attestation. The hub of the flow."""

from flask import Flask


def init_app(app: Flask) -> None:
    from courses.views import bp

    app.register_blueprint(bp)
