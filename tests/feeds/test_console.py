"""The console's completion feeds: HR administrators change them (each change audited, secrets
never shown or stored in clear), auditors read them; bad input is refused with what to write."""

from __future__ import annotations

from sqlalchemy import select

from feeds.models import LrsConnection, SftpFeed, SftpRun
from tests.feeds.conftest import attest, employee, run_worker
from tests.helpers import text_of
from training_app.extensions import db
from training_app.models import AuditEvent


def audit_actions(app) -> list[tuple[str, dict]]:
    with app.app_context():
        return [(e.action, e.data) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def feed_form(sftp, **changes) -> dict[str, str]:
    return {
        "name": "workday",
        "host": "127.0.0.1",
        "port": str(sftp.port),
        "username": "payroll",
        "auth": "key",
        "secret": sftp.client_key_text,
        "host_key_fingerprint": sftp.fingerprint,
        "remote_dir": "inbox",
        "time_of_day": "06:15",
        "time_zone": "Europe/Madrid",
        "file_format": "csv",
        "content": "changes",
        **changes,
    }


def test_hr_sets_up_the_lrs_and_sees_its_health(app, acme, hr, lrs):
    form = {
        "statements_url": lrs.statements_url,
        "xapi_version": "2.0.0",
        "auth": "basic",
        "username": lrs.username,
        "secret": "lrs-password-for-tests",
        "actor": "mbox",
    }
    assert hr.submit("/console/feeds/lrs", form).status_code == 303
    with app.app_context():
        connection = db.session.get(LrsConnection, acme.id)
        assert connection.xapi_version == "2.0.0" and "lrs-password" not in connection.secret_sealed
    attest(app, employee(app, acme))
    run_worker(app)
    page = text_of(hr.get("/console/feeds/lrs"))
    assert "Last delivered" in page and "lrs-password" not in page
    overview = hr.get("/console/feeds/").get_data(as_text=True)
    assert "<dt>Delivered</dt><dd>2</dd>" in overview  # initialized and attested
    [(action, data)] = [(a, d) for a, d in audit_actions(app) if a.startswith("feeds.")]
    assert action == "feeds.lrs_saved" and data["secret_changed"] is True and "lrs-password" not in str(data)
    assert hr.submit("/console/feeds/lrs", {}, action="/console/feeds/lrs/disable").status_code == 303
    assert "feeds.lrs_disabled" in [a for a, _ in audit_actions(app)]


def test_an_lrs_address_on_this_machines_network_is_refused(app, acme, hr):
    form = {"statements_url": "http://169.254.169.254/xapi/statements", "username": "u", "secret": "s",
            "xapi_version": "1.0.3", "auth": "basic", "actor": "mbox"}  # fmt: skip
    response = hr.submit("/console/feeds/lrs", form)
    assert response.status_code == 422 and "169.254.169.254" in text_of(response)
    with app.app_context():
        assert db.session.get(LrsConnection, acme.id) is None


def test_hr_adds_an_sftp_feed_runs_it_now_and_sees_the_run(app, acme, hr, sftp):
    attest(app, employee(app, acme))
    response = hr.submit("/console/feeds/sftp/new", feed_form(sftp))
    assert response.status_code == 303
    feed_url = response.headers["Location"]
    assert hr.submit(feed_url, {}, action=f"{feed_url}/run").status_code == 303
    run_worker(app)
    page = text_of(hr.get(feed_url))
    with app.app_context():
        [run] = db.session.scalars(select(SftpRun))
        feed = db.session.scalar(select(SftpFeed))
        assert "BEGIN" not in feed.secret_sealed
    assert run.file_name in page and run.sha256 in page and "delivered" in page
    assert run.trigger == "console" and run.requested_by.startswith("staff:")
    actions = [a for a, _ in audit_actions(app)]
    assert "feeds.sftp_created" in actions and "feeds.sftp_run_requested" in actions
    assert "PRIVATE KEY" not in str(audit_actions(app))
    assert "workday" in text_of(hr.get("/console/feeds/"))


def test_a_feed_needs_a_host_key_fingerprint_and_sensible_values(app, acme, hr, sftp):
    bad = feed_form(
        sftp, host_key_fingerprint="", time_of_day="25:00", time_zone="Mars/Olympus", secret="not a key"
    )
    response = hr.submit("/console/feeds/sftp/new", bad)
    text = text_of(response)
    assert response.status_code == 422
    assert "SHA256:" in text and "HH:MM" in text and "time zone" in text and "private key" in text
    with app.app_context():
        assert db.session.scalar(select(SftpFeed)) is None


def test_auditors_read_the_feeds_but_change_nothing(app, acme, hr, auditor, sftp):
    assert hr.submit("/console/feeds/sftp/new", feed_form(sftp)).status_code == 303
    with app.app_context():
        feed_id = db.session.scalar(select(SftpFeed.id))
    for url in ("/console/feeds/", "/console/feeds/lrs", f"/console/feeds/sftp/{feed_id}"):
        assert auditor.get(url).status_code == 200, url
    before = audit_actions(app)
    for url in (
        "/console/feeds/lrs",
        "/console/feeds/lrs/disable",
        "/console/feeds/sftp/new",
        f"/console/feeds/sftp/{feed_id}/run",
        f"/console/feeds/sftp/{feed_id}/edit",
        f"/console/feeds/sftp/{feed_id}/delete",
    ):
        assert auditor.post_form(url, {"confirm": "y"}).status_code == 403, url
    assert audit_actions(app) == before
    assert "Run now" not in text_of(auditor.get(f"/console/feeds/sftp/{feed_id}"))


def test_the_feed_pages_in_spanish(app, acme, hr, sftp):
    assert hr.submit("/console/feeds/sftp/new", feed_form(sftp)).status_code == 303
    headers = {"Accept-Language": "es"}
    overview = text_of(hr.get("/console/feeds/", headers=headers))
    assert "Envíos de finalizaciones" in overview and "Almacén de registros de aprendizaje (xAPI)" in overview
    with app.app_context():
        feed_id = db.session.scalar(select(SftpFeed.id))
    assert "Ejecutar ahora" in text_of(hr.get(f"/console/feeds/sftp/{feed_id}", headers=headers))
    refused = hr.submit(
        "/console/feeds/sftp/new", feed_form(sftp, name="x", time_of_day="9"), headers=headers
    )
    assert "Escribe una hora como HH:MM" in text_of(refused)
