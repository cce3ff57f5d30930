"""Earlier records to a newly connected LRS (Ralph): what learners did before HR connected it is
sent in the background, page by page, as the same statements the hooks send; a second pass and
the live hooks never send a statement twice."""

from __future__ import annotations

from sqlalchemy import func, select

from feeds import backfill, lrs_settings
from feeds.models import XapiStatement
from tests.feeds.conftest import attest, connect_lrs, employee, make_due, pass_quiz, run_worker
from tests.helpers import text_of
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant

EXPECTED = ["initialized", "attested", "passed", "completed", "satisfied"]


def statement_rows(app) -> list[XapiStatement]:
    with app.app_context():
        return list(db.session.scalars(select(XapiStatement).order_by(XapiStatement.id)))


def backfill_and_drain(app, org) -> None:
    """What HR's button does (the service the console calls), then the worker until it is done."""
    with app.app_context():
        tenant = db.session.get(Tenant, org.id)
        lrs_settings.send_earlier_records(tenant, staff_id=org.admin_id, ip_address=None)
        db.session.commit()
    drain(app)


def drain(app) -> None:
    for _ in range(20):  # each page queues the next: bounded
        make_due(app)
        if not run_worker(app):
            return


def test_records_from_before_the_lrs_are_sent_once_when_hr_asks(app, acme, lrs, hr, monkeypatch):
    monkeypatch.setattr(backfill, "PAGE", 1)  # every kind of record over several pages
    learners = [
        employee(app, acme, name, f"E00{n}") for n, name in enumerate(["Ada Lovelace", "Alan Turing"])
    ]
    for learner in learners:
        attest(app, learner)
        pass_quiz(app, learner)
    assert statement_rows(app) == []  # no LRS then: nothing queued
    connect_lrs(app, acme, lrs)

    page = hr.get("/console/feeds/lrs")
    assert "Send earlier records" in text_of(page)
    answer = hr.post_form("/console/feeds/lrs/backfill", {})
    assert answer.status_code == 303
    assert "being sent in the background" in text_of(hr.get(answer.headers["Location"]))
    drain(app)
    rows = statement_rows(app)
    assert sorted(row.verb for row in rows) == sorted(EXPECTED * 2)
    assert {row.status for row in rows} == {"delivered"}
    assert {s["id"] for s in lrs.statements()} == {row.statement_id for row in rows}

    assert hr.post_form("/console/feeds/lrs/backfill", {}).status_code == 303  # again: nothing new
    drain(app)
    assert len(statement_rows(app)) == len(rows)
    with app.app_context():
        events = db.session.scalar(select(func.count()).where(AuditEvent.action == "feeds.lrs_backfill"))
        assert events == 2


def test_a_backfill_after_live_statements_adds_only_the_earlier_ones(app, acme, lrs):
    ada = employee(app, acme)
    attest(app, ada)  # before the LRS: initialized and attested are not sent
    connect_lrs(app, acme, lrs)
    pass_quiz(app, ada)  # live: passed, completed, satisfied
    live = {row.statement_id for row in statement_rows(app)}
    assert len(live) == 3
    backfill_and_drain(app, acme)
    rows = statement_rows(app)
    assert sorted(row.verb for row in rows) == sorted(EXPECTED)
    assert live <= {row.statement_id for row in rows}
    assert len(lrs.statements()) == 5


def test_an_auditor_may_not_start_a_backfill_and_without_an_lrs_it_is_a_clear_404(app, acme, auditor, hr):
    assert auditor.post_form("/console/feeds/lrs/backfill", {}).status_code == 403
    refused = hr.post_form("/console/feeds/lrs/backfill", {})
    assert refused.status_code == 404 and "No learning record store is set up" in text_of(refused)


def test_a_launch_before_the_lrs_is_sent_by_the_backfill_and_a_live_one_is_not_sent_again(
    app, client, acme, lrs
):
    from tests.launch.conftest import learner, learner_claims, register_platform
    from tests.lti_platform import LaunchDriver, Platform

    with Platform(flavour="moodle") as platform:
        with app.app_context():
            register_platform(db.session.get(Tenant, acme.id), platform)
            db.session.commit()
        driver = LaunchDriver(platform, client)
        bea = learner_claims(platform, user=None)
        assert driver.launch(bea).status == 200  # before the LRS
        connect_lrs(app, acme, lrs)
        carl = learner_claims(platform, user=learner("u-carl", "Carl", "Sagan"))
        assert driver.launch(carl).status == 200  # live: its hook sends it
    assert [row.verb for row in statement_rows(app)] == ["launched"]
    backfill_and_drain(app, acme)
    rows = statement_rows(app)
    assert [row.verb for row in rows] == ["launched", "launched"]
    assert {s["actor"]["name"] for s in lrs.statements()} == {"Ada Lovelace", "Carl Sagan"}
