"""SFTP feed runs: queued by the schedule (the training tick), the console or the command line,
sent by the outbox (kind `sftp_feed`), retried with backoff while a retry can help.

An attempt takes the feed (`busy_until`: one run of a feed at a time, whichever worker), builds
the file (feeds.sftp_files), sends it (feeds.sftp_transfer) and records the run: name, rows,
bytes, SHA-256, or the error. A "changes" feed's sent rows are written only when the file
arrived, in the transaction that records it, so a failed run leaves them for the next file. A
run's file name is fixed when it is queued: a retry after a crash between the rename and the
record replaces that same file on the server rather than adding a second one.
"""

from __future__ import annotations

import secrets
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, select, update

from feeds import sftp_files, sftp_transfer
from feeds.models import SftpFeed, SftpRun, SftpSentRow
from training_app import outbound, outbox, sealing
from training_app.db import insert_rows_unless_conflict, utcnow
from training_app.extensions import commit_before_waiting, db
from training_app.models import OutboxMessage, Tenant

KIND = "sftp_feed"
SECRET_PURPOSE = "sftp credential"
BUSY_SECONDS = 15 * 60  # a worker that died mid-run frees its feed after this


def queue_run(
    feed: SftpFeed, *, trigger: str, run_key: str | None = None, requested_by: str | None = None
) -> SftpRun | None:
    """A run of the feed and its outbox message; None if a run with this key exists."""
    now = utcnow()
    key = run_key or f"manual:{secrets.token_hex(8)}"
    exists = db.session.scalar(select(SftpRun.id).where(SftpRun.feed_id == feed.id, SftpRun.run_key == key))
    if exists is not None:
        return None
    tenant = db.session.get(Tenant, feed.tenant_id)
    run = SftpRun(
        tenant_id=feed.tenant_id,
        feed_id=feed.id,
        run_key=key,
        trigger=trigger,
        outbox_key=f"{KIND}:{feed.id}:{key}",
        status="pending",
        attempts=0,
        file_name="",
        requested_by=requested_by,
        created_at=now,
    )
    db.session.add(run)
    db.session.flush()
    run.file_name = sftp_files.file_name(tenant.slug, feed.name, feed.file_format, now, run.id)
    outbox.enqueue(KIND, {"run": run.id}, idempotency_key=run.outbox_key, tenant_id=feed.tenant_id)
    return run


# --- the schedule ---------------------------------------------------------------------------------


def scheduled_moment(feed: SftpFeed, now: datetime) -> tuple[str, datetime]:
    """Today's run of the feed in its time zone: (its local date, its moment)."""
    zone = ZoneInfo(feed.time_zone)
    local = now.astimezone(zone)
    hour, minute = (int(part) for part in feed.time_of_day.split(":"))
    return local.date().isoformat(), local.replace(hour=hour, minute=minute, second=0, microsecond=0)


def schedule_due(now: datetime) -> dict[str, int]:
    """Queue today's run of every feed whose time has come (once a day: `schedule:<local date>`);
    a feed created after today's time starts tomorrow. The training tick calls this."""
    queued = 0
    for feed in db.session.scalars(select(SftpFeed).where(SftpFeed.enabled.is_(True)).order_by(SftpFeed.id)):
        day, moment = scheduled_moment(feed, now)
        if now < moment or feed.created_at > moment:
            continue
        queued += (
            queue_run(feed, trigger="schedule", run_key=f"schedule:{day}", requested_by="scheduler")
            is not None
        )
    return {"sftp feed run(s) queued": queued}


# --- an attempt -----------------------------------------------------------------------------------


def deliver(job: outbox.Delivery) -> None:
    run = db.session.get(SftpRun, job.payload["run"])
    if run is None or run.status == "delivered":
        return  # the feed was deleted, or a retry after the record: nothing to send
    feed = db.session.get(SftpFeed, run.feed_id)
    max_attempts = (
        db.session.scalar(select(OutboxMessage.max_attempts).where(OutboxMessage.id == job.id)) or 1
    )
    last_try = job.attempt >= max_attempts
    if not feed.enabled:
        _failed(run, "not sent: the feed is turned off", final=True)
    if not _take(feed):
        raise outbox.DeliveryError("another run of this feed is sending; this one waits", retry=True)
    now = utcnow()
    run.attempts += 1
    run.last_attempt_at = now
    already = sftp_files.sent_hashes(feed.id) if feed.content == "changes" else {}
    commit_before_waiting()  # no transaction (SQLite's write lock) held while building and sending
    try:
        destination = _destination(feed)
        with tempfile.TemporaryDirectory(prefix="sftp-feed-") as folder:
            built = sftp_files.build(feed, now, Path(folder), already)
            sftp_transfer.send_file(built.path, run.file_name, destination, outbound.policy())
    except sealing.SecretUnreadable as unreadable:
        _release(feed)
        _failed(run, str(unreadable), final=True)
    except sftp_transfer.TransferFailed as failed:
        _release(feed)
        _failed(run, str(failed), final=not failed.retry or last_try, retry=failed.retry)
    except Exception:
        _release(feed)
        db.session.commit()
        raise  # the outbox keeps the message for a retry and logs the bug
    _record(run, feed, built)


def _record(run: SftpRun, feed: SftpFeed, built: sftp_files.BuiltFile) -> None:
    now = utcnow()
    run.status, run.delivered_at, run.error = "delivered", now, None
    run.rows, run.bytes, run.sha256 = built.rows, built.bytes, built.sha256
    feed.last_success_at = now
    feed.busy_until = None
    if feed.content == "changes" and built.sent:
        ids = list(built.sent)
        for start in range(0, len(ids), 1000):
            db.session.execute(
                delete(SftpSentRow).where(
                    SftpSentRow.feed_id == feed.id, SftpSentRow.enrolment_id.in_(ids[start : start + 1000])
                )
            )
        rows = [
            {"feed_id": feed.id, "enrolment_id": enrolment_id, "row_hash": digest, "run_id": run.id}
            for enrolment_id, digest in built.sent.items()
        ]
        insert_rows_unless_conflict(
            db.session.connection(), SftpSentRow.__table__, ("feed_id", "enrolment_id"), rows
        )
    db.session.flush()  # the outbox commits this with the delivered message


def _failed(run: SftpRun, error: str, *, final: bool, retry: bool = False) -> None:
    run.status = "failed" if final else "retrying"
    run.error = error[:2000]
    db.session.commit()  # kept although the outbox rolls back a failed handler's writes
    raise outbox.DeliveryError(error, retry=retry and not final)


def _take(feed: SftpFeed) -> bool:
    now = utcnow()
    taken = db.session.execute(
        update(SftpFeed)
        .where(SftpFeed.id == feed.id, (SftpFeed.busy_until.is_(None)) | (SftpFeed.busy_until < now))
        .values(busy_until=now + timedelta(seconds=BUSY_SECONDS))
    ).rowcount
    db.session.commit()
    return bool(taken)


def _release(feed: SftpFeed) -> None:
    db.session.rollback()
    db.session.execute(update(SftpFeed).where(SftpFeed.id == feed.id).values(busy_until=None))


def _destination(feed: SftpFeed) -> sftp_transfer.Destination:
    secret = sealing.unseal(SECRET_PURPOSE, feed.secret_sealed)
    return sftp_transfer.Destination(
        host=feed.host,
        port=feed.port,
        username=feed.username,
        host_key_fingerprint=feed.host_key_fingerprint,
        remote_dir=feed.remote_dir,
        password=secret if feed.auth == "password" else None,
        private_key=secret if feed.auth == "key" else None,
    )


# --- now, from the command line --------------------------------------------------------------------


def send_now(run: SftpRun) -> bool:
    """Attempt the run's queued message at once in this process (as a worker would, with its
    lease); True when delivered. A failure stays queued for the outbox's retries."""
    worker = outbox.worker_id()
    now = utcnow()
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    message = db.session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.idempotency_key == run.outbox_key, OutboxMessage.status == "pending"
        )
    )
    if message is None or (message.locked_until is not None and message.locked_until > now):
        return False
    message.attempts += 1
    message.locked_by, message.locked_until = worker, now + lease
    delivery = outbox.Delivery(
        message.id,
        message.kind,
        message.payload,
        message.idempotency_key,
        message.attempts,
        message.tenant_id,
    )
    db.session.commit()
    return outbox.deliver(delivery, worker)
