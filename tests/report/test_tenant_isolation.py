"""Staff of one organisation get 404 for every console URL that names another organisation's
object, and a learner for every learner URL that names another learner's: each route with an id
in its path is tried with the other tenant's id (a new route whose id this test does not know
fails it, so it is never left untried)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy import func, select

from certificates.models import Certificate
from certificates.services import revoke
from dispatch import packages as dispatch_packages
from feeds import sftp_settings
from lti.services.platforms import PlatformFields, add_platform
from quizzes import services as quizzes
from reports.models import EvidencePack
from tests import factories
from tests.helpers import FormClient, sign_in_learner
from tests.journeys import COURSE, ready_for_quiz, record_pass
from training_app import api_tokens
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant, User
from webhooks import services as webhooks
from webhooks.models import WebhookDelivery

# the console's and the learner's routes whose path names an object; their ids come from `other`
OBJECT_ARGUMENTS = {
    "user_id",
    "enrolment_id",
    "certificate_id",
    "staff_id",
    "pack_id",
    "platform_id",
    "attempt_id",
    "endpoint_id",
    "delivery_id",
    "token_id",
    "package_id",
    "feed_id",
}
PREFIXES = ("/console/", "/certificates/", "/quiz/attempts/")


@pytest.fixture
def other(app, published):
    """Globex's objects, one of each kind; Acme's HR administrator and learner, who must not see them."""
    with app.app_context():
        acme, globex = factories.tenant("acme"), factories.tenant("globex", "Globex")
        factories.staff(acme, "hr@acme.example")
        acme_learner = factories.learner(acme, "Ada Lovelace")
        colleague = factories.staff(globex, "hr@globex.example")
        gus = factories.learner(globex, "Gus Globex")
        enrolment = ready_for_quiz(gus)
        attempt = quizzes.start_attempt(enrolment, "en", random.Random(1))
        record_pass(enrolment)
        platform = add_platform(
            globex,
            PlatformFields(
                issuer="https://lms.globex.example",
                client_id="globex-client",
                deployment_ids=["1"],
                auth_login_url="https://lms.globex.example/auth",
                auth_token_url="https://lms.globex.example/token",
                key_set_url="https://lms.globex.example/jwks",
            ),
            actor="test",
        )
        token = api_tokens.issue_token(
            globex, name="Globex HR", scope="write", expires_in=timedelta(days=30), actor="test"
        ).token
        package = dispatch_packages.create_package(
            globex, dispatch_packages.PackageChoice(COURSE, "scorm12"), actor="test"
        )
        pack = EvidencePack(tenant_id=globex.id, filters={}, status="done")
        db.session.add(pack)
        endpoint, _secret = webhooks.create_endpoint(
            globex,
            webhooks.EndpointFields("http://127.0.0.1:9/hooks", "", ["certificate.revoked"]),
            staff_id=colleague.id,
            ip_address=None,
        )
        feed = sftp_settings.create_feed(
            globex,
            sftp_settings.FeedFields(
                "payroll", "127.0.0.1", "22", "globex", "password", "a password", "SHA256:" + "A" * 43,
                "inbox", "02:00", "UTC", "csv", "changes",
            ),
            staff_id=colleague.id,
            ip_address=None,
        )  # fmt: skip
        db.session.flush()
        certificate = db.session.scalar(select(Certificate).where(Certificate.user_id == gus.id))
        revoke(certificate, staff_id=colleague.id, reason="a delivery to look at", ip_address=None)
        ids = {
            "user_id": gus.id,
            "enrolment_id": enrolment.id,
            "certificate_id": certificate.id,
            "staff_id": colleague.id,
            "pack_id": pack.id,
            "platform_id": platform.id,
            "attempt_id": attempt.id,
            "endpoint_id": endpoint.id,
            "delivery_id": db.session.scalar(select(WebhookDelivery.id)),
            "token_id": token.id,
            "package_id": package.id,
            "feed_id": feed.id,
        }
        db.session.commit()
        return {"ids": ids, "acme_learner": acme_learner.id, "globex": globex.id}


def routes_naming_objects(app) -> list[tuple[str, str, str]]:
    """(path with the other tenant's ids to fill in, method, endpoint) for every such route."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIXES) or not rule.arguments:
            continue
        unknown = rule.arguments - OBJECT_ARGUMENTS - {"fmt"}
        assert not unknown, f"{rule.rule}: teach this test the ids {unknown}"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, rule.endpoint))
    return found


def url_for_other(app, rule: str, endpoint: str, ids: dict[str, int]) -> str:
    with app.test_request_context():
        arguments = {name: ids[name] for name in ids if f":{name}>" in rule}
        return url_for(endpoint, **arguments)


def globex_events(app, globex: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.tenant_id == globex)
        )


def test_every_console_and_learner_url_naming_another_tenants_object_is_a_404(app, other):
    hr = FormClient(app)
    assert hr.login("hr@acme.example", factories.PASSWORD).status_code == 302
    learner = FormClient(app)
    sign_in_learner(learner, other["acme_learner"])
    before = globex_events(app, other["globex"])
    tried = []
    for rule, method, endpoint in routes_naming_objects(app):
        if "<" not in rule.replace("<any(csv, xlsx, jsonl):fmt>", ""):
            continue  # an export names no object: tenant scoping is tested with the exports
        url = url_for_other(app, rule, endpoint, other["ids"])
        client = hr if rule.startswith("/console/") else learner
        form = {
            "reason": "not yours",
            "confirm": "y",
            "role": "auditor",
            "action": "role",
            "deployment_id": "9",
            "grace_hours": "1",
            "url": "http://127.0.0.1:9/stolen",
            "event_types": "certificate.issued",
            "name": "stolen",
            "host": "127.0.0.1",
            "host_key_fingerprint": "SHA256:" + "B" * 43,
        }
        response = client.get(url) if method == "GET" else client.post_form(url, form)
        assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
        tried.append(endpoint)
    assert len(set(tried)) >= 30, sorted(set(tried))  # the console's and the learner's id routes
    assert globex_events(app, other["globex"]) == before  # nothing was written in Globex


def test_scim_with_one_tenants_token_never_reaches_another_tenants_people(app, other):
    """SCIM (/scim/v2) names people by id in its one catch-all route: every method it accepts is
    tried on Globex's learner with Acme's token, and searches never list them."""
    with app.app_context():
        acme = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        issued = api_tokens.issue_token(
            acme, name="Okta", scope="scim", expires_in=timedelta(days=1), actor="test"
        )
        db.session.commit()
    client = app.test_client(use_cookies=False)
    headers = {"Authorization": f"Bearer {issued.secret}", "Content-Type": "application/scim+json"}
    gus = other["ids"]["user_id"]
    user = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": str(gus),
        "userName": "gus@globex.example",
        "displayName": "Not Yours",
        "active": False,
        "emails": [{"value": "gus@globex.example", "type": "work"}],
    }
    bodies = {
        "PUT": user,
        "PATCH": {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
    }
    before = globex_events(app, other["globex"])
    methods = {
        method
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/scim/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert {"GET", "PUT", "PATCH", "DELETE", "POST"} <= methods
    for method in sorted(methods):
        response = client.open(
            f"/scim/v2/Users/{gus}", method=method, json=bodies.get(method), headers=headers
        )
        expected = 405 if method == "POST" else 404  # no POST on a User: RFC 7644 §3.2
        assert response.status_code == expected, f"{method} answered {response.status_code}"
    listed = client.get(
        "/scim/v2/Users", query_string={"filter": 'emails.value co "globex"'}, headers=headers
    ).get_json()
    assert listed["totalResults"] == 0
    assert client.get("/scim/v2/Users", headers=headers).get_json()["totalResults"] == 1  # Acme's Ada
    assert globex_events(app, other["globex"]) == before
    with app.app_context():
        assert db.session.get(User, gus).end_date is None and db.session.get(User, gus).name == "Gus Globex"
