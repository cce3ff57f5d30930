"""The console's single sign-on page: the redirect URI to register, saving only what discovery
confirms, changes audited, each tenant's own connection, and only HR administrators change it."""

from __future__ import annotations

from sqlalchemy import func, select

from tests import factories
from tests.helpers import FormClient, text_of
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET
from tests.sso.conftest import connect, events
from training_app.auth import sso
from training_app.auth.models import SsoConnection
from training_app.extensions import db
from training_app.models import AuditEvent


def hr_of(app, email: str = "hr@acme.example") -> FormClient:
    client = FormClient(app)
    assert client.login(email, factories.PASSWORD).status_code == 302
    return client


def form(provider, **changes) -> dict[str, str]:
    values = {
        "provider_name": "Okta",
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "allowed_email_domain": "",
        "password_sign_in": "y",
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def connections(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SsoConnection))


def test_the_page_shows_the_exact_redirect_uri_to_register(app, people):
    page = hr_of(app).get("/console/sso")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<code id="sso-redirect-uri">http://localhost/login/sso/acme/callback</code>' in html
    assert '<code id="sso-sign-in-url">http://localhost/login/sso/acme</code>' in html
    assert "Single sign-on is off" in text_of(page)
    assert 'href="/console/sso"' in html  # the console's navigation links to it


def test_saving_checks_discovery_and_keeps_the_secret_encrypted_and_unshown(app, people, oidc_provider):
    hr = hr_of(app)
    saved = hr.submit("/console/sso", form(oidc_provider, allowed_email_domain="@Acme.Example"))
    assert saved.status_code == 303, text_of(saved)
    page = hr.get("/console/sso")
    assert "Single sign-on is saved" in text_of(page)
    assert CLIENT_SECRET not in page.get_data(as_text=True)
    assert "never shown again" in text_of(page)
    with app.app_context():
        connection = db.session.get(SsoConnection, people["acme"])
        assert (connection.provider_name, connection.issuer, connection.client_id) == (
            "Okta",
            oidc_provider.issuer,
            CLIENT_ID,
        )
        assert connection.allowed_email_domain == "acme.example"
        assert CLIENT_SECRET not in connection.client_secret_sealed
        assert sso.client_secret(connection) == CLIENT_SECRET
    [configured] = events(app, "sso.configured", people["acme"])
    assert configured.actor == f"staff:{people['acme_admin']}"
    assert "client_secret" in configured.data["changed"] and CLIENT_SECRET not in str(configured.data)

    # An empty secret keeps the saved one; a change is an event naming what changed.
    kept_secret = hr.submit("/console/sso", form(oidc_provider, client_secret="", client_id="other"))
    assert kept_secret.status_code == 303
    with app.app_context():
        connection = db.session.get(SsoConnection, people["acme"])
        assert connection.client_id == "other" and sso.client_secret(connection) == CLIENT_SECRET
    [changed] = events(app, "sso.changed", people["acme"])
    assert changed.data == {
        "changed": ["client_id", "allowed_email_domain"],
        "client_id": "other",
        "allowed_email_domain": None,
    }


def test_a_bad_issuer_is_refused_with_a_clear_error_and_nothing_is_saved(app, people, oidc_provider):
    hr = hr_of(app)
    cases = {
        oidc_provider.issuer + "/nowhere": "answered 404",
        "http://10.1.2.3": "not an address this service may connect to",
        "ftp://idp.example": "not an absolute https URL",
        "http://127.0.0.1:9": "could not be reached",
    }
    for issuer, message in cases.items():
        response = hr.submit("/console/sso", form(oidc_provider, issuer=issuer))
        assert response.status_code == 422, issuer
        page = text_of(response)
        assert message in page, (issuer, page[:2000])
        assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert connections(app) == 0
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("sso.%"))
            )
            == 0
        )


def test_an_issuer_that_names_itself_differently_is_refused(make_app, people, oidc_provider):
    app = make_app(OUTBOUND_ALLOWED_HOSTS=["127.0.0.1", "localhost"])
    issuer = oidc_provider.issuer.replace("127.0.0.1", "localhost")  # the same server, another name
    response = hr_of(app).submit("/console/sso", form(oidc_provider, issuer=issuer))
    assert response.status_code == 422
    assert f"The provider calls itself {oidc_provider.issuer}, not {issuer}" in text_of(response)
    assert connections(app) == 0


def test_missing_fields_are_named(app, people, oidc_provider):
    response = hr_of(app).submit("/console/sso", form(oidc_provider, client_secret="", client_id=""))
    assert response.status_code == 422
    assert connections(app) == 0


def test_only_hr_administrators_change_it_and_auditors_see_no_form(app, people, oidc_provider):
    auditor = hr_of(app, "auditor@acme.example")
    page = auditor.get("/console/sso")
    assert page.status_code == 200 and "An HR administrator can change single sign-on" in text_of(page)
    assert auditor.post_form("/console/sso", form(oidc_provider)).status_code == 403
    assert auditor.post_form("/console/sso/remove", {"confirm": "y"}).status_code == 403
    assert connections(app) == 0
    assert FormClient(app).get("/console/sso").status_code == 302  # to the sign-in page


def test_each_tenant_sees_and_changes_only_its_own_connection(app, people, oidc_provider):
    connect(app, oidc_provider, "globex", provider_name="Globex Entra", client_id="globex-client")
    hr = hr_of(app)
    page = hr.get("/console/sso")
    assert "globex-client" not in page.get_data(as_text=True) and "Globex Entra" not in text_of(page)
    assert "Single sign-on is off" in text_of(page)
    assert hr.submit("/console/sso", form(oidc_provider, client_id="acme-client")).status_code == 303
    assert hr.submit("/console/sso", {"confirm": "y"}, action="/console/sso/remove").status_code == 303
    with app.app_context():
        globex = db.session.get(SsoConnection, people["globex"])
        assert (globex.client_id, globex.provider_name) == ("globex-client", "Globex Entra")
        assert db.session.get(SsoConnection, people["acme"]) is None
    assert [e.action for e in events(app, "sso.removed")] == ["sso.removed"]
    assert events(app, "sso.removed", people["globex"]) == []
    globex_hr = hr_of(app, "hr@globex.example")
    assert "globex-client" in globex_hr.get("/console/sso").get_data(as_text=True)


def test_turning_single_sign_on_off_needs_the_confirmation(app, people, oidc_provider):
    connect(app, oidc_provider)
    hr = hr_of(app)
    refused = hr.submit("/console/sso", {}, action="/console/sso/remove")
    assert refused.status_code == 422 and "Tick the box to confirm" in text_of(refused)
    assert connections(app) == 1


def test_the_pages_speak_spanish_to_a_spanish_browser(app, people, oidc_provider):
    connect(app, oidc_provider)
    spanish = {"Accept-Language": "es"}
    sign_in = FormClient(app).get("/login/sso/acme", headers=spanish)
    assert "Iniciar sesión con Test IdP" in text_of(sign_in)
    hr = hr_of(app)
    page = hr.get("/console/sso", headers=spanish)
    assert "Inicio de sesión único" in text_of(page) and "URI de redirección" in text_of(page)
