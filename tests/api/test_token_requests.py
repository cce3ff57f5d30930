"""API tokens as HR systems and HR administrators meet them: the console page (the secret shown
once, last use, revoke), and the API's 401 and 403 answers, in JSON with WWW-Authenticate."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from tests import factories
from tests.api.conftest import ApiClient
from tests.helpers import FormClient, text_of
from training_app.api_tokens import ApiToken
from training_app.db import utcnow
from training_app.extensions import db

PAGE = "/console/api-tokens"
SECRET = re.compile(r"pw_[A-Za-z0-9_-]{43}")


def signed_in(app, email: str) -> FormClient:
    client = FormClient(app)
    assert client.login(email, factories.PASSWORD).status_code == 302
    return client


def test_an_hr_administrator_creates_a_token_sees_its_secret_once_and_revokes_it(app, world):
    hr = signed_in(app, "hr@acme.example")
    created = hr.submit(PAGE, {"name": "Workday", "scope": "write", "lifetime": "90"})
    assert created.status_code == 201
    (secret,) = SECRET.findall(text_of(created))
    assert "it is not shown again" in text_of(created)
    assert created.headers["Cache-Control"] == "private, no-store"
    page = hr.get(PAGE)
    assert secret not in text_of(page) and f"{secret[:9]}…" in text_of(page)
    assert "never" in text_of(page)

    warehouse = ApiClient(app, secret)
    assert warehouse.get("/api/v1/employees").status_code == 200
    assert "never" not in text_of(hr.get(PAGE)).split("Workday", 1)[1].split("</tr>", 1)[0]

    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "Workday"))
    revoked = hr.post_form(f"{PAGE}/{token_id}/revoke", {})
    assert revoked.status_code == 303
    assert "Revoked" in text_of(hr.get(PAGE))
    refused = warehouse.get("/api/v1/employees")
    assert refused.status_code == 401 and "revoked" in refused.json["message"]


def test_the_form_refuses_a_missing_name_or_an_unknown_scope(app, world):
    hr = signed_in(app, "hr@acme.example")
    assert hr.submit(PAGE, {"name": "", "scope": "read", "lifetime": "90"}).status_code == 422
    assert hr.submit(PAGE, {"name": "X", "scope": "admin", "lifetime": "90"}).status_code == 422
    assert hr.submit(PAGE, {"name": "X", "scope": "read", "lifetime": "9999"}).status_code == 422
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).all() == []


def test_auditors_may_not_see_or_create_tokens(app, world):
    auditor = signed_in(app, "auditor@acme.example")
    assert auditor.get(PAGE).status_code == 403
    assert "API tokens" not in text_of(auditor.get("/console/"))
    assert "API tokens" in text_of(signed_in(app, "hr@acme.example").get("/console/"))


def test_the_api_answers_401_with_www_authenticate_for_a_missing_unknown_expired_or_revoked_token(
    app, tokens, world
):
    with app.app_context():
        expired = db.session.get(ApiToken, tokens.read_id)
        expired.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    cases = {
        None: "missing_token",
        "pw_" + "x" * 43: "invalid_token",
        tokens.read: "invalid_token",
    }
    for secret, code in cases.items():
        answer = ApiClient(app, secret).get("/api/v1/completions")
        assert answer.status_code == 401, secret
        assert answer.json["code"] == code and answer.json["status"] == 401
        assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="api"')
        assert answer.headers["Content-Type"] == "application/json"
        assert "Set-Cookie" not in answer.headers
    basic = ApiClient(app, None).get("/api/v1/completions", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401 and "Bearer" in basic.json["message"]


def test_a_scim_token_is_not_a_rest_api_token(app, tokens, world):
    answer = ApiClient(app, tokens.scim).get("/api/v1/employees")
    assert answer.status_code == 403
    assert answer.json["code"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]


def test_a_staff_session_is_not_an_api_token(app, world):
    hr = signed_in(app, "hr@acme.example")
    assert hr.get("/api/v1/employees").status_code == 401
