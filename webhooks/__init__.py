"""5 SEND: signed webhooks (Standard Webhooks) to the tenant's HR systems, through the outbox.
Subscribes to the hooks of courses, certificates and assignments; nothing imports it."""

from flask import Flask


def init_app(app: Flask) -> None:
    from assignments import hooks as assignment_hooks
    from certificates import hooks as certificate_hooks
    from courses import hooks as course_hooks
    from training_app import outbox, subscribers
    from webhooks import delivery, events, settings
    from webhooks.views import bp

    app.config.setdefault("WEBHOOK_TIMEOUT_SECONDS", settings.DEFAULT_TIMEOUT_SECONDS)
    app.register_blueprint(bp)
    outbox.register_batch_handler(events.KIND, delivery.deliver_round)
    subscribers.register(events.SENDER, events.HAS_ENABLED_ENDPOINTS, "webhook_endpoints")
    course_hooks.on_result(events.on_result)
    course_hooks.on_attestation(events.on_attestation)
    certificate_hooks.on_issued(events.on_certificate_issued)
    certificate_hooks.on_revoked(events.on_certificate_revoked)
    assignment_hooks.on_overdue(events.on_overdue)
    assignment_hooks.on_result_expired(events.on_results_expired)
