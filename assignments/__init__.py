"""0 WHAT, WHEN: who must complete which course by when (rules per tenant, HR assignments,
recertification, policy changes), the one status rule, waivers, reminders, and the scheduler's
tick."""

from flask import Flask


def init_app(app: Flask) -> None:
    from assignments import cli, demo, models, reminders, services  # noqa: F401  (models: tables known)
    from assignments.views import bp
    from people import hooks
    from training_app import demo as demo_data
    from training_app import mail

    app.register_blueprint(bp)
    cli.register(app)
    hooks.on_people_changed(services.apply_rules_to)
    mail.register_builder(reminders.BUILDER, reminders.build_email)
    demo_data.register_step(demo.load_workforce, order=60)  # after the courses are published
