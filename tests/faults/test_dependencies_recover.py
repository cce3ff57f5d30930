"""Everything the product sends to fails for a while, then recovers: the LMS's grade endpoint answers
500 and 429, the webhook receiver refuses connections and then answers 503, the learning record
store is down (connections refused), and the mail server accepts connections but never answers
(timeouts). The outbox keeps every message (retrying, none dead; /metrics shows them retrying by
kind), and once each one is back every grade, webhook, xAPI statement and email arrives exactly once.

One scenario over the real emulators the package tests use one by one: the LTI platform
(tests/lti_platform), the webhook receiver (tests/webhooks/receiver.py), Ralph (tests/feeds/lrs.py)
and aiosmtpd (tests/mail_server.py).
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from feeds.models import XapiStatement
from people import sign_in
from tests.faults.redis_server import free_port
from tests.feeds.conftest import Org, connect_lrs
from tests.feeds.lrs import RalphServer
from tests.feeds.test_xapi import start_on
from tests.infra.test_metrics import parse, value
from tests.launch.conftest import driver, learner, learner_claims, platform, registered  # noqa: F401
from tests.launch.steps import pass_course
from tests.launch.test_ags import graded_item, tool_jwks  # noqa: F401
from tests.mail_server import MailServer
from tests.webhooks.conftest import register
from tests.webhooks.receiver import HookReceiver
from training_app import outbox
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import OutboxMessage, StaffAccount, Tenant, User

pytestmark = pytest.mark.slow

LEARNERS = [("u-ada", "Ada", "Lovelace"), ("u-grace", "Grace", "Hopper"), ("u-alan", "Alan", "Turing")]
METRICS_TOKEN = "metrics-token-for-the-faults-0123"
KINDS = ("ags_score", "webhook", "xapi_statements", "email")


class BlackHole:
    """A port that accepts connections and never says a word (an SMTP server that hangs)."""

    def __init__(self, port: int) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def app_settings(app_settings):
    smtp_port = free_port()
    return {
        **app_settings,
        "METRICS_TOKEN": METRICS_TOKEN,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_SECURITY": "none",
        "SMTP_USER": "postwise",
        "SMTP_PASSWORD": "mail-password-2026",
        "SMTP_FROM": "Postwise <training@acme.example>",
        "SMTP_TIMEOUT": 1,  # the hanging server costs a second per attempt
        "WEBHOOK_TIMEOUT_SECONDS": 2,
    }


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    receiver = HookReceiver().start()
    yield receiver
    receiver.stop()


def rounds(app, count: int = 1) -> None:
    """`count` worker passes, each over everything due (the backoff's wait skipped)."""
    for _ in range(count):
        with app.app_context():
            db.session.execute(
                OutboxMessage.__table__.update()
                .where(OutboxMessage.status == "pending")
                .values(next_try_at=utcnow())
            )
            db.session.commit()
            outbox.run_worker(once=True)


def outbox_state(app) -> dict[str, Counter[str]]:
    with app.app_context():
        rows = db.session.execute(select(OutboxMessage.kind, OutboxMessage.status)).all()
    state: dict[str, Counter[str]] = {}
    for kind, status in rows:
        state.setdefault(kind, Counter())[status] += 1
    return state


def test_grades_webhooks_statements_and_emails_survive_their_receivers_failing_and_arrive_once(
    app,
    client,
    driver,  # noqa: F811
    registered,  # noqa: F811
    tool_jwks,  # noqa: F811
    hooks,
    tmp_path,
):
    # --- the tenant sends to all four -----------------------------------------------------------
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        admin_id = db.session.scalar(select(StaffAccount.id).where(StaffAccount.email == "hr@acme.example"))
        org = Org(tenant.id, tenant.slug, admin_id)
    _, secret = register(app, org, hooks.url, ["completion.recorded"])
    lrs_server = RalphServer(tmp_path / "ralph")
    lrs_user = lrs_server.user()
    lrs_server.port = free_port()  # where it will listen once it is up
    connect_lrs(app, org, lrs_user)
    smtp_port = app.config["SMTP_PORT"]

    # --- every receiver fails, each its own way ---------------------------------------------------
    registered.fail("scores", 500, times=2 * len(LEARNERS))
    registered.fail("scores", 429, times=len(LEARNERS))  # three rounds of failures in all
    hooks.stop()  # connections refused
    hanging_mail = BlackHole(smtp_port)  # connections accepted, never answered
    mail = MailServer(port=smtp_port)
    item = graded_item(registered)
    for sub, given, family in LEARNERS:
        person = learner(sub, given, family)
        assert driver.launch(learner_claims(registered, user=person, lineitem=item)).status == 200
        pass_course(app, client, name=person.name)
        with app.test_request_context():
            sign_in.request_link(db.session.get(Tenant, org.id), person.email, None)
            db.session.commit()
    queued = outbox_state(app)
    assert {kind: sum(counts.values()) for kind, counts in queued.items() if kind in KINDS} == {
        "ags_score": 3,
        "webhook": 3,
        "xapi_statements": queued["xapi_statements"].total(),
        "email": 3,
    }
    try:
        rounds(app, 3)
        failing = outbox_state(app)
        assert {kind: dict(failing[kind]) for kind in KINDS} == {
            kind: {"pending": queued[kind].total()} for kind in KINDS
        }, "nothing is delivered and nothing is given up while they fail"
        with app.app_context():
            errors = dict(
                db.session.execute(
                    select(OutboxMessage.kind, OutboxMessage.last_error).where(OutboxMessage.kind.in_(KINDS))
                ).all()
            )
        assert "answered 429" in errors["ags_score"] or "answered 500" in errors["ags_score"]
        assert "could not connect" in errors["webhook"] or "refused" in errors["webhook"].lower()
        assert "could not" in errors["xapi_statements"]
        assert "could not reach the mail server" in errors["email"] and "timed out" in errors["email"]
        samples = parse(client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text)
        for kind in KINDS:
            assert value(samples, "postwise_outbox_retrying_messages", kind=kind) == queued[kind].total(), (
                kind
            )
            assert value(samples, "postwise_outbox_dead_messages", kind=kind) == 0, kind

        # --- they come back (the webhook receiver with one more 503) -------------------------------
        hooks.answers = [503]
        hooks.start()
        start_on(lrs_server, lrs_server.port)
        hanging_mail.close()
        mail.start()
        for _ in range(6):
            rounds(app)
            if all(set(counts) == {"delivered"} for counts in outbox_state(app).values()):
                break
        final = outbox_state(app)
        assert {kind: dict(counts) for kind, counts in final.items()} == {
            kind: {"delivered": counts.total()} for kind, counts in queued.items()
        }

        # --- each arrived exactly once --------------------------------------------------------------
        accepted_scores = registered.ags.accepted_scores(item)
        assert sorted(score.body["userId"] for score in accepted_scores) == sorted(
            sub for sub, *_ in LEARNERS
        )
        assert {score.body["scoreGiven"] for score in accepted_scores} == {90}
        ids = hooks.accepted_ids()
        assert len(ids) == len(LEARNERS) and set(ids.values()) == {1}
        assert {hit.verified(secret)["type"] for hit in hooks.accepted()} == {"completion.recorded"}
        with app.app_context():
            statement_ids = set(db.session.scalars(select(XapiStatement.statement_id)))
            learners = {u.email for u in db.session.scalars(select(User).where(User.tenant_id == org.id))}
        stored = [statement["id"] for statement in lrs_user.statements()]
        assert sorted(stored) == sorted(statement_ids) and len(stored) == len(set(stored))
        assert Counter(r for m in mail.messages for r in m.recipients) == Counter(learners)
    finally:
        hanging_mail.close()
        mail.down()
        lrs_server.stop()
