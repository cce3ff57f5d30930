"""The tenant's SFTP feeds as HR configures them in the console, and "run now". Every change is an
audit event (never with the key or password). Services take plain values and flush."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext
from sqlalchemy import delete, func, select

from feeds import sftp_runs
from feeds.models import FILE_CONTENTS, FILE_FORMATS, SFTP_AUTHS, SftpFeed, SftpRun
from training_app import audit, outbound, sealing
from training_app.db import utcnow
from training_app.edge import check_text
from training_app.errors import Conflict, ValidationFailed
from training_app.extensions import db
from training_app.models import OutboxMessage, Tenant
from training_app.tenancy import get_in_tenant

MAX_FEEDS = 10
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
RUNS_PAGE = 30


@dataclass(frozen=True)
class FeedFields:
    name: str
    host: str
    port: str
    username: str
    auth: str
    secret: str  # empty: keep the saved one
    host_key_fingerprint: str
    remote_dir: str
    time_of_day: str
    time_zone: str
    file_format: str
    content: str


def tenant_feed(tenant_id: int, feed_id: int) -> SftpFeed:
    return get_in_tenant(SftpFeed, feed_id, tenant_id, gettext("There is no such SFTP feed."))


def feeds_of(tenant_id: int) -> list[SftpFeed]:
    return list(
        db.session.scalars(select(SftpFeed).where(SftpFeed.tenant_id == tenant_id).order_by(SftpFeed.name))
    )


def feed_named(tenant_id: int, name: str) -> SftpFeed | None:
    return db.session.scalar(select(SftpFeed).where(SftpFeed.tenant_id == tenant_id, SftpFeed.name == name))


def runs_of(feed_id: int, limit: int = RUNS_PAGE) -> list[SftpRun]:
    return list(
        db.session.scalars(
            select(SftpRun)
            .where(SftpRun.feed_id == feed_id)
            .order_by(SftpRun.created_at.desc(), SftpRun.id.desc())
            .limit(limit)
        )
    )


def next_tries(runs: list[SftpRun]) -> dict[int, object]:
    """When each still-queued run is tried next."""
    keys = {run.outbox_key: run.id for run in runs if run.status in ("pending", "retrying")}
    if not keys:
        return {}
    rows = db.session.execute(
        select(OutboxMessage.idempotency_key, OutboxMessage.next_try_at).where(
            OutboxMessage.idempotency_key.in_(list(keys)), OutboxMessage.status == "pending"
        )
    )
    return {keys[key]: moment for key, moment in rows}


def last_runs(tenant_id: int) -> dict[int, SftpRun]:
    newest = (
        select(func.max(SftpRun.id))
        .where(SftpRun.tenant_id == tenant_id)
        .group_by(SftpRun.feed_id)
        .scalar_subquery()
    )
    return {run.feed_id: run for run in db.session.scalars(select(SftpRun).where(SftpRun.id.in_(newest)))}


def check_fields(fields: FeedFields, *, needs_secret: bool) -> FeedFields:
    errors: dict[str, str] = {}
    name = fields.name.strip().lower()
    if not NAME.fullmatch(name):
        errors["name"] = gettext("Use 1 to 64 lowercase letters, digits and hyphens, e.g. workday.")
    host = fields.host.strip().lower()
    port = int(fields.port) if fields.port.strip().isdigit() and len(fields.port.strip()) < 6 else 0
    if not 1 <= port <= 65535:
        errors["port"] = gettext("Enter a port between 1 and 65535 (SFTP's is 22).")
    if not host or len(host) > 255 or not re.fullmatch(r"[a-z0-9.:\[\]-]+", host):
        errors["host"] = gettext("Enter the server's host name or IP address.")
    elif outbound.host_problem(f"https://{host}:{port or 22}/", outbound.policy()):
        errors["host"] = gettext(
            "This server's address is refused: addresses of this server, of private networks and of "
            "link-local services are not allowed unless the operator allowed that host "
            "(TRAINING_OUTBOUND_ALLOWED_HOSTS)."
        )
    username = fields.username.strip()
    if not username or len(username) > 200:
        errors["username"] = gettext("Enter the user name (200 characters at most).")
    if fields.auth not in SFTP_AUTHS:
        errors["auth"] = gettext("Choose a private key or a password.")
    secret = fields.secret.strip() if fields.auth == "key" else fields.secret
    if needs_secret and not secret:
        errors["secret"] = gettext("Enter the private key or the password.")
    elif secret and len(secret) > 20000:
        errors["secret"] = gettext("The key or password is too long.")
    elif secret and fields.auth == "key":
        import asyncssh  # here, not at import: see feeds.sftp_transfer

        try:
            asyncssh.import_private_key(secret)
        except (asyncssh.KeyImportError, ValueError):
            errors["secret"] = gettext(
                "This is not a private key without a passphrase "
                "(OpenSSH or PEM format, as ssh-keygen writes it)."
            )
    fingerprint = fields.host_key_fingerprint.strip()
    if not FINGERPRINT.fullmatch(fingerprint):
        errors["host_key_fingerprint"] = gettext(
            "Enter the server's host key fingerprint as ssh-keygen -lf prints it: SHA256: and 43 characters."
        )
    remote_dir = fields.remote_dir.strip() or "."
    if len(remote_dir) > 1000:
        errors["remote_dir"] = gettext("The folder is too long (1,000 characters at most).")
    if not TIME_OF_DAY.fullmatch(fields.time_of_day.strip()):
        errors["time_of_day"] = gettext("Enter a time as HH:MM, e.g. 02:30.")
    zone = fields.time_zone.strip() or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = gettext("Enter a time zone such as Europe/Madrid or America/Mexico_City.")
    if fields.file_format not in FILE_FORMATS:
        errors["file_format"] = gettext("Choose CSV or XLSX.")
    if fields.content not in FILE_CONTENTS:
        errors["content"] = gettext("Choose every row or the changes.")
    if errors:
        raise ValidationFailed(" ".join(errors.values()), errors=errors)
    check_text({"username": username, "remote_dir": remote_dir})
    return FeedFields(
        name, host, str(port), username, fields.auth, secret, fingerprint, remote_dir,
        fields.time_of_day.strip(), zone, fields.file_format, fields.content,
    )  # fmt: skip


def create_feed(tenant: Tenant, fields: FeedFields, *, staff_id: int, ip_address: str | None) -> SftpFeed:
    fields = check_fields(fields, needs_secret=True)
    if db.session.scalar(select(func.count()).where(SftpFeed.tenant_id == tenant.id)) >= MAX_FEEDS:
        raise Conflict(gettext("An organisation can have %(n)d SFTP feeds at most.", n=MAX_FEEDS))
    if feed_named(tenant.id, fields.name) is not None:
        raise ValidationFailed(
            gettext("Another feed has this name."), errors={"name": gettext("Another feed has this name.")}
        )
    now = utcnow()
    feed = SftpFeed(tenant_id=tenant.id, enabled=True, created_at=now)
    _apply(feed, fields)
    db.session.add(feed)
    db.session.flush()
    _audit(feed, staff_id, "feeds.sftp_created", ip_address, _described(feed))
    return feed


def update_feed(feed: SftpFeed, fields: FeedFields, *, staff_id: int, ip_address: str | None) -> SftpFeed:
    fields = check_fields(fields, needs_secret=False)
    other = feed_named(feed.tenant_id, fields.name)
    if other is not None and other.id != feed.id:
        raise ValidationFailed(
            gettext("Another feed has this name."), errors={"name": gettext("Another feed has this name.")}
        )
    before = _described(feed)
    _apply(feed, fields)
    db.session.flush()
    after = _described(feed)
    changed = {name: value for name, value in after.items() if before[name] != value}
    _audit(
        feed, staff_id, "feeds.sftp_updated", ip_address,
        {"changed": changed, "before": before, "secret_changed": bool(fields.secret)},
    )  # fmt: skip
    return feed


def _apply(feed: SftpFeed, fields: FeedFields) -> None:
    feed.name, feed.host, feed.port, feed.username = (
        fields.name,
        fields.host,
        int(fields.port),
        fields.username,
    )
    feed.auth, feed.host_key_fingerprint, feed.remote_dir = (
        fields.auth,
        fields.host_key_fingerprint,
        fields.remote_dir,
    )
    feed.time_of_day, feed.time_zone = fields.time_of_day, fields.time_zone
    feed.file_format, feed.content = fields.file_format, fields.content
    if fields.secret:
        feed.secret_sealed = sealing.seal(sftp_runs.SECRET_PURPOSE, fields.secret)
    feed.updated_at = utcnow()


def set_enabled(feed: SftpFeed, enabled: bool, *, staff_id: int, ip_address: str | None) -> None:
    if feed.enabled == enabled:
        return
    feed.enabled, feed.updated_at = enabled, utcnow()
    db.session.flush()
    action = "feeds.sftp_enabled" if enabled else "feeds.sftp_disabled"
    _audit(feed, staff_id, action, ip_address, {"name": feed.name})


def delete_feed(feed: SftpFeed, *, staff_id: int, ip_address: str | None) -> None:
    """The feed, its runs and what it sent go; its runs still waiting in the outbox with them."""
    keys = select(SftpRun.outbox_key).where(SftpRun.feed_id == feed.id)
    db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.kind == sftp_runs.KIND,
            OutboxMessage.status == "pending",
            OutboxMessage.idempotency_key.in_(keys),
        )
    )
    _audit(feed, staff_id, "feeds.sftp_deleted", ip_address, _described(feed))
    db.session.delete(feed)
    db.session.flush()


def run_now(feed: SftpFeed, *, actor: str, trigger: str, ip_address: str | None = None) -> SftpRun:
    if not feed.enabled:
        raise Conflict(gettext("The feed is turned off: turn it on first."))
    run = sftp_runs.queue_run(feed, trigger=trigger, requested_by=actor)
    audit.record_event(
        feed.tenant_id, actor, "feeds.sftp_run_requested", subject=("sftp_feed", feed.id),
        data={"name": feed.name, "run_id": run.id, "file_name": run.file_name}, ip_address=ip_address,
    )  # fmt: skip
    return run


def _described(feed: SftpFeed) -> dict[str, object]:
    return {
        "name": feed.name,
        "host": feed.host,
        "port": feed.port,
        "username": feed.username,
        "auth": feed.auth,
        "host_key_fingerprint": feed.host_key_fingerprint,
        "remote_dir": feed.remote_dir,
        "time_of_day": feed.time_of_day,
        "time_zone": feed.time_zone,
        "file_format": feed.file_format,
        "content": feed.content,
    }


def _audit(
    feed: SftpFeed, staff_id: int, action: str, ip_address: str | None, data: dict[str, object]
) -> None:
    audit.record_event(
        feed.tenant_id,
        f"staff:{staff_id}",
        action,
        subject=("sftp_feed", feed.id),
        data=data,
        ip_address=ip_address,
    )
