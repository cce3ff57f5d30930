"""1 LAUNCH: LTI 1.3 Advantage - OIDC login, launch, deep linking, AGS, NRPS, JWKS, registration."""

from flask import Flask


def init_app(app: Flask) -> None:
    from courses import hooks
    from lti import ags, cli, demo, framing, storage
    from lti.services import launches
    from lti.views import bp
    from training_app import demo as demo_data
    from training_app import outbox, security

    app.register_blueprint(bp)
    cli.register(app)
    hooks.on_result(ags.queue_scores)
    hooks.add_launch_history(launches.launch_history)
    outbox.register_handler(ags.KIND, ags.deliver_score)
    outbox.register_housekeeping(storage.purge_expired)
    security.register_frame_origins(framing.frame_origins)
    demo_data.register_step(demo.register_demo_lms)
