import re

import pytest
from sqlalchemy import select

from tests import factories
from tests.helpers import text_of
from training_app.extensions import db
from training_app.models import AuditEvent, StaffAccount


@pytest.fixture
def people(app):
    with app.app_context():
        return {k: getattr(v, "id", v) for k, v in factories.two_tenants_with_staff().items()}


def test_staff_sign_in_and_out(client, people, app):
    response = client.login("hr@acme.example", factories.PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    console = client.get("/console/")
    assert console.status_code == 200 and "Acme Corporation" in text_of(console)
    with app.app_context():
        account = db.session.get(StaffAccount, people["acme_admin"])
        assert account.last_login_at is not None
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "staff.login"))
    signed_out = client.submit("/console/", {}, action="/logout")
    assert signed_out.status_code == 302
    assert client.get("/console/").status_code == 302


def test_a_deactivated_staff_member_is_signed_out(client, people, app):
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    assert client.get("/console/").status_code == 200
    with app.app_context():
        db.session.get(StaffAccount, people["acme_admin"]).active = False
        db.session.commit()
    assert client.get("/console/").status_code == 302  # to the sign-in page


def test_wrong_password_and_unknown_email_get_the_same_clear_message(client, people):
    for email, password in [("hr@acme.example", "wrong password!"), ("nobody@acme.example", "whatever12345")]:
        response = client.login(email, password)
        assert response.status_code == 401
        assert "The email or password is not right" in text_of(response)


def test_a_wrong_password_is_recorded_in_the_accounts_audit_log_and_an_unknown_email_nowhere(
    client, people, app
):
    assert client.login("hr@acme.example", "not the password").status_code == 401
    assert client.login("nobody@acme.example", "not the password").status_code == 401
    with app.app_context():
        failed = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "staff.sign_in_failed")
        ).all()
    assert [(e.tenant_id, e.subject_id, e.actor) for e in failed] == [
        (people["acme"], str(people["acme_admin"]), "anonymous")
    ]
    assert failed[0].ip_address and failed[0].data == {"reason": "wrong password"}
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    assert "staff.sign_in_failed" in text_of(client.get("/console/audit"))


def test_a_form_without_its_csrf_token_is_refused(client, people):
    response = client.post("/login", data={"email": "hr@acme.example", "password": factories.PASSWORD})
    assert response.status_code == 400
    assert "This form expired or was sent from another site" in text_of(response)
    assert client.get("/console/").status_code == 302  # not signed in


def test_failed_sign_ins_are_rate_limited_with_a_clear_429(client, people):
    for _ in range(5):
        assert client.login("hr@acme.example", "wrong password!").status_code == 401
    blocked = client.login("hr@acme.example", "wrong password!")
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in text_of(blocked)
    assert "Retry-After" in blocked.headers
    # Even the right password waits out the limit.
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 429


def test_successful_sign_ins_do_not_count_towards_the_limit(client, people):
    for _ in range(8):
        assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302


def test_session_cookie_is_http_only(client, people):
    response = client.login("hr@acme.example", factories.PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie


def test_production_cookies_are_secure_and_usable_in_an_lms_iframe(app):
    from training_app.config import ProductionConfig

    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    assert ProductionConfig.SESSION_COOKIE_SAMESITE == "None"
    assert ProductionConfig.SESSION_COOKIE_PARTITIONED is True


def test_auditor_can_read_but_not_change(client, people):
    client.login("auditor@acme.example", factories.PASSWORD)
    page = client.get("/console/staff")
    assert page.status_code == 200 and "Add a colleague" not in text_of(page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', text_of(page)).group(1)
    refused = client.post(
        "/console/staff",
        data={"csrf_token": token, "email": "x@acme.example", "name": "X", "role": "auditor"},
    )
    assert refused.status_code == 403
    assert "can view but not change" in text_of(refused)


def test_hr_admin_adds_a_colleague_who_can_then_sign_in(client, people, app):
    client.login("hr@acme.example", factories.PASSWORD)
    created = client.submit(
        "/console/staff", {"email": "new@acme.example", "name": "New Person", "role": "auditor"}
    )
    assert created.status_code == 201
    password = re.search(r"<code>([^<]+)</code>", text_of(created)).group(1)
    client.submit("/console/", {}, action="/logout")
    assert client.login("new@acme.example", password).status_code == 302


def test_staff_never_see_another_tenants_data(client, people, app):
    client.login("hr@globex.example", factories.PASSWORD)
    staff_page = text_of(client.get("/console/staff"))
    assert "hr@globex.example" in staff_page
    assert "acme.example" not in staff_page
    console = text_of(client.get("/console/"))
    assert "Globex Industries" in console and "Acme" not in console
    audit_page = text_of(client.get("/console/audit"))
    assert "staff.login" in audit_page
    with app.app_context():
        acme_events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == people["acme"])
        ).all()
    for event in acme_events:
        assert event.hash[:12] not in audit_page


def test_console_requires_sign_in(client, people):
    response = client.get("/console/audit")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/console/audit")


def test_next_parameter_cannot_redirect_off_site(client, people):
    page = client.get("/login?next=//evil.example/")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text_of(page)).group(1)
    response = client.post(
        "/login?next=//evil.example/",
        data={"csrf_token": token, "email": "hr@acme.example", "password": factories.PASSWORD},
    )
    assert response.headers["Location"] == "/console/"
