"""Staff single sign-on against a real OpenID Connect provider (node's oidc-provider on
127.0.0.1): authorization code flow with PKCE, state and nonce bound to the browser's session,
accounts matched by verified email within the tenant, every sign-in (ok or refused) audited."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from tests.helpers import FormClient, text_of
from tests.sso.conftest import (
    authorization_url,
    callback_url,
    connect,
    events,
    sign_in_with_sso,
    with_query,
)
from training_app.auth.models import SsoLoginState
from training_app.extensions import db
from training_app.models import StaffAccount


def signed_in_as(client: FormClient) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def test_a_staff_member_signs_in_with_the_provider_and_keeps_their_role(app, people, acme_sso):
    client = FormClient(app)
    acme_sso.login_as("okta-auditor-1", "Auditor@Acme.example")  # the provider's case differs
    url = authorization_url(client)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0]
    assert set(query["scope"][0].split()) == {"openid", "email", "profile"}
    assert query["redirect_uri"] == ["http://localhost/login/sso/acme/callback"]

    response = client.get(acme_sso.authorize(url, until="http://localhost/login/sso/"))

    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    assert signed_in_as(client).startswith(f"staff:{people['acme_auditor']}:")
    console = client.get("/console/")
    assert console.status_code == 200 and "Acme Corporation" in text_of(console)
    assert client.get("/console/staff").status_code == 200
    refused = client.post_form("/console/staff", {"email": "new@acme.example", "role": "auditor"})
    assert refused.status_code == 403  # an auditor stays an auditor: roles are the product's
    with app.app_context():
        assert db.session.get(StaffAccount, people["acme_auditor"]).role == "auditor"
        assert db.session.get(StaffAccount, people["acme_auditor"]).last_login_at is not None
        assert db.session.scalar(select(func.count()).select_from(SsoLoginState)) == 0  # used up
    [login] = events(app, "staff.login")
    assert login.tenant_id == people["acme"] and login.actor == f"staff:{people['acme_auditor']}"
    assert login.data == {"method": "sso", "issuer": acme_sso.issuer}


def test_claims_in_the_id_token_as_okta_and_entra_send_them(
    app, people, oidc_provider_with_claims_in_id_token
):
    provider = oidc_provider_with_claims_in_id_token
    connect(app, provider)
    client = FormClient(app)
    provider.login_as("entra-1", "hr@acme.example", email_verified=None, xms_edov=True)
    response = sign_in_with_sso(provider, client)
    assert response.status_code == 302, text_of(response)
    assert signed_in_as(client).startswith(f"staff:{people['acme_admin']}:")


def test_the_session_is_a_new_one_at_sign_in(app, people, acme_sso):
    """Session fixation: nothing planted in the session before sign-in survives it."""
    client = FormClient(app)
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["_user_id"] = "staff:999:0"
    acme_sso.login_as("okta-hr-1", "hr@acme.example")
    assert sign_in_with_sso(acme_sso, client).status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == f"staff:{people['acme_admin']}:0"
        assert session["signed_in_with"] == "sso"
        assert not [key for key in session if key.startswith("_state_")]


def test_signing_out_ends_the_single_sign_on_session_everywhere(app, people, acme_sso):
    client = FormClient(app)
    acme_sso.login_as("okta-hr-1", "hr@acme.example")
    assert sign_in_with_sso(acme_sso, client).status_code == 302
    with client.session_transaction() as session:
        copied = dict(session)
    assert client.submit("/console/", {}, action="/logout").status_code == 302
    thief = FormClient(app)
    with thief.session_transaction() as session:
        session.update(copied)
    assert thief.get("/console/").status_code == 302  # to the sign-in page (migration 0009)


def test_a_callback_in_another_browser_or_with_a_wrong_state_is_refused(app, people, acme_sso):
    client = FormClient(app)
    acme_sso.login_as("okta-hr-1", "hr@acme.example")
    callback = callback_url(acme_sso, client)

    other_browser = FormClient(app)
    refused = other_browser.get(callback)
    assert refused.status_code == 400
    assert "not started in this browser" in text_of(refused)
    assert signed_in_as(other_browser) is None

    wrong_state = client.get(with_query(callback, state="not-the-state"))
    assert wrong_state.status_code == 400 and signed_in_as(client) is None
    reasons = [event.data["reason"] for event in events(app, "staff.sso_refused", people["acme"])]
    assert reasons == ["state not recognised", "state not recognised"]
    assert events(app, "staff.login") == []


def test_a_replayed_code_signs_no_one_in(app, people, acme_sso):
    client = FormClient(app)
    acme_sso.login_as("okta-hr-1", "hr@acme.example")
    callback = callback_url(acme_sso, client)
    assert client.get(callback).status_code == 302  # signed in once
    assert client.submit("/console/", {}, action="/logout").status_code == 302

    again = client.get(callback)  # the same URL: its state was used up
    assert again.status_code == 400 and signed_in_as(client) is None

    code = parse_qs(urlsplit(callback).query)["code"][0]
    state = parse_qs(urlsplit(authorization_url(client)).query)["state"][0]  # a fresh sign-in
    with_fresh_state = client.get(with_query(callback, code=code, state=state))
    assert with_fresh_state.status_code == 400  # the provider refuses the used code
    assert "did not sign you in (invalid_grant)" in text_of(with_fresh_state)
    assert signed_in_as(client) is None
    reasons = [event.data["reason"] for event in events(app, "staff.sso_refused")]
    assert reasons == ["state not recognised", "provider refused: invalid_grant"]
    assert len(events(app, "staff.login")) == 1


def test_an_id_token_with_another_nonce_is_refused(app, people, acme_sso):
    client = FormClient(app)
    acme_sso.login_as("okta-hr-1", "hr@acme.example")
    another_nonce = lambda url: with_query(url, nonce="an-attackers-nonce")  # noqa: E731
    response = sign_in_with_sso(acme_sso, client, tamper=another_nonce)
    assert response.status_code == 400
    assert "did not check out" in text_of(response)
    assert signed_in_as(client) is None
    [refusal] = events(app, "staff.sso_refused", people["acme"])
    assert refusal.data["reason"] == "id token invalid: Invalid claim: 'nonce'"


def test_an_unknown_email_is_refused_with_a_clear_page_and_no_account_is_created(app, people, acme_sso):
    client = FormClient(app)
    acme_sso.login_as("okta-new-1", "newcomer@acme.example")
    response = sign_in_with_sso(acme_sso, client)
    assert response.status_code == 403
    page = text_of(response)
    assert "There is no staff account for newcomer@acme.example at Acme Corporation" in page
    assert "single sign-on does not create accounts" in page
    assert signed_in_as(client) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffAccount)) == 3
    [refusal] = events(app, "staff.sso_refused", people["acme"])
    assert refusal.actor == "anonymous"
    assert refusal.data == {"method": "sso", "reason": "unknown email", "email": "newcomer@acme.example"}


def test_an_unverified_email_is_refused(app, people, acme_sso):
    client = FormClient(app)
    acme_sso.login_as("okta-hr-1", "hr@acme.example", email_verified=False, xms_edov=True)
    response = sign_in_with_sso(acme_sso, client)
    assert response.status_code == 403 and "is not verified" in text_of(response)
    assert signed_in_as(client) is None
    acme_sso.login_as("okta-hr-2", "hr@acme.example", email_verified=None)  # no claim at all
    assert sign_in_with_sso(acme_sso, FormClient(app)).status_code == 403
    reasons = [event.data["reason"] for event in events(app, "staff.sso_refused", people["acme"])]
    assert reasons == ["email not verified", "email not verified"]


def test_another_tenants_staff_email_is_unknown_here(app, people, acme_sso):
    client = FormClient(app)
    acme_sso.login_as("okta-globex-1", "hr@globex.example")
    response = sign_in_with_sso(acme_sso, client)
    assert response.status_code == 403
    assert "no staff account for hr@globex.example at Acme Corporation" in text_of(response)
    assert "Globex" not in text_of(response)
    assert signed_in_as(client) is None
    assert len(events(app, "staff.sso_refused", people["acme"])) == 1
    assert events(app, "staff.sso_refused", people["globex"]) == []


def test_a_state_started_for_one_tenant_does_not_work_at_anothers_callback(app, people, acme_sso):
    connect(app, acme_sso, "globex")
    client = FormClient(app)
    acme_sso.login_as("okta-globex-1", "hr@globex.example")
    callback = callback_url(acme_sso, client, "acme")
    at_globex = client.get(callback.replace("/login/sso/acme/", "/login/sso/globex/"))
    assert at_globex.status_code == 400 and signed_in_as(client) is None


def test_the_allowed_email_domain_and_deactivated_accounts(app, people, oidc_provider):
    connect(app, oidc_provider, allowed_email_domain="acme.com")
    oidc_provider.login_as("okta-hr-1", "hr@acme.example")
    response = sign_in_with_sso(oidc_provider, FormClient(app))
    assert response.status_code == 403 and "acme.com addresses only" in text_of(response)
    connect(app, oidc_provider, allowed_email_domain="acme.example")
    with app.app_context():
        db.session.get(StaffAccount, people["acme_admin"]).active = False
        db.session.commit()
    response = sign_in_with_sso(oidc_provider, FormClient(app))
    assert response.status_code == 403 and "deactivated" in text_of(response)
    reasons = [event.data["reason"] for event in events(app, "staff.sso_refused", people["acme"])]
    assert reasons == ["email domain not allowed", "account deactivated"]


def test_the_callback_is_rate_limited(app, people, acme_sso):
    app.config["SSO_RATE_LIMIT"] = "3 per minute"
    client = FormClient(app)
    statuses = [client.get("/login/sso/acme/callback?code=x&state=y").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


def test_the_tenants_sign_in_page_offers_its_provider(app, people, acme_sso):
    page = FormClient(app).get("/login/sso/acme")
    assert page.status_code == 200
    assert "Sign in with Test IdP" in text_of(page)
    assert "/login/sso/acme/start" in page.get_data(as_text=True)
    assert FormClient(app).get("/login/sso/globex").status_code == 404  # no single sign-on there
    assert FormClient(app).get("/login/sso/nowhere").status_code == 404


def test_after_sign_in_the_browser_goes_where_it_was_going(app, people, acme_sso):
    client = FormClient(app)
    acme_sso.login_as("okta-hr-1", "hr@acme.example")
    start = client.get("/login/sso/acme/start?next=/console/staff")
    callback = acme_sso.authorize(start.headers["Location"], until="http://localhost/login/sso/")
    assert client.get(callback).headers["Location"] == "/console/staff"
    client.submit("/console/", {}, action="/logout")
    start = client.get("/login/sso/acme/start?next=//evil.example/")
    callback = acme_sso.authorize(start.headers["Location"], until="http://localhost/login/sso/")
    assert client.get(callback).headers["Location"] == "/console/"


def test_the_password_page_offers_the_provider_this_browser_last_signed_in_with(app, people, acme_sso):
    client = FormClient(app)
    assert "Sign in with Test IdP" not in text_of(client.get("/login"))
    acme_sso.login_as("okta-hr-1", "hr@acme.example")
    signed_in = sign_in_with_sso(acme_sso, client)
    assert "sso_organisation=acme" in signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in signed_in.headers["Set-Cookie"]
    client.submit("/console/", {}, action="/logout")
    page = client.get("/login")
    assert "Sign in with Test IdP" in text_of(page) and "Acme Corporation" in text_of(page)
    assert 'href="/login/sso/acme/start"' in page.get_data(as_text=True)
    stranger = FormClient(app)
    stranger.set_cookie("sso_organisation", "globex")  # an organisation without single sign-on
    assert "Sign in with" not in text_of(stranger.get("/login"))
