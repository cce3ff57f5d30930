"""Staff sessions end when they should: at sign-out (a copied cookie too), deactivation, a new role
or a new password; sign-in starts a fresh session with a new CSRF token; passwords follow a policy;
an email names one account per organisation, and nothing of another organisation shows."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.helpers import FormClient, csrf_from, text_of
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import AuditEvent, StaffAccount

NEW_PASSWORD = "violet lantern orbit pebble"


@pytest.fixture
def people(app):
    with app.app_context():
        return {k: getattr(v, "id", v) for k, v in factories.two_tenants_with_staff().items()}


def session_cookie(client: FormClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def replay(app, cookie: str, path: str = "/console/learners") -> int:
    """The status a second browser holding a copy of `cookie` gets for `path`."""
    other = FormClient(app)
    other.set_cookie("session", cookie)
    return other.get(path).status_code


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, client, people):
    client.login("hr@acme.example", factories.PASSWORD)
    captured = session_cookie(client)
    assert replay(app, captured) == 200
    client.submit("/console/", {}, action="/logout")
    assert replay(app, captured) == 302  # to the sign-in page


def test_sign_in_starts_a_new_session_with_a_new_csrf_token(app, client, people):
    before = csrf_from(client.get("/login").get_data(as_text=True))
    with client.session_transaction() as session:
        session["planted"] = "by someone who set the cookie before sign-in"
    client.login("hr@acme.example", factories.PASSWORD)
    after = csrf_from(client.get("/console/staff").get_data(as_text=True))
    assert after != before
    with client.session_transaction() as session:
        assert "planted" not in session
    refused = client.post("/logout", data={"csrf_token": before})
    assert refused.status_code == 400  # the pre-sign-in token no longer works


@pytest.mark.parametrize(("action", "extra"), [("deactivate", {}), ("role", {"role": "auditor"})])
def test_deactivation_and_a_new_role_end_the_colleagues_sessions(app, client, people, action, extra):
    colleague = FormClient(app)
    colleague.login("hr@acme.example", factories.PASSWORD)
    with app.app_context():
        second = factories.staff(find_tenant("acme"), "boss@acme.example")
        db.session.commit()
        second_id, target = second.id, people["acme_admin"]
    client.login("boss@acme.example", factories.PASSWORD)
    changed = client.submit("/console/staff", {"action": action, **extra}, action=f"/console/staff/{target}")
    assert changed.status_code == 303, text_of(changed)
    assert colleague.get("/console/learners").status_code == 302
    with app.app_context():
        account = db.session.get(StaffAccount, target)
        assert (account.active, account.role) == (
            (False, "hr_admin") if action == "deactivate" else (True, "auditor")
        )
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.changed"))
        assert event.actor == f"staff:{second_id}"


def test_nobody_changes_their_own_role_and_auditors_change_nobody(app, client, people):
    client.login("hr@acme.example", factories.PASSWORD)
    own = client.submit(
        "/console/staff", {"action": "deactivate"}, action=f"/console/staff/{people['acme_admin']}"
    )
    assert own.status_code == 403
    auditor = FormClient(app)
    auditor.login("auditor@acme.example", factories.PASSWORD)
    refused = auditor.submit(
        "/console/staff", {"action": "deactivate"}, action=f"/console/staff/{people['acme_admin']}"
    )
    assert refused.status_code == 403
    other_tenant = client.submit(
        "/console/staff", {"action": "deactivate"}, action=f"/console/staff/{people['globex_admin']}"
    )
    assert other_tenant.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(StaffAccount.active.is_(False))) == 0


def test_a_password_change_keeps_this_session_and_ends_the_others(app, client, people):
    other = FormClient(app)
    other.login("hr@acme.example", factories.PASSWORD)
    client.login("hr@acme.example", factories.PASSWORD)
    changed = client.submit(
        "/account/password",
        {
            "current_password": factories.PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 303
    assert client.get("/console/learners").status_code == 200
    assert other.get("/console/learners").status_code == 302
    fresh = FormClient(app)
    assert fresh.login("hr@acme.example", factories.PASSWORD).status_code == 401
    assert fresh.login("hr@acme.example", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("new", "words"),
    [
        ("short", "at least 12 characters"),
        ("password1234", "too easy to guess"),
        ("qwertyuiop123", "too easy to guess"),
        ("hr@acme.example", "too easy to guess"),
    ],
)
def test_a_weak_new_password_is_refused_with_a_clear_message(app, client, people, new, words):
    client.login("hr@acme.example", factories.PASSWORD)
    refused = client.submit(
        "/account/password",
        {"current_password": factories.PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert refused.status_code == 422 and words in text_of(refused)
    assert FormClient(app).login("hr@acme.example", factories.PASSWORD).status_code == 302


def test_a_wrong_current_password_changes_nothing(app, client, people):
    client.login("hr@acme.example", factories.PASSWORD)
    refused = client.submit(
        "/account/password",
        {
            "current_password": "not the password",
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert refused.status_code == 422 and "current password is not right" in text_of(refused)
    assert client.get("/console/").status_code == 200


def test_adding_a_colleague_whose_email_another_organisation_uses_reveals_nothing(app, client, people):
    client.login("hr@acme.example", factories.PASSWORD)
    created = client.submit(
        "/console/staff", {"email": "hr@globex.example", "name": "Sam", "role": "auditor"}
    )
    assert created.status_code == 201  # their own account in acme; globex's is not mentioned
    assert "globex" not in re.sub(r"hr@globex\.example", "", text_of(created).lower())
    again = client.submit("/console/staff", {"email": "hr@globex.example", "name": "Sam", "role": "auditor"})
    assert again.status_code == 409 and "already has a staff account in this organisation" in text_of(again)


def test_one_person_with_accounts_in_two_organisations_chooses_where_to_sign_in(app, client, people):
    with app.app_context():
        factories.staff(find_tenant("globex"), "hr@acme.example", "auditor")
        db.session.commit()
    page = client.login("hr@acme.example", factories.PASSWORD)
    assert page.status_code == 200 and "Choose the organisation" in text_of(page)
    assert "Globex Industries" in text_of(page) and "Acme Corporation" in text_of(page)
    chosen = client.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": "hr@acme.example",
            "password": factories.PASSWORD,
            "organisation": "globex",
        },
    )
    assert chosen.status_code == 302
    assert "Globex Industries" in text_of(client.get("/console/"))
