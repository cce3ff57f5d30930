"""1 LAUNCH: SCORM 1.2 / 2004 4th edition and cmi5 dispatch packages and their launches, for LMSs
that import a package rather than speak LTI 1.3."""

from flask import Flask


def init_app(app: Flask) -> None:
    from courses import hooks
    from dispatch import cli, framing, launches, signatures
    from dispatch.views import bp
    from training_app import outbox, security

    app.register_blueprint(bp)
    cli.register(app)
    hooks.add_launch_history(launches.launch_history)
    security.register_frame_origins(framing.frame_origins)
    outbox.register_housekeeping(signatures.purge_expired_nonces)
