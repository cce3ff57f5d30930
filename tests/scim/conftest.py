"""SCIM fixtures: Acme and Globex, an API token of scope `scim` for each (what an HR administrator
pastes into Okta or Entra ID), and a client that speaks SCIM with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests import factories
from training_app import api_tokens
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant, User

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimClient:
    """An identity provider: `Authorization: Bearer <secret>`, application/scim+json, no cookies."""

    def __init__(self, app: Flask, secret: str | None) -> None:
        self.client = app.test_client(use_cookies=False)
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if body is not None and not isinstance(body, bytes | str):
            kwargs["json"] = body
        elif body is not None:
            kwargs["data"] = body
        headers.setdefault("Content-Type", "application/scim+json")
        return self.client.open(f"/scim/v2{path}", method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any):
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any):
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any):
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)

    def create(self, body: dict[str, Any]) -> str:
        response = self.post("/Users", body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]


@dataclass
class Org:
    tenant_id: int
    token_id: int
    secret: str


def issue(tenant: Tenant, name: str, scope: str = "scim", days: int = 30) -> tuple[int, str]:
    issued = api_tokens.issue_token(
        tenant, name=name, scope=scope, expires_in=timedelta(days=days), actor="test"
    )
    return issued.token.id, issued.secret


@pytest.fixture
def orgs(app) -> dict[str, Org]:
    with app.app_context():
        found = {}
        for slug, idp in (("acme", "Okta"), ("globex", "Entra ID")):
            tenant = factories.tenant(slug, slug.title())
            token_id, secret = issue(tenant, idp)
            found[slug] = Org(tenant.id, token_id, secret)
        db.session.commit()
    return found


@pytest.fixture
def okta(app, orgs) -> ScimClient:
    """Acme's identity provider."""
    return ScimClient(app, orgs["acme"].secret)


@pytest.fixture
def entra(app, orgs) -> ScimClient:
    """Globex's identity provider."""
    return ScimClient(app, orgs["globex"].secret)


def user_body(
    employee_id: str,
    email: str,
    name: str = "Ann Lee",
    *,
    user_name: str | None = None,
    department: str | None = "Sales",
    manager: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A User as Okta creates one (Okta's SCIM 2.0 template: name parts, emails, locale...)."""
    given, _, family = name.partition(" ")
    enterprise: dict[str, Any] = {"employeeNumber": employee_id}
    if department:
        enterprise["department"] = department
    if manager:
        enterprise["manager"] = {"value": manager}
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": user_name or email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": name,
        "locale": "en_US",
        "externalId": f"00u{employee_id}",
        "active": True,
        ENTERPRISE: enterprise,
        **extra,
    }


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def person(app, user_id: str | int) -> User:
    with app.app_context():
        user = db.session.get(User, int(user_id))
        db.session.expunge(user)
        return user


def events(app, tenant_id: int, action_prefix: str = "") -> list[AuditEvent]:
    with app.app_context():
        found = list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant_id, AuditEvent.action.startswith(action_prefix))
                .order_by(AuditEvent.seq)
            )
        )
        db.session.expunge_all()
        return found


def people_count(app, tenant_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User).where(User.tenant_id == tenant_id))
