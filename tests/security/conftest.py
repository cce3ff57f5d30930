"""The security tests' world: one organisation (Acme) with one object of every kind that a URL can
name, all belonging to Ada, its learner; the people who must not reach them (Bob, another learner
of Acme; Globex's HR administrator and API tokens; Acme's auditor, for changes); and a
fingerprint of the whole database that shows a refused request wrote nothing."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import inspect, select, text

from certificates.models import Certificate
from dispatch import packages as dispatch_packages
from feeds import sftp_settings
from lti.services.platforms import PlatformFields, add_platform
from quizzes import services as quizzes
from reports import evidence
from reports.filters import CompletionFilter
from tests import factories
from tests.helpers import FormClient, sign_in_learner
from tests.journeys import COURSE, ready_for_quiz, record_pass
from training_app import api_tokens, outbox
from training_app.extensions import db
from webhooks import services as webhooks
from webhooks.models import WebhookDelivery

# Columns a refused request may change: bookkeeping of who knocked, not data.
VOLATILE = {
    "rate_limit_counters": None,  # the whole table: every request may count against a limit
    "api_tokens": {"last_used_at"},  # a token's last use is noted even when its request is refused
    "lti_launch_state": None,
}


@dataclass
class World:
    """Ids of Ada's objects in Acme (by kind), of the people, and the secrets of the tokens."""

    ids: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    certificate_code: str = ""


@pytest.fixture
def world(app: Flask, published) -> World:
    with app.app_context():
        acme, globex = factories.tenant("acme"), factories.tenant("globex", "Globex Industries")
        hr = factories.staff(acme, "hr@acme.example")
        auditor = factories.staff(acme, "auditor@acme.example", "auditor")
        colleague = factories.staff(acme, "colleague@acme.example", "auditor")
        factories.staff(globex, "hr@globex.example")
        ada = factories.learner(acme, "Ada Lovelace")
        ada.employee_id = "E001"  # an employee HR knows (the API changes employees only)
        bob = factories.learner(acme, "Bob Byron")
        gus = factories.learner(globex, "Gus Globex")
        endpoint, _secret = webhooks.create_endpoint(
            acme,
            webhooks.EndpointFields("http://127.0.0.1:9/hooks", "HR system", ["certificate.issued"]),
            staff_id=hr.id,
            ip_address=None,
        )
        enrolment = ready_for_quiz(ada)
        ready_for_quiz(gus)
        attempt = quizzes.start_attempt(enrolment, "en", random.Random(1))
        record_pass(enrolment)
        platform = add_platform(
            acme,
            PlatformFields(
                issuer="https://lms.acme.example",
                client_id="acme-client",
                deployment_ids=["1"],
                auth_login_url="https://lms.acme.example/auth",
                auth_token_url="https://lms.acme.example/token",
                key_set_url="https://lms.acme.example/jwks",
            ),
            actor="test",
        )
        tokens = {
            "acme_write": api_tokens.issue_token(
                acme, name="Workday", scope="write", expires_in=timedelta(days=30), actor="test"
            ),
            "acme_read": api_tokens.issue_token(
                acme, name="Warehouse", scope="read", expires_in=timedelta(days=30), actor="test"
            ),
            "acme_scim": api_tokens.issue_token(
                acme, name="Okta", scope="scim", expires_in=timedelta(days=30), actor="test"
            ),
            "globex_write": api_tokens.issue_token(
                globex, name="Globex HR", scope="write", expires_in=timedelta(days=30), actor="test"
            ),
            "globex_scim": api_tokens.issue_token(
                globex, name="Globex Okta", scope="scim", expires_in=timedelta(days=30), actor="test"
            ),
        }
        package = dispatch_packages.create_package(
            acme, dispatch_packages.PackageChoice(COURSE, "scorm12"), actor="test"
        )
        feed = sftp_settings.create_feed(
            acme,
            sftp_settings.FeedFields(
                "payroll", "127.0.0.1", "22", "acme", "password", "a password", "SHA256:" + "A" * 43,
                "inbox", "02:00", "UTC", "csv", "changes",
            ),
            staff_id=hr.id,
            ip_address=None,
        )  # fmt: skip
        pack = evidence.request_pack(hr, CompletionFilter(), ip_address=None)
        db.session.flush()
        certificate = db.session.scalar(select(Certificate).where(Certificate.user_id == ada.id))
        made = World(
            ids={
                "learner": ada.id,
                "enrolment": enrolment.id,
                "certificate": certificate.id,
                "staff": colleague.id,
                "pack": pack.id,
                "platform": platform.id,
                "attempt": attempt.id,
                "endpoint": endpoint.id,
                "delivery": db.session.scalar(select(WebhookDelivery.id)),
                "token": tokens["acme_read"].token.id,
                "package": package.id,
                "feed": feed.id,
            },
            people={"ada": ada.id, "bob": bob.id, "hr": hr.id, "auditor": auditor.id},
            secrets={name: issued.secret for name, issued in tokens.items()},
            certificate_code=certificate.code,
        )
        db.session.commit()
        outbox.run_worker(once=True)  # builds the evidence pack (the webhook's receiver is closed)
        return made


def staff_client(app: Flask, email: str) -> FormClient:
    client = FormClient(app)
    assert client.login(email, factories.PASSWORD).status_code == 302
    return client


def learner_client(app: Flask, user_id: int) -> FormClient:
    client = FormClient(app)
    sign_in_learner(client, user_id)
    return client


def database_fingerprint(app: Flask) -> dict[str, str]:
    """Each table's rows, hashed (but VOLATILE columns): a changed row, a new one or a deleted one
    changes its table's hash."""
    hashes = {}
    with app.app_context(), db.engine.connect() as connection:  # one connection: SQLite's is exclusive
        for table, query in _table_queries(connection).items():
            rows = connection.execute(query).all()
            hashes[table] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return hashes


_queries: dict[str, dict[str, Any]] = {}


def _table_queries(connection) -> dict[str, Any]:
    """A SELECT of each table's kept columns, read from the catalog once per database."""
    key = connection.engine.url.render_as_string()
    if key not in _queries:
        inspector = inspect(connection)
        queries = {}
        for table in sorted(inspector.get_table_names()):
            skipped = VOLATILE.get(table, set())
            if skipped is None or table == "alembic_version":
                continue
            columns = [c["name"] for c in inspector.get_columns(table) if c["name"] not in skipped]
            quoted = ", ".join(f'"{name}"' for name in columns)
            queries[table] = text(f'SELECT {quoted} FROM "{table}"')
        _queries[key] = queries
    return _queries[key]


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def bearer(app: Flask, secret: str | None) -> Any:
    """A client without cookies that sends a token (or nothing) as an HR system would."""
    return app.test_client(use_cookies=False), ({"Authorization": f"Bearer {secret}"} if secret else {})
