"""5 REPORT: the HR console, exports, API, webhooks, xAPI. Reads every package; nothing imports it."""

from flask import Flask


def init_app(app: Flask) -> None:
    from reports import (
        certificates_views,  # noqa: F401  (adds its routes to the console blueprint)
        cli,
        dispatch_views,  # noqa: F401  (adds its routes to the console blueprint)
        evidence,
        evidence_cli,  # noqa: F401  (adds verify-evidence to the reports commands)
        evidence_views,  # noqa: F401  (adds its routes to the console blueprint)
        export_views,  # noqa: F401  (adds its routes to the console blueprint)
        instructor,
        lms_views,  # noqa: F401  (adds its routes to the console blueprint)
    )
    from reports.views import bp
    from training_app import outbox

    app.register_blueprint(bp)
    outbox.register_handler(evidence.KIND, evidence.build_queued_pack)
    app.register_blueprint(instructor.bp)
    cli.register(app)
