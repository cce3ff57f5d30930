"""5 REPORT: the HR console, exports, API, webhooks, xAPI. Reads every package; nothing imports it."""

from flask import Flask


def init_app(app: Flask) -> None:
    from reports import (
        certificates_views,  # noqa: F401  (adds its routes to the console blueprint)
        cli,
        export_views,  # noqa: F401  (adds its routes to the console blueprint)
        instructor,
        lms_views,  # noqa: F401  (adds its routes to the console blueprint)
    )
    from reports.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(instructor.bp)
    cli.register(app)
