"""Completion feed tests: a real learning record store (Ralph, tests/feeds/lrs.py) and a real SFTP
server (asyncssh's, tests/feeds/sftp_server.py) on 127.0.0.1; events come from the real actions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from feeds import lrs_settings, sftp_settings
from tests import factories
from tests.feeds.lrs import LrsUser, RalphServer
from tests.feeds.sftp_server import USER, SftpServer
from tests.helpers import FormClient, sign_in_learner
from tests.journeys import answer_key, ready_for_quiz, start, submit
from training_app import outbox
from training_app.extensions import db
from training_app.models import OutboxMessage, Tenant, User


@dataclass(frozen=True)
class Org:
    id: int
    slug: str
    admin_id: int


@pytest.fixture(scope="session")
def ralph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RalphServer]:
    server = RalphServer(tmp_path_factory.mktemp("ralph")).start()
    yield server
    server.stop()


@pytest.fixture
def lrs(ralph: RalphServer) -> LrsUser:
    """A user of the worker's Ralph whose statements no other test sees."""
    return ralph.user()


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[SftpServer]:
    server = SftpServer(tmp_path / "sftp").start()
    yield server
    server.close()


@pytest.fixture
def acme(app, published) -> Org:
    with app.app_context():
        tenant = factories.tenant("acme")
        admin = factories.staff(tenant, "hr@acme.example")
        factories.staff(tenant, "auditor@acme.example", "auditor")
        db.session.commit()
        return Org(tenant.id, tenant.slug, admin.id)


@pytest.fixture
def hr(app, acme) -> FormClient:
    client = FormClient(app)
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    return client


@pytest.fixture
def auditor(app, acme) -> FormClient:
    client = FormClient(app)
    assert client.login("auditor@acme.example", factories.PASSWORD).status_code == 302
    return client


def connect_lrs(app, org: Org, lrs: LrsUser, **changes: str) -> None:
    """The tenant's LRS through the service the console uses."""
    fields = {
        "statements_url": lrs.statements_url,
        "username": lrs.username,
        "secret": "lrs-password-for-tests",
    }
    fields.update(changes)
    with app.app_context():
        lrs_settings.save_connection(
            db.session.get(Tenant, org.id),
            lrs_settings.LrsFields(**fields),
            staff_id=org.admin_id,
            ip_address=None,
        )
        db.session.commit()


def add_feed(app, org: Org, sftp: SftpServer, **changes: str) -> int:
    fields = {
        "name": "payroll",
        "host": "127.0.0.1",
        "port": str(sftp.port),
        "username": USER,
        "auth": "key",
        "secret": sftp.client_key_text,
        "host_key_fingerprint": sftp.fingerprint,
        "remote_dir": "inbox",
        "time_of_day": "02:00",
        "time_zone": "UTC",
        "file_format": "csv",
        "content": "changes",
        **changes,
    }
    with app.app_context():
        feed = sftp_settings.create_feed(
            db.session.get(Tenant, org.id),
            sftp_settings.FeedFields(**fields),
            staff_id=org.admin_id,
            ip_address=None,
        )
        db.session.commit()
        return feed.id


def employee(app, org: Org, name: str = "Ada Lovelace", employee_id: str = "E001") -> int:
    with app.app_context():
        person = factories.learner(db.session.get(Tenant, org.id), name)
        person.employee_id = employee_id
        db.session.commit()
        return person.id


def attest(app, user_id: int) -> int:
    """Every lesson done and the policy attested; the enrolment's id."""
    with app.app_context():
        enrolment = ready_for_quiz(db.session.get(User, user_id))
        db.session.commit()
        return enrolment.id


def pass_quiz(app, user_id: int, right: int = 9) -> None:
    """The learner takes the orientation's quiz over HTTP (9 of 10 right: passed)."""
    learner = FormClient(app)
    sign_in_learner(learner, user_id)
    attempt_id = start(learner)
    submit(learner, attempt_id, answer_key(app, attempt_id, right=right))


def make_due(app) -> None:
    with app.app_context():
        db.session.execute(OutboxMessage.__table__.update().values(next_try_at=outbox.utcnow()))
        db.session.commit()


def run_worker(app) -> int:
    with app.app_context():
        return outbox.run_worker(once=True)


def messages(app, kind: str) -> list[OutboxMessage]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )
