"""A tenant's completion feeds: its learning record store (xAPI statements, queued in batches),
and its SFTP feeds (a file a day), with each run and what the "changes" feeds have sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from training_app.db import utcnow
from training_app.extensions import db

XAPI_VERSIONS = ("1.0.3", "2.0.0")
LRS_AUTHS = ("basic", "oauth2")
ACTOR_KINDS = ("mbox", "account")
STATEMENT_STATUSES = ("pending", "retrying", "delivered", "rejected", "failed")
SFTP_AUTHS = ("key", "password")
FILE_FORMATS = ("csv", "xlsx")
FILE_CONTENTS = ("full", "changes")
RUN_TRIGGERS = ("schedule", "console", "cli")
RUN_STATUSES = ("pending", "retrying", "delivered", "failed")


class LrsConnection(db.Model):
    """The tenant's learning record store: where statements go, how to sign in, which xAPI
    version to speak, and how the learner is named (an email `mbox`, or an `account` on the
    tenant's home page named by the employee id). The password or OAuth client secret is sealed
    (training_app.sealing)."""

    __tablename__ = "lrs_connections"
    __table_args__ = (
        CheckConstraint(f"xapi_version IN {XAPI_VERSIONS!r}", name="xapi_version"),
        CheckConstraint(f"auth IN {LRS_AUTHS!r}", name="auth"),
        CheckConstraint(f"actor IN {ACTOR_KINDS!r}", name="actor"),
    )

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    statements_url: Mapped[str] = mapped_column(String(2000))
    xapi_version: Mapped[str] = mapped_column(String(10), default="1.0.3")
    auth: Mapped[str] = mapped_column(String(10), default="basic")
    username: Mapped[str] = mapped_column(String(200))  # Basic user name, or OAuth client id
    secret_sealed: Mapped[str] = mapped_column(Text)
    token_url: Mapped[str | None] = mapped_column(String(2000))  # OAuth 2.0 client credentials
    scope: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(10), default="mbox")
    account_home_page: Mapped[str | None] = mapped_column(String(2000))
    enabled: Mapped[bool] = mapped_column(default=True)
    last_delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class XapiStatement(db.Model):
    """One statement, its body fixed when the event happened (a retry sends the same bytes under
    the same id), and the outbox batch that carries it (`batch_key`)."""

    __tablename__ = "xapi_statements"
    __table_args__ = (
        UniqueConstraint("statement_id"),
        CheckConstraint(f"status IN {STATEMENT_STATUSES!r}", name="status"),
        Index("ix_xapi_statements_batch", "batch_key"),
        Index("ix_xapi_statements_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    statement_id: Mapped[str] = mapped_column(String(36))  # UUID5 of the event and verb
    verb: Mapped[str] = mapped_column(String(20))
    event_key: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    batch_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class SftpFeed(db.Model):
    """A file of the completions export sent to an SFTP server every day at `time_of_day` in
    `time_zone`. The server's host key is pinned by its SHA-256 fingerprint (no trust on first
    use); the private key or password is sealed. `busy_until` lets one run of a feed work at a
    time, whichever worker holds it."""

    __tablename__ = "sftp_feeds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint(f"auth IN {SFTP_AUTHS!r}", name="auth"),
        CheckConstraint(f"file_format IN {FILE_FORMATS!r}", name="file_format"),
        CheckConstraint(f"content IN {FILE_CONTENTS!r}", name="content"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(default=22)
    username: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(10))
    secret_sealed: Mapped[str] = mapped_column(Text)
    host_key_fingerprint: Mapped[str] = mapped_column(String(100))
    remote_dir: Mapped[str] = mapped_column(String(1000), default=".")
    time_of_day: Mapped[str] = mapped_column(String(5), default="02:00")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    file_format: Mapped[str] = mapped_column(String(10), default="csv")
    content: Mapped[str] = mapped_column(String(10), default="full")
    enabled: Mapped[bool] = mapped_column(default=True)
    busy_until: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SftpRun(db.Model):
    """One file of a feed: queued by the schedule, the console or the command line, sent by the
    outbox (retried with backoff), with what was sent: the file's name, rows, bytes and SHA-256,
    or the last attempt's error."""

    __tablename__ = "sftp_runs"
    __table_args__ = (
        UniqueConstraint("feed_id", "run_key"),
        CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status"),
        CheckConstraint(f"trigger IN {RUN_TRIGGERS!r}", name="trigger"),
        Index("ix_sftp_runs_feed_created", "feed_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("sftp_feeds.id", ondelete="CASCADE"))
    run_key: Mapped[str] = mapped_column(String(100))  # schedule:<local date>, or manual:<random>
    trigger: Mapped[str] = mapped_column(String(10))
    outbox_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    file_name: Mapped[str] = mapped_column(String(255))
    rows: Mapped[int | None]
    bytes: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class SftpSentRow(db.Model):
    """What a "changes" feed last delivered for an assignment: the SHA-256 of its row. A row whose
    text differs (or that was never sent) is a change; written only when a file arrived."""

    __tablename__ = "sftp_sent_rows"

    feed_id: Mapped[int] = mapped_column(ForeignKey("sftp_feeds.id", ondelete="CASCADE"), primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(primary_key=True)
    row_hash: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int]
