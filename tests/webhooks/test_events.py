"""Each event type fires from the real action, reaches a real receiver once, verifies with the
standardwebhooks package, and names its fields as the completions export does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from certificates.models import Certificate
from courses import hooks as course_hooks
from courses.models import Completion, Enrolment
from reports.completions import EXPORT_COLUMNS
from tests.helpers import text_of
from tests.webhooks.conftest import attest, employee, pass_quiz, register, run_worker
from training_app import scheduling
from training_app.db import utcnow
from training_app.extensions import db
from webhooks.events import EVENT_TYPES, EXPORT_FIELDS
from webhooks.models import WebhookDelivery

IDS = {"assignment_id", "attestation_id", "completion_id", "certificate_id", "issued_at", "revoked_at"}


def received(hooks, secret: str) -> dict[str, dict]:
    """Every accepted delivery verified with the secret, by event type (each type once)."""
    bodies = [hit.verified(secret) for hit in hooks.accepted()]
    by_type = {body["type"]: body for body in bodies}
    assert len(by_type) == len(bodies), [body["type"] for body in bodies]
    return by_type


def test_the_export_fields_are_the_exports_columns():
    assert list(EXPORT_FIELDS) == [name for name in EXPORT_COLUMNS if name != "lms"]


def test_a_learners_journey_sends_attestation_completion_and_certificate(app, acme, hooks):
    _, secret = register(app, acme, hooks.url)
    ada = employee(app, acme)
    enrolment_id = attest(app, ada)
    pass_quiz(app, ada)
    assert run_worker(app) == 3
    events = received(hooks, secret)
    assert set(events) == {"attestation.recorded", "completion.recorded", "certificate.issued"}
    with app.app_context():
        certificate = db.session.scalar(select(Certificate).where(Certificate.user_id == ada))
        completion = db.session.get(Completion, certificate.completion_id)
    completed = events["completion.recorded"]["data"]
    assert completed["employee_id"] == "E001" and completed["email"] == "ada@acme.example"
    assert completed["manager"] == "boss@acme.example" and completed["department"] == "Engineering"
    assert completed["course"] == "social-media-orientation" and completed["status"] == "completed"
    assert completed["score"] == completion.score and completed["policy_version"] == 1
    assert completed["certificate_code"] == certificate.code
    assert completed["verification_url"].endswith(f"/verify/{certificate.code}")
    assert completed["completion_id"] == completion.id and completed["assignment_id"] == enrolment_id
    assert completed["completed_at"] == completion.completed_at.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert events["completion.recorded"]["timestamp"] == completed["completed_at"]
    issued = events["certificate.issued"]["data"]
    assert issued["certificate_id"] == certificate.id and issued["certificate_code"] == certificate.code
    assert issued["expires_at"] == completed["expires_at"] is not None
    attested = events["attestation.recorded"]["data"]
    assert attested["attested_at"] == completed["attested_at"] and attested["content_hash"]
    for event in events.values():
        data = event["data"]
        fields = [name for name in data if name in EXPORT_FIELDS]
        assert fields == [name for name in EXPORT_FIELDS if name in data]  # in the export's order
        assert set(data) - set(EXPORT_FIELDS) <= IDS, set(data) - set(EXPORT_FIELDS)
    assert len({hit.webhook_id for hit in hooks.accepted()}) == 3


def test_revoking_in_the_console_sends_certificate_revoked(app, acme, hooks, hr):
    ada = employee(app, acme)
    attest(app, ada)
    pass_quiz(app, ada)
    _, secret = register(app, acme, hooks.url, ["certificate.revoked"])
    with app.app_context():
        certificate = db.session.scalar(select(Certificate).where(Certificate.user_id == ada))
    page = f"/console/certificates/{certificate.id}/revoke"
    response = hr.post_form(page, {"reason": "issued in error", "confirm": "y"})
    assert response.status_code == 303, text_of(response)
    assert run_worker(app) == 1
    revoked = received(hooks, secret)["certificate.revoked"]
    assert revoked["data"]["certificate_code"] == certificate.code and revoked["data"]["revoked_at"]
    assert "reason" not in revoked["data"]  # kept in the audit log, never sent out
    assert revoked["timestamp"] == revoked["data"]["revoked_at"]


def test_the_tick_sends_overdue_assignments_and_expired_certificates_once(app, acme, hooks):
    """Grace's orientation passes its due date; Ada's certificate reaches its expiry: the next tick
    announces each once, a later tick nothing again."""
    ada = employee(app, acme)
    grace = employee(app, acme, "Grace Hopper", "E002")
    attest(app, ada)
    pass_quiz(app, ada)
    grace_enrolment = attest(app, grace)
    now = utcnow()
    with app.app_context():
        db.session.get(Enrolment, grace_enrolment).due_at = now + timedelta(days=2)
        completion = db.session.scalar(select(Completion).where(Completion.user_id == ada))
        expires = completion.expires_at
        db.session.commit()
    _, secret = register(app, acme, hooks.url, ["assignment.overdue", "certificate.expired"])

    def tick(moment):
        with app.app_context():
            report = scheduling.run_tick(moment)
            db.session.commit()
            return report

    tick(now)  # the first tick only marks where it looked
    assert tick(now + timedelta(days=3)).moments == 1
    run_worker(app)  # reminders' emails go too
    assert len(hooks.accepted()) == 1
    tick(expires + timedelta(minutes=1))
    tick(expires + timedelta(days=1))
    run_worker(app)
    assert len(hooks.accepted()) == 2
    events = received(hooks, secret)
    assert set(events) == {"assignment.overdue", "certificate.expired"}
    overdue = events["assignment.overdue"]["data"]
    assert overdue["employee_id"] == "E002" and overdue["status"] == "overdue"
    assert overdue["assignment_id"] == grace_enrolment and overdue["due_at"]
    expired = events["certificate.expired"]["data"]
    assert expired["employee_id"] == "E001" and expired["status"] == "expired"
    assert expired["expires_at"] == events["certificate.expired"]["timestamp"]


def test_an_endpoint_gets_only_its_event_types_and_only_its_tenants(app, acme, hooks):
    from tests import factories
    from tests.webhooks.conftest import Org

    with app.app_context():
        globex = factories.tenant("globex", "Globex")
        globex_admin = factories.staff(globex, "hr@globex.example")
        db.session.commit()
        other = Org(globex.id, "globex", globex_admin.id)
    register(app, acme, hooks.url, ["certificate.issued"])
    register(app, other, hooks.url + "/globex")
    ada = employee(app, acme)
    attest(app, ada)
    pass_quiz(app, ada)
    assert run_worker(app) == 1
    [hit] = hooks.accepted()
    assert hit.path == "/hooks" and b'"certificate.issued"' in hit.body


def test_an_event_is_queued_once_per_endpoint_whatever_repeats(app, acme, hooks):
    register(app, acme, hooks.url)
    ada = employee(app, acme)
    attest(app, ada)
    with app.app_context():
        from courses.models import Attestation

        attestation = db.session.scalar(select(Attestation).where(Attestation.user_id == ada))
        course_hooks.run_attestation_hooks(attestation)  # a hook run again: same event, same key
        db.session.commit()
        deliveries = db.session.scalars(select(WebhookDelivery)).all()
    assert [d.event_type for d in deliveries] == ["attestation.recorded"]
    assert run_worker(app) == 1 and len(hooks.accepted()) == 1


def test_every_event_type_has_a_label():
    assert set(EVENT_TYPES) == {
        "completion.recorded",
        "attestation.recorded",
        "certificate.issued",
        "certificate.revoked",
        "certificate.expired",
        "assignment.overdue",
    }


def test_each_endpoint_gets_the_event_with_its_own_webhook_id(app, acme, hooks):
    _, first_secret = register(app, acme, hooks.url + "/first", ["attestation.recorded"])
    _, second_secret = register(app, acme, hooks.url + "/second", ["attestation.recorded"])
    attest(app, employee(app, acme))
    run_worker(app)
    by_path = {hit.path: hit for hit in hooks.accepted()}
    assert set(by_path) == {"/hooks/first", "/hooks/second"}
    assert by_path["/hooks/first"].webhook_id != by_path["/hooks/second"].webhook_id
    assert by_path["/hooks/first"].body == by_path["/hooks/second"].body
    by_path["/hooks/first"].verified(first_secret)
    by_path["/hooks/second"].verified(second_secret)


def test_an_endpoint_added_in_the_same_transaction_after_the_senders_were_asked_gets_the_event(
    app, acme, hooks
):
    """training_app.subscribers answers "has work?" once per transaction; an ORM change to a
    sender's table in that transaction makes it ask again."""
    from training_app import subscribers
    from training_app.models import Tenant
    from webhooks import services
    from webhooks.events import SENDER

    ada = employee(app, acme)
    with app.app_context():
        assert not subscribers.has_work(acme.id, SENDER)
        _, secret = services.create_endpoint(
            db.session.get(Tenant, acme.id),
            services.EndpointFields(hooks.url, "HR system", list(EVENT_TYPES)),
            staff_id=acme.admin_id,
            ip_address=None,
        )
        db.session.flush()
        assert subscribers.has_work(acme.id, SENDER)
        db.session.commit()
    attest(app, ada)
    assert run_worker(app) == 1
    assert set(received(hooks, secret)) == {"attestation.recorded"}


def test_the_senders_answer_is_forgotten_when_the_transaction_ends(app, acme):
    from training_app import subscribers
    from webhooks.events import SENDER
    from webhooks.models import WebhookEndpoint

    with app.app_context():
        assert not subscribers.has_work(acme.id, SENDER)
        db.session.execute(
            WebhookEndpoint.__table__.insert().values(
                tenant_id=acme.id, url="https://hr.example/hook", description="x", event_types=[], secret="s"
            )
        )  # Core: not seen by the flush listener, so the answer stands until the transaction ends
        assert not subscribers.has_work(acme.id, SENDER)
        db.session.commit()
        assert subscribers.has_work(acme.id, SENDER)
