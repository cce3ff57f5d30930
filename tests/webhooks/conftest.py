"""Webhook tests: a real receiver on 127.0.0.1 verifies every delivery with the standardwebhooks
package; events come from the real actions (a learner's journey, the console, the tick)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests import factories
from tests.helpers import FormClient, sign_in_learner
from tests.journeys import answer_key, ready_for_quiz, start, submit
from tests.webhooks.receiver import HookReceiver
from training_app import outbox
from training_app.extensions import db
from training_app.models import OutboxMessage, Tenant
from webhooks import services
from webhooks.events import EVENT_TYPES


@dataclass(frozen=True)
class Org:
    id: int
    slug: str
    admin_id: int


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    receiver = HookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def acme(app, published) -> Org:
    with app.app_context():
        tenant = factories.tenant("acme")
        admin = factories.staff(tenant, "hr@acme.example")
        db.session.commit()
        return Org(tenant.id, tenant.slug, admin.id)


@pytest.fixture
def hr(app, acme) -> FormClient:
    client = FormClient(app)
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    return client


def register(app, org: Org, url: str, event_types=tuple(EVENT_TYPES)) -> tuple[int, str]:
    """An endpoint through the service the console uses: (its id, its secret)."""
    with app.app_context():
        endpoint, secret = services.create_endpoint(
            db.session.get(Tenant, org.id),
            services.EndpointFields(url, "HR system", list(event_types)),
            staff_id=org.admin_id,
            ip_address=None,
        )
        db.session.commit()
        return endpoint.id, secret


def employee(app, org: Org, name: str = "Ada Lovelace", employee_id: str = "E001") -> int:
    with app.app_context():
        tenant = db.session.get(Tenant, org.id)
        person = factories.learner(tenant, name)
        person.employee_id = employee_id
        person.manager_email = "boss@acme.example"
        db.session.commit()
        return person.id


def attest(app, user_id: int) -> int:
    """The learner's lessons done and the policy attested (attestation.recorded); the enrolment's id."""
    from training_app.models import User

    with app.app_context():
        enrolment = ready_for_quiz(db.session.get(User, user_id))
        db.session.commit()
        return enrolment.id


def pass_quiz(app, user_id: int) -> None:
    """The learner passes the orientation's quiz over HTTP (completion.recorded, certificate.issued)."""
    learner = FormClient(app)
    sign_in_learner(learner, user_id)
    attempt_id = start(learner)
    assert "You passed" in submit(learner, attempt_id, answer_key(app, attempt_id, right=9)).get_data(
        as_text=True
    )


def make_due(app) -> None:
    with app.app_context():
        db.session.execute(OutboxMessage.__table__.update().values(next_try_at=outbox.utcnow()))
        db.session.commit()


def run_worker(app) -> int:
    """One pass of the outbox worker over everything due now; how many messages were delivered."""
    with app.app_context():
        return outbox.run_worker(once=True)


def outbox_of(app, kind: str = "webhook") -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))
