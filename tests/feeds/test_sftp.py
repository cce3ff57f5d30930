"""SFTP feeds against a real SFTP server (asyncssh's) with a pinned host key: the file arrives with
the export's content under its final name only when complete; a changed host key refuses to
send; a dropped connection leaves no file under the final name; a "changes" feed after a failure
sends the missed rows once; the schedule and the command line start runs."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
import threading
from datetime import UTC, datetime

from openpyxl import load_workbook
from sqlalchemy import select

from assignments import scheduler
from feeds import sftp_runs
from feeds.models import SftpFeed, SftpRun
from reports.completions import EXPORT_COLUMNS
from tests.feeds.conftest import add_feed, attest, employee, make_due, messages, pass_quiz, run_worker
from tests.feeds.sftp_server import PASSWORD
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent

NAME = re.compile(r"completions-acme-payroll-\d{8}T\d{6}Z-\d+\.(csv|xlsx)")


def runs(app) -> list[SftpRun]:
    with app.app_context():
        return list(db.session.scalars(select(SftpRun).order_by(SftpRun.id)))


def run_now(app, feed_id: int) -> SftpRun:
    with app.app_context():
        run = sftp_runs.queue_run(db.session.get(SftpFeed, feed_id), trigger="console", requested_by="test")
        db.session.commit()
        return run


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_the_file_arrives_with_the_exports_rows_under_its_final_name(app, acme, sftp, hr):
    ada, grace = employee(app, acme), employee(app, acme, "Grace Hopper", "E002")
    attest(app, ada)
    pass_quiz(app, ada)
    attest(app, grace)
    feed_id = add_feed(app, acme, sftp, content="full")
    run_now(app, feed_id)
    run_worker(app)
    [run] = runs(app)
    files = sftp.files()
    assert list(files) == [run.file_name] and NAME.fullmatch(run.file_name)  # no temporary file left
    data = files[run.file_name]
    exported = hr.get("/console/learners/export.csv").get_data()  # the console's export of the same rows
    assert data == exported
    assert list(rows_of(data)[0]) == list(EXPORT_COLUMNS)
    assert (run.status, run.rows, run.bytes, run.sha256) == (
        "delivered", 2, len(data), hashlib.sha256(data).hexdigest()
    )  # fmt: skip
    assert {row["employee_id"]: row["status"] for row in rows_of(data)} == {
        "E001": "completed",
        "E002": "in_progress",
    }


def test_a_worker_whose_thread_already_runs_an_event_loop_still_sends(app, acme, sftp):
    """An outbox worker embedded in an async host (or, in this suite, a worker process whose
    Playwright runs its loop): asyncio.run would refuse to start there."""
    attest(app, employee(app, acme))
    run_now(app, add_feed(app, acme, sftp, content="full"))

    async def worker_inside_a_loop() -> None:
        run_worker(app)

    # A thread of its own: this one may already run Playwright's loop (then asyncio.run refuses).
    host = threading.Thread(target=asyncio.run, args=(worker_inside_a_loop(),))
    host.start()
    host.join(60)
    [run] = runs(app)
    assert run.status == "delivered" and list(sftp.files()) == [run.file_name]


def test_an_xlsx_file_with_a_password(app, acme, sftp):
    attest(app, employee(app, acme))
    feed_id = add_feed(app, acme, sftp, auth="password", secret=PASSWORD, file_format="xlsx", content="full")
    run_now(app, feed_id)
    run_worker(app)
    [run] = runs(app)
    assert run.status == "delivered" and run.file_name.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(sftp.files()[run.file_name]), read_only=True)["Completions"]
    header, first = list(sheet.iter_rows(values_only=True))[:2]
    assert header == EXPORT_COLUMNS and first[0] == "E001"


def test_a_changed_host_key_refuses_to_send_anything(app, acme, sftp):
    attest(app, employee(app, acme))
    feed_id = add_feed(app, acme, sftp)
    sftp.stop()
    sftp.new_host_key()  # reinstalled, or someone else answers at that address
    sftp.start(sftp.port)
    run_now(app, feed_id)
    run_worker(app)
    [run] = runs(app)
    assert run.status == "failed" and "host key" in run.error and sftp.fingerprint in run.error
    assert sftp.files() == {} and sftp.logins == 0  # refused before any credential was sent
    assert [m.status for m in messages(app, sftp_runs.KIND)] == ["dead"]  # no retry: it cannot help


def test_a_connection_dropped_mid_file_leaves_no_file_under_the_final_name(app, acme, sftp):
    attest(app, employee(app, acme))
    feed_id = add_feed(app, acme, sftp, content="full")
    sftp.drop_mid_file = True
    run = run_now(app, feed_id)
    run_worker(app)
    failed = runs(app)[0]
    assert failed.status == "retrying" and "connection" in failed.error
    assert run.file_name not in sftp.files()  # at most the temporary .part file
    sftp.drop_mid_file = False
    make_due(app)
    run_worker(app)
    done = runs(app)[0]
    assert done.status == "delivered" and done.attempts == 2
    assert list(sftp.files()) == [run.file_name]
    assert hashlib.sha256(sftp.files()[run.file_name]).hexdigest() == done.sha256


def test_a_full_disk_is_recorded_and_retried(app, acme, sftp):
    attest(app, employee(app, acme))
    feed_id = add_feed(app, acme, sftp)
    sftp.full_disk = True
    run_now(app, feed_id)
    run_worker(app)
    [run] = runs(app)
    assert run.status == "retrying" and "No space left on device" in run.error
    assert sftp.files() == {}


def test_a_changes_feed_after_a_failure_sends_the_missed_rows_once(app, acme, sftp):
    ada = employee(app, acme)
    attest(app, ada)
    feed_id = add_feed(app, acme, sftp)
    run_now(app, feed_id)
    run_worker(app)
    first = runs(app)[0]
    assert first.rows == 1
    pass_quiz(app, ada)  # Ada's row changes
    attest(app, employee(app, acme, "Grace Hopper", "E002"))  # a new row
    sftp.drop_mid_file = True
    missed = run_now(app, feed_id)
    run_worker(app)
    assert runs(app)[1].status == "retrying"
    attest(app, employee(app, acme, "Alan Turing", "E003"))  # one more while it waits
    sftp.drop_mid_file = False
    make_due(app)
    run_worker(app)
    after = run_now(app, feed_id)  # nothing changed since
    run_worker(app)
    files = sftp.files()
    assert [r.status for r in runs(app)] == ["delivered"] * 3
    sent = rows_of(files[missed.file_name])
    assert sorted((row["employee_id"], row["status"]) for row in sent) == [
        ("E001", "completed"), ("E002", "in_progress"), ("E003", "in_progress")
    ]  # fmt: skip
    assert rows_of(files[after.file_name]) == [] and runs(app)[2].rows == 0
    every = [row["employee_id"] for name in files for row in rows_of(files[name])]
    assert sorted(every) == ["E001", "E001", "E002", "E003"]  # Ada's new row once after her first


def test_the_tick_queues_each_feed_once_a_day_at_its_time_in_its_time_zone(app, acme, sftp):
    feed_id = add_feed(app, acme, sftp, time_of_day="02:30", time_zone="America/Mexico_City")
    with app.app_context():
        db.session.get(SftpFeed, feed_id).created_at = datetime(2027, 1, 1, tzinfo=UTC)
        db.session.commit()

    def tick(moment: str) -> str:
        with app.app_context():
            report = scheduler.run_tick(datetime.fromisoformat(moment))
            db.session.commit()
            return str(report)

    tick("2027-03-01T08:00:00+00:00")  # 02:00 in Mexico City: not yet
    assert runs(app) == []
    assert "sftp feed run(s) queued 1" in tick("2027-03-01T08:31:00+00:00")
    tick("2027-03-01T20:00:00+00:00")  # the same local day
    tick("2027-03-02T05:59:00+00:00")  # 23:59 on 1 March there: still that day
    assert [r.run_key for r in runs(app)] == ["schedule:2027-03-01"]
    tick("2027-03-02T08:30:00+00:00")
    assert [r.run_key for r in runs(app)] == ["schedule:2027-03-01", "schedule:2027-03-02"]


def test_the_command_line_runs_a_feed_now(app, acme, sftp):
    attest(app, employee(app, acme))
    add_feed(app, acme, sftp)
    result = app.test_cli_runner().invoke(args=["feeds", "run", "--tenant", "acme", "--feed", "payroll"])
    assert result.exit_code == 0, result.output
    [run] = runs(app)
    assert f"{run.file_name}: sent, 1 row(s)" in result.output and run.trigger == "cli"
    assert list(sftp.files()) == [run.file_name]
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"feeds.sftp_created", "feeds.sftp_run_requested"} <= actions
    missing = app.test_cli_runner().invoke(args=["feeds", "run", "--tenant", "acme", "--feed", "nope"])
    assert missing.exit_code != 0 and "no SFTP feed named 'nope'" in missing.output
    assert utcnow() >= run.delivered_at


def test_a_folder_missing_on_the_server_is_recorded(app, acme, sftp):
    attest(app, employee(app, acme))
    feed_id = add_feed(app, acme, sftp, remote_dir="outbox/completions")
    run_now(app, feed_id)
    run_worker(app)
    [run] = runs(app)
    assert run.status == "retrying" and "the folder does not exist on the server" in run.error
    assert sftp.files() == {}
