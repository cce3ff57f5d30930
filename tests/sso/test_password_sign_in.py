"""Password sign-in turned off for a tenant: its staff are sent to single sign-on, other tenants
are unaffected, and an operator's command turns passwords back on when the provider is down."""

from __future__ import annotations

from tests import factories
from tests.helpers import FormClient, text_of
from tests.oidc_provider import CLIENT_ID
from tests.sso.conftest import events, sign_in_with_sso
from training_app.auth.models import SsoConnection
from training_app.extensions import db


def turn_passwords_off(app, provider) -> FormClient:
    """As an HR administrator would: sign in with single sign-on, then untick password sign-in."""
    hr = FormClient(app)
    provider.login_as("okta-hr-1", "hr@acme.example")
    assert sign_in_with_sso(provider, hr).status_code == 302
    saved = hr.submit(
        "/console/sso",
        {"provider_name": "Test IdP", "issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": ""},
    )
    assert saved.status_code == 303, text_of(saved)
    return hr


def test_password_sign_in_off_sends_the_tenants_staff_to_single_sign_on(app, people, acme_sso):
    turn_passwords_off(app, acme_sso)
    with app.app_context():
        assert db.session.get(SsoConnection, people["acme"]).password_sign_in is False
    [change] = events(app, "sso.changed", people["acme"])
    assert change.data == {"changed": ["password_sign_in"], "password_sign_in": False}

    client = FormClient(app)
    refused = client.login("auditor@acme.example", factories.PASSWORD)
    assert refused.status_code == 403
    assert "Acme Corporation signs in with Test IdP, not with a password." in text_of(refused)
    assert 'href="/login/sso/acme"' in refused.get_data(as_text=True)
    assert client.get("/console/").status_code == 302  # not signed in
    failed = events(app, "staff.sign_in_failed", people["acme"])
    assert [e.data["reason"] for e in failed] == ["password sign-in is off: single sign-on only"]

    wrong = client.login("auditor@acme.example", "not the password")
    assert wrong.status_code == 401  # a wrong password learns nothing about single sign-on
    assert "Test IdP" not in text_of(wrong)
    other_tenant = FormClient(app).login("hr@globex.example", factories.PASSWORD)
    assert other_tenant.status_code == 302  # other tenants are unaffected
    sso_page = client.get("/login/sso/acme")
    assert "Sign in with Test IdP" in text_of(sso_page)
    assert "email and password instead" not in text_of(sso_page)


def test_only_someone_signed_in_with_single_sign_on_may_turn_passwords_off(app, people, acme_sso):
    hr = FormClient(app)
    assert hr.login("hr@acme.example", factories.PASSWORD).status_code == 302
    refused = hr.submit(
        "/console/sso",
        {"provider_name": "Test IdP", "issuer": acme_sso.issuer, "client_id": CLIENT_ID, "client_secret": ""},
    )
    assert refused.status_code == 422
    assert "before turning password sign-in off" in text_of(refused)
    with app.app_context():
        assert db.session.get(SsoConnection, people["acme"]).password_sign_in is True


def test_break_glass_turns_passwords_back_on_and_resets_one_password(app, people, acme_sso):
    turn_passwords_off(app, acme_sso)
    result = app.test_cli_runner().invoke(
        args=["sso", "allow-passwords", "--tenant", "acme", "--reset-password-for", "hr@acme.example"]
    )
    assert result.exit_code == 0, result.output
    assert "Password sign-in is on for acme" in result.output
    new_password = result.output.split("(shown once): ")[1].split()[0]
    with app.app_context():
        assert db.session.get(SsoConnection, people["acme"]).password_sign_in is True
    assert FormClient(app).login("hr@acme.example", factories.PASSWORD).status_code == 401  # the old one
    assert FormClient(app).login("hr@acme.example", new_password).status_code == 302
    assert FormClient(app).login("auditor@acme.example", factories.PASSWORD).status_code == 302
    [reset] = events(app, "staff.password_reset", people["acme"])
    assert reset.actor == "cli" and reset.data == {"reason": "break-glass"}
    assert events(app, "sso.changed", people["acme"])[-1].data["reason"] == "break-glass"


def test_break_glass_names_what_is_wrong(app, people, acme_sso):
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["sso", "allow-passwords", "--tenant", "nowhere"])
    assert unknown.exit_code != 0 and "There is no tenant 'nowhere'" in unknown.output
    nobody = runner.invoke(
        args=["sso", "allow-passwords", "--tenant", "acme", "--reset-password-for", "x@acme.example"]
    )
    assert nobody.exit_code != 0 and "x@acme.example has no staff account in acme" in nobody.output
    assert FormClient(app).login("hr@acme.example", factories.PASSWORD).status_code == 302  # unchanged
    status = runner.invoke(args=["sso", "status", "--tenant", "acme"])
    assert "password sign-in: on" in status.output
    assert "http://localhost/login/sso/acme/callback" in status.output
