"""API tokens: created by the command line or the console, shown once, stored hashed, scoped,
expiring, revocable, with their last use recorded at most once a minute."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from training_app import api_tokens
from training_app.api_tokens import ApiToken, ScopeRefused, TokenRejected, authenticate_bearer
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def issue(app, slug="acme", scope="read", expires_in=timedelta(days=90), name="Workday"):
    with app.app_context():
        tenant = factories.tenant(slug, slug.title())
        issued = api_tokens.issue_token(tenant, name=name, scope=scope, expires_in=expires_in, actor="cli")
        db.session.commit()
        return issued.token.id, issued.secret


def test_cli_creates_a_token_shows_its_secret_once_and_stores_only_its_hash(app):
    with app.app_context():
        factories.tenant("acme")
        db.session.commit()
    result = cli(
        app,
        "api-tokens",
        "create",
        "--tenant",
        "acme",
        "--scope",
        "write",
        "--expires",
        "30d",
        "--name",
        "Workday",
    )
    assert result.exit_code == 0, result.output
    secret = re.search(r"Secret \(shown once\): (pw_\S+)", result.output).group(1)
    assert len(secret) > 40
    with app.app_context():
        token = db.session.scalars(select(ApiToken)).one()
        assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr(token.__dict__)
        assert token.shown_prefix == secret[:9] and token.scope == "write" and token.name == "Workday"
        assert timedelta(days=29) < token.expires_at - utcnow() <= timedelta(days=30)
        event = db.session.scalars(select(AuditEvent)).one()
        assert (event.actor, event.action, event.subject_id) == ("cli", "api_token.created", str(token.id))
        assert secret not in str(event.data)

    listing = cli(app, "api-tokens", "list", "--tenant", "acme")
    assert "Workday\twrite\tactive" in listing.output and secret not in listing.output
    assert "last used never" in listing.output

    revoked = cli(app, "api-tokens", "revoke", str(token.id))
    assert revoked.exit_code == 0 and "Revoked API token" in revoked.output
    assert "revoked" in cli(app, "api-tokens", "list", "--tenant", "acme").output


def test_cli_refuses_a_bad_lifetime_scope_or_tenant_and_writes_nothing(app):
    with app.app_context():
        factories.tenant("acme")
        db.session.commit()
    assert (
        "not a lifetime"
        in cli(app, "api-tokens", "create", "--tenant", "acme", "--scope", "read", "--expires", "soon").output
    )
    assert (
        "between 1 day and 730 days"
        in cli(app, "api-tokens", "create", "--tenant", "acme", "--scope", "read", "--expires", "900d").output
    )
    assert cli(app, "api-tokens", "create", "--tenant", "acme", "--scope", "admin").exit_code != 0
    assert (
        "no tenant 'nope'" in cli(app, "api-tokens", "create", "--tenant", "nope", "--scope", "read").output
    )
    assert "no API token 99" in cli(app, "api-tokens", "revoke", "99").output
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).all() == []


def test_a_token_authenticates_for_its_scope_and_its_tenant_only(app):
    token_id, secret = issue(app, scope="read")
    with app.app_context():
        found = authenticate_bearer(f"Bearer {secret}", "read")
        assert (found.id, found.scope, found.actor) == (token_id, "read", f"token:{token_id}")
        with pytest.raises(ScopeRefused) as refused:
            authenticate_bearer(f"Bearer {secret}", "write")
        assert refused.value.status == 403 and "scope 'write'" in refused.value.message
        with pytest.raises(ScopeRefused):
            authenticate_bearer(f"Bearer {secret}", "scim")


def test_write_grants_read_and_scim_grants_only_scim(app):
    _write_id, write = issue(app, "acme", scope="write")
    _scim_id, scim = issue(app, "globex", scope="scim")
    with app.app_context():
        assert authenticate_bearer(f"Bearer {write}", "read").scope == "write"
        assert authenticate_bearer(f"Bearer {scim}", "scim").scope == "scim"
        with pytest.raises(ScopeRefused):
            authenticate_bearer(f"Bearer {scim}", "read")


@pytest.mark.parametrize(
    "header", [None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer pw_unknown", "bearer pw_" + "x" * 43]
)
def test_missing_malformed_and_unknown_tokens_are_401_with_www_authenticate(app, header):
    with app.app_context(), pytest.raises(TokenRejected) as rejected:
        authenticate_bearer(header, "read")
    assert rejected.value.status == 401
    assert rejected.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_or_revoked_token_is_refused(app):
    token_id, secret = issue(app)
    with app.app_context():
        token = db.session.get(ApiToken, token_id)
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        with pytest.raises(TokenRejected, match="expired on"):
            authenticate_bearer(f"Bearer {secret}", "read")
        token.expires_at = utcnow() + timedelta(days=1)
        api_tokens.revoke_token(token_id, tenant_id=token.tenant_id, actor="staff:1")
        db.session.commit()
        with pytest.raises(TokenRejected, match="revoked"):
            authenticate_bearer(f"Bearer {secret}", "read")
        assert token.status() == "revoked"


def test_last_use_is_recorded_at_most_once_a_minute(app):
    token_id, secret = issue(app)

    def last_used():
        with app.app_context():
            return db.session.get(ApiToken, token_id).last_used_at

    def authenticate():
        with app.app_context():  # as a request does: before its own transaction begins
            authenticate_bearer(f"Bearer {secret}", "read")

    authenticate()
    first = last_used()
    assert first is not None
    authenticate()
    assert last_used() == first
    a_while_ago = utcnow() - timedelta(minutes=2)
    with app.app_context():
        db.session.get(ApiToken, token_id).last_used_at = a_while_ago
        db.session.commit()
    authenticate()
    assert last_used() > a_while_ago


def test_revoking_another_tenants_token_is_not_found(app):
    token_id, _secret = issue(app, "acme")
    with app.app_context():
        globex = factories.tenant("globex")
        db.session.flush()
        with pytest.raises(Exception, match="no API token"):
            api_tokens.revoke_token(token_id, tenant_id=globex.id, actor="staff:9")
        assert db.session.get(ApiToken, token_id).revoked_at is None
