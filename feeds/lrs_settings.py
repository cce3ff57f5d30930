"""The tenant's learning record store as HR configures it in the console, and its health. Every
change is an audit event (never with the secret). Services take plain values and flush."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext
from sqlalchemy import func, select

from feeds import backfill
from feeds.lrs import SECRET_PURPOSE
from feeds.models import ACTOR_KINDS, LRS_AUTHS, XAPI_VERSIONS, LrsConnection, XapiStatement
from feeds.xapi_events import BATCH_SIZE, KIND
from training_app import audit, outbound, outbox, sealing
from training_app.db import utcnow
from training_app.errors import Conflict, NotFound, ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant


@dataclass(frozen=True)
class LrsFields:
    statements_url: str
    xapi_version: str = "1.0.3"
    auth: str = "basic"
    username: str = ""
    secret: str = ""  # empty: keep the saved one
    token_url: str = ""
    scope: str = ""
    actor: str = "mbox"
    account_home_page: str = ""


@dataclass(frozen=True)
class Health:
    connection: LrsConnection | None
    counts: dict[str, int]
    last_delivered_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


def connection_of(tenant_id: int) -> LrsConnection | None:
    return db.session.get(LrsConnection, tenant_id)


def health(tenant_id: int) -> Health:
    counts = dict(
        db.session.execute(
            select(XapiStatement.status, func.count())
            .where(XapiStatement.tenant_id == tenant_id)
            .group_by(XapiStatement.status)
        ).all()
    )
    connection = connection_of(tenant_id)
    return Health(
        connection,
        counts,
        connection.last_delivered_at if connection else None,
        connection.last_error if connection else None,
        connection.last_error_at if connection else None,
    )


def recent_problems(tenant_id: int, limit: int = 20) -> list[XapiStatement]:
    return list(
        db.session.scalars(
            select(XapiStatement)
            .where(
                XapiStatement.tenant_id == tenant_id,
                XapiStatement.status.in_(("rejected", "failed", "retrying")),
            )
            .order_by(XapiStatement.id.desc())
            .limit(limit)
        )
    )


def _url_problem(url: str) -> str | None:
    if len(url) > 2000:
        return gettext("The URL is too long (2,000 characters at most).")
    if outbound.host_problem(url, outbound.policy()):
        return gettext(
            "Use an https:// address on the internet. Addresses of this server, of private networks "
            "and of link-local services (such as 169.254.169.254) are refused, unless the operator "
            "allowed that host (TRAINING_OUTBOUND_ALLOWED_HOSTS)."
        )
    return None


def check_fields(fields: LrsFields, *, needs_secret: bool) -> LrsFields:
    errors: dict[str, str] = {}
    url = fields.statements_url.strip()
    if problem := _url_problem(url):
        errors["statements_url"] = problem
    if fields.xapi_version not in XAPI_VERSIONS:
        errors["xapi_version"] = gettext("Choose 1.0.3 or 2.0.0.")
    if fields.auth not in LRS_AUTHS:
        errors["auth"] = gettext("Choose Basic or OAuth 2.0.")
    username = fields.username.strip()
    if not username or len(username) > 200:
        errors["username"] = gettext("Enter the user name or client id (200 characters at most).")
    if needs_secret and not fields.secret:
        errors["secret"] = gettext("Enter the password or client secret.")
    elif len(fields.secret) > 2000:
        errors["secret"] = gettext("The secret is too long (2,000 characters at most).")
    token_url = fields.token_url.strip()
    if fields.auth == "oauth2":
        if not token_url:
            errors["token_url"] = gettext("Enter the token endpoint of the OAuth 2.0 server.")
        elif problem := _url_problem(token_url):
            errors["token_url"] = problem
    scope = " ".join(fields.scope.split())
    if len(scope) > 200:
        errors["scope"] = gettext("The scope is too long (200 characters at most).")
    if fields.actor not in ACTOR_KINDS:
        errors["actor"] = gettext("Choose email or account.")
    home = fields.account_home_page.strip()
    if home and (len(home) > 2000 or outbound.DestinationPolicy(allow_http=True).url_problem(home)):
        errors["account_home_page"] = gettext("Enter an absolute http(s) URL, or leave it empty.")
    if errors:
        raise ValidationFailed(" ".join(errors.values()), errors=errors)
    return LrsFields(
        url, fields.xapi_version, fields.auth, username, fields.secret, token_url, scope, fields.actor, home
    )


def save_connection(
    tenant: Tenant, fields: LrsFields, *, staff_id: int, ip_address: str | None
) -> LrsConnection:
    connection = connection_of(tenant.id)
    fields = check_fields(fields, needs_secret=connection is None)
    now = utcnow()
    before = _described(connection) if connection else None
    if connection is None:
        connection = LrsConnection(tenant_id=tenant.id, created_at=now, enabled=True)
        db.session.add(connection)
    connection.statements_url = fields.statements_url
    connection.xapi_version, connection.auth = fields.xapi_version, fields.auth
    connection.username = fields.username
    if fields.secret:
        connection.secret_sealed = sealing.seal(SECRET_PURPOSE, fields.secret)
    connection.token_url = fields.token_url if fields.auth == "oauth2" else None
    connection.scope = fields.scope if fields.auth == "oauth2" else ""
    connection.actor, connection.account_home_page = fields.actor, fields.account_home_page or None
    connection.updated_at = now
    db.session.flush()
    data: dict[str, object] = {**_described(connection), "secret_changed": bool(fields.secret)}
    if before:
        data["before"] = before
    _audit(tenant.id, staff_id, "feeds.lrs_saved", ip_address, data)
    return connection


def set_enabled(tenant: Tenant, enabled: bool, *, staff_id: int, ip_address: str | None) -> None:
    connection = _required(tenant.id)
    if connection.enabled == enabled:
        return
    connection.enabled, connection.updated_at = enabled, utcnow()
    db.session.flush()
    action = "feeds.lrs_enabled" if enabled else "feeds.lrs_disabled"
    _audit(tenant.id, staff_id, action, ip_address, {"statements_url": connection.statements_url})


def remove_connection(tenant: Tenant, *, staff_id: int, ip_address: str | None) -> None:
    """The connection goes; its statements stay as a record (queued ones fail: no LRS)."""
    connection = _required(tenant.id)
    _audit(tenant.id, staff_id, "feeds.lrs_removed", ip_address, _described(connection))
    db.session.delete(connection)
    db.session.flush()


def resend_failed(tenant: Tenant, *, staff_id: int, ip_address: str | None) -> int:
    """Every failed or rejected statement queued again, in new batches, with the same ids and
    bodies; how many."""
    connection = _required(tenant.id)
    if not connection.enabled:
        raise Conflict(gettext("The learning record store is turned off: turn it on first."))
    failed = list(
        db.session.scalars(
            select(XapiStatement)
            .where(XapiStatement.tenant_id == tenant.id, XapiStatement.status.in_(("failed", "rejected")))
            .order_by(XapiStatement.id)
        )
    )
    keys = []
    for start in range(0, len(failed), BATCH_SIZE):
        key = uuid.uuid4().hex
        keys.append(key)
        for statement in failed[start : start + BATCH_SIZE]:
            statement.status, statement.batch_key = "pending", key
    db.session.flush()
    outbox.enqueue_many(KIND, [({"batch": key}, f"{KIND}:{key}", tenant.id) for key in keys])
    _audit(tenant.id, staff_id, "feeds.lrs_resent", ip_address, {"statements": len(failed)})
    return len(failed)


def send_earlier_records(tenant: Tenant, *, staff_id: int | None, ip_address: str | None) -> None:
    """What learners did before the LRS was set up (or while it was off), sent in the background
    (feeds.backfill); what was sent already is skipped."""
    connection = _required(tenant.id)
    if not connection.enabled:
        raise Conflict(gettext("The learning record store is turned off: turn it on first."))
    started = backfill.start(tenant.id)
    actor = f"staff:{staff_id}" if staff_id is not None else "cli"
    audit.record_event(
        tenant.id,
        actor,
        "feeds.lrs_backfill",
        subject=("lrs_connection", tenant.id),
        data={"pass": started},
        ip_address=ip_address,
    )


def _required(tenant_id: int) -> LrsConnection:
    connection = connection_of(tenant_id)
    if connection is None:
        raise NotFound(gettext("No learning record store is set up."))
    return connection


def _described(connection: LrsConnection) -> dict[str, object]:
    return {
        "statements_url": connection.statements_url,
        "xapi_version": connection.xapi_version,
        "auth": connection.auth,
        "username": connection.username,
        "token_url": connection.token_url,
        "scope": connection.scope,
        "actor": connection.actor,
        "account_home_page": connection.account_home_page,
    }


def _audit(
    tenant_id: int, staff_id: int, action: str, ip_address: str | None, data: dict[str, object]
) -> None:
    audit.record_event(
        tenant_id,
        f"staff:{staff_id}",
        action,
        subject=("lrs_connection", tenant_id),
        data=data,
        ip_address=ip_address,
    )
