"""API tokens: how HR systems and identity providers call the REST API and SCIM.

A token belongs to one tenant and has one scope: `read` (GET the REST API), `write` (the REST
API, reads included) or `scim` (the SCIM endpoint only). Its secret, `pw_` and 43 random
characters, is shown once; only its SHA-256 is stored (a random 256-bit secret needs no slow
hash: nobody can guess one, and a stolen table gives nothing to try offline). The request's
tenant is the token's; nothing in the request can choose another.

`authenticate_bearer` checks the `Authorization: Bearer ...` header in a short transaction of its
own, before the request touches the database: the token's last use is recorded (at most once a
minute) even when the request it authorised is refused and rolled back. Services flush, never
commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, bindparam, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from training_app import audit
from training_app.db import utcnow
from training_app.errors import DomainError, NotFound, ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant

SCOPES = ("read", "write", "scim")
SECRET_PREFIX = "pw_"
SHOWN_PREFIX_LENGTH = len(SECRET_PREFIX) + 6  # "pw_Ab12Cd": enough to tell tokens apart in a list
MAX_LIFETIME = timedelta(days=730)
LAST_USED_EVERY = timedelta(minutes=1)
MAX_NAME = 100
# A scope a request needs -> the token scopes that grant it (write includes read; scim is apart).
GRANTED_BY = {"read": ("read", "write"), "write": ("write",), "scim": ("scim",)}


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(f"scope IN {SCOPES!r}", name="scope"),
        Index("ix_api_tokens_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    scope: Mapped[str] = mapped_column(String(10))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    shown_prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(100))  # an audit actor: "staff:3", "cli"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def actor(self) -> str:
        return actor_of(self.id)

    def status(self, now: datetime | None = None) -> str:
        """ "active", "expired" or "revoked"."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= (now or utcnow()) else "active"


def actor_of(token_id: int) -> str:
    """The audit actor of a token's writes (reports.audit_log shows the token's name)."""
    return f"token:{token_id}"


@dataclass(frozen=True, slots=True)
class AuthenticatedToken:
    """The token a request was authorised by: its tenant is the request's tenant."""

    id: int
    tenant_id: int
    name: str
    scope: str
    expires_at: datetime

    @property
    def actor(self) -> str:
        return actor_of(self.id)


class TokenRejected(DomainError):
    """401: no token, or one that is unknown, expired or revoked. Carries `WWW-Authenticate`."""

    status = 401
    code = "invalid_token"
    title = "Sign in with an API token"

    def __init__(self, message: str, *, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": f'Bearer realm="api", error="{error}"'}
        if error == "invalid_request":
            self.code = "missing_token"
            self.headers = {"WWW-Authenticate": 'Bearer realm="api"'}


class ScopeRefused(DomainError):
    """403: a valid token whose scope does not grant what the request does."""

    status = 403
    code = "insufficient_scope"
    title = "Not allowed"

    def __init__(self, message: str, needed_scope: str) -> None:
        super().__init__(message)
        self.headers = {
            "WWW-Authenticate": f'Bearer realm="api", error="insufficient_scope", scope="{needed_scope}"'
        }


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    tenant: Tenant, *, name: str, scope: str, expires_in: timedelta, actor: str, ip_address: str | None = None
) -> IssuedToken:
    """A new token for `tenant`; its secret is in the result and nowhere else."""
    name = (name or "").strip()
    errors = {}
    if not name or len(name) > MAX_NAME:
        errors["name"] = f"a name of 1 to {MAX_NAME} characters"
    if scope not in SCOPES:
        errors["scope"] = f"one of {', '.join(SCOPES)}"
    if not timedelta(0) < expires_in <= MAX_LIFETIME:
        errors["expires"] = f"between 1 day and {MAX_LIFETIME.days} days"
    if errors:
        raise ValidationFailed(
            "The token cannot be created: " + "; ".join(f"{k}: {v}" for k, v in errors.items()) + ".",
            errors=errors,
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        tenant_id=tenant.id,
        name=name,
        scope=scope,
        secret_hash=hash_secret(secret),
        shown_prefix=secret[:SHOWN_PREFIX_LENGTH],
        created_by=actor,
        expires_at=utcnow() + expires_in,
    )
    db.session.add(token)
    db.session.flush()
    audit.record_event(
        tenant.id,
        actor,
        "api_token.created",
        subject=("api_token", token.id),
        data={"name": name, "scope": scope, "expires_at": token.expires_at.isoformat()},
        ip_address=ip_address,
    )
    return IssuedToken(token, secret)


def tokens_of(tenant_id: int) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.created_at.desc())
        )
    )


def revoke_token(
    token_id: int, *, tenant_id: int | None, actor: str, ip_address: str | None = None
) -> ApiToken:
    """Revoke a token (of `tenant_id`; None: any tenant's, for the command line). Revoking a
    revoked token changes nothing."""
    token = db.session.get(ApiToken, token_id)
    if token is None or (tenant_id is not None and token.tenant_id != tenant_id):
        raise NotFound(f"There is no API token {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        audit.record_event(
            token.tenant_id,
            actor,
            "api_token.revoked",
            subject=("api_token", token.id),
            data={"name": token.name},
            ip_address=ip_address,
        )
    return token


def token_names(tenant_id: int, token_ids: set[int]) -> dict[int, str]:
    if not token_ids:
        return {}
    rows = db.session.execute(
        select(ApiToken.id, ApiToken.name).where(
            ApiToken.tenant_id == tenant_id, ApiToken.id.in_(sorted(token_ids))
        )
    )
    return {token_id: name for token_id, name in rows}


# --- authenticating a request -----------------------------------------------------------------------


def bearer_secret(request_or_header: Any) -> str:
    """The secret of an `Authorization: Bearer <secret>` header (a request or the header's value)."""
    header = (
        request_or_header
        if isinstance(request_or_header, str) or request_or_header is None
        else (request_or_header.headers.get("Authorization"))
    )
    scheme, _sep, secret = (header or "").strip().partition(" ")
    if not header:
        raise TokenRejected(
            "Send an API token: Authorization: Bearer <token>. An HR administrator creates one "
            "on the console's API tokens page.",
            error="invalid_request",
        )
    if scheme.lower() != "bearer" or not secret.strip():
        raise TokenRejected("The Authorization header must be 'Bearer <token>'.")
    return secret.strip()


def authenticate_bearer(request_or_header: Any, needed_scope: str) -> AuthenticatedToken:
    """The token that authorises this request for `needed_scope` ("read", "write" or "scim").

    TokenRejected (401) when the header is missing or the token unknown, expired or revoked;
    ScopeRefused (403) when its scope does not grant `needed_scope`. Call it before the request
    reads the database: it runs in a transaction of its own (see the module's docstring).
    """
    secret = bearer_secret(request_or_header)
    now = utcnow()
    with db.engine.begin() as connection:
        row = connection.execute(_FIND_BY_HASH, {"secret_hash": hash_secret(secret)}).first()
        if row is None:
            raise TokenRejected("This API token is not known. Check it was copied whole.")
        if row.revoked_at is not None:
            raise TokenRejected("This API token was revoked. Ask an HR administrator for a new one.")
        if row.expires_at <= now:
            raise TokenRejected(
                f"This API token expired on {row.expires_at:%Y-%m-%d %H:%M} UTC. "
                "Ask an HR administrator for a new one."
            )
        if row.last_used_at is None or row.last_used_at <= now - LAST_USED_EVERY:  # once a minute at most
            stale_before = now - LAST_USED_EVERY
            connection.execute(_NOTE_USE, {"token_id": row.id, "now": now, "stale_before": stale_before})
    if row.scope not in GRANTED_BY[needed_scope]:
        raise ScopeRefused(
            f"This API token's scope is '{row.scope}'; this request needs a token with scope "
            f"'{'write' if needed_scope == 'write' else needed_scope}'.",
            needed_scope,
        )
    return AuthenticatedToken(row.id, row.tenant_id, row.name, row.scope, row.expires_at)


def rate_limit_key(request: Any) -> str:
    """Flask-Limiter's key for a request's token, without a database read: the same secret always
    counts against the same limit (an unknown secret is refused anyway)."""
    header = request.headers.get("Authorization") or ""
    return "api-token:" + hashlib.sha256(header.strip().encode()).hexdigest()[:32]


_tokens = ApiToken.__table__
_FIND_BY_HASH = select(
    _tokens.c.id,
    _tokens.c.tenant_id,
    _tokens.c.name,
    _tokens.c.scope,
    _tokens.c.expires_at,
    _tokens.c.last_used_at,
    _tokens.c.revoked_at,
).where(_tokens.c.secret_hash == bindparam("secret_hash"))
_NOTE_USE = (
    update(_tokens)
    .where(_tokens.c.id == bindparam("token_id"))
    .where(or_(_tokens.c.last_used_at.is_(None), _tokens.c.last_used_at <= bindparam("stale_before")))
    .values(last_used_at=bindparam("now"))
)
