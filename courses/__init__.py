"""2 LEARN: content loader, versions, enrolment, lesson progress, attestation. The hub of the flow."""

from flask import Flask


def init_app(app: Flask) -> None:
    from courses import audiences, cli, demo, hooks, publishing
    from courses.views import bp
    from training_app import demo as demo_data
    from training_app import health, metrics

    app.register_blueprint(bp)
    app.add_template_global(audiences.audience_label)
    cli.register(app)
    health.register_readiness_check(publishing.readiness)
    demo_data.register_step(demo.publish_and_enrol)
    hooks.on_result(metrics.note_result)  # the Prometheus counters, when the result commits
    hooks.on_launched(metrics.note_launch)
