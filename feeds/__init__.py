"""5 SEND: completion feeds. xAPI statements to the tenant's learning record store, and a file a
day to its SFTP server, both through the outbox. Subscribes to the hooks of courses and
assignments (statements; the tick starts scheduled files) and reads the completions export of
reports; nothing imports it."""

from flask import Flask


def init_app(app: Flask) -> None:
    from assignments import hooks as assignment_hooks
    from courses import hooks as course_hooks
    from feeds import backfill, cli, lrs, sftp_runs, xapi_events
    from feeds.views import bp
    from training_app import outbox, subscribers

    app.register_blueprint(bp)
    cli.register(app)
    outbox.register_handler(xapi_events.KIND, lrs.deliver)
    subscribers.register(xapi_events.SENDER, xapi_events.HAS_ENABLED_LRS, "lrs_connections")
    outbox.register_handler(sftp_runs.KIND, sftp_runs.deliver)
    outbox.register_handler(backfill.KIND, backfill.deliver)
    course_hooks.on_result(xapi_events.on_result)
    course_hooks.on_attestation(xapi_events.on_attestation)
    course_hooks.on_cycle_started(xapi_events.on_cycle_started)
    course_hooks.on_launched(xapi_events.on_launched)
    assignment_hooks.on_waived(xapi_events.on_waived)
    assignment_hooks.on_tick(sftp_runs.schedule_due)
