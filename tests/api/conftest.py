"""The REST API's fixtures: Acme's and Globex's people and records (the console table's world),
API tokens for them, and a client that sends a token as an HR system would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from tests.report.test_people_table import World, build_world
from training_app import api_tokens
from training_app.extensions import db
from training_app.models import Tenant


class ApiClient:
    """Requests with `Authorization: Bearer <secret>`, JSON in and out, no cookies."""

    def __init__(self, app: Flask, secret: str | None) -> None:
        self.client = app.test_client(use_cookies=False)
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, **kwargs: Any):
        return self.client.get(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.client.post(
            path, json=body, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    def patch(self, path: str, body: Any = None, **kwargs: Any):
        return self.client.patch(
            path, json=body, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )


@dataclass
class Tokens:
    write: str
    read: str
    scim: str
    globex: str
    write_id: int
    read_id: int


def issue(tenant_id: int, scope: str, name: str) -> tuple[int, str]:
    tenant = db.session.get(Tenant, tenant_id)
    issued = api_tokens.issue_token(
        tenant, name=name, scope=scope, expires_in=timedelta(days=30), actor="test"
    )
    return issued.token.id, issued.secret


@pytest.fixture
def world(app, published) -> World:
    with app.app_context():
        return build_world()


@pytest.fixture
def tokens(app, world) -> Tokens:
    with app.app_context():
        write_id, write = issue(world.acme, "write", "Workday")
        read_id, read = issue(world.acme, "read", "Warehouse")
        _scim_id, scim = issue(world.acme, "scim", "Okta")
        _globex_id, globex = issue(world.globex, "write", "Globex HR")
        db.session.commit()
    return Tokens(write, read, scim, globex, write_id, read_id)


@pytest.fixture
def hr_system(app, tokens) -> ApiClient:
    """Acme's HR system, with a write token."""
    return ApiClient(app, tokens.write)


@pytest.fixture
def warehouse(app, tokens) -> ApiClient:
    """Acme's data warehouse, with a read token."""
    return ApiClient(app, tokens.read)


def all_pages(client: ApiClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of a list, following `next_cursor`."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = client.get(path, query_string=query)
        assert answer.status_code == 200, answer.get_json()
        rows += answer.json["data"]
        cursor = answer.json["next_cursor"]
        if cursor is None:
            return rows
