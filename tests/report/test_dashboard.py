"""The HR console's dashboard (reports.dashboard): its numbers against a small world whose statuses,
results and deliveries are known, the lists its numbers link to, tenant isolation, previews, a
bounded number of statements, and what auditors and an empty organisation see."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from courses import publishing
from courses import services as learning
from courses.models import Completion, Enrolment
from courses.services import PREVIEW_ISSUER
from quizzes.models import AttemptGrant
from reports import dashboard
from tests import factories
from tests.helpers import text_of
from tests.statements import of_request
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent, OutboxMessage, Tenant, User

ORIENTATION = "social-media-orientation"
LEADERS = "leaders-on-social-media"
DAY = timedelta(days=1)


def month_start(months_ago: int) -> datetime:
    """Noon on the second day of the month `months_ago` months before this one (UTC)."""
    now = utcnow()
    months = now.year * 12 + now.month - 1 - months_ago
    return datetime(months // 12, months % 12 + 1, 2, 12, tzinfo=UTC)


def result(enrolment: Enrolment, status: str, *, completed: datetime, expires: datetime | None = None):
    _, version = publishing.course_by_slug(enrolment.course.slug)
    db.session.add(
        Completion(
            tenant_id=enrolment.tenant_id,
            user_id=enrolment.user_id,
            enrolment_id=enrolment.id,
            course_id=enrolment.course_id,
            course_version_id=version.id,
            cycle=enrolment.cycle,
            status=status,
            score=90 if status == "completed" else 40,
            content_hash=version.content_hash,
            completed_at=completed,
            expires_at=expires,
        )
    )
    enrolment.started_at = enrolment.started_at or completed  # as the services keep the row
    if status == "completed":
        enrolment.completed_at, enrolment.expires_at = completed, expires
    db.session.flush()


def assign(person: User, slug: str, due_in_days: int = 20) -> Enrolment:
    return learning.enrol(person, slug, source="hr", due_at=utcnow() + due_in_days * DAY)


def outbox(tenant: Tenant | None, key: str, kind: str, status: str, delivered: datetime | None = None):
    db.session.add(
        OutboxMessage(
            tenant_id=tenant.id if tenant else None,
            kind=kind,
            payload={},
            idempotency_key=key,
            status=status,
            delivered_at=delivered,
        )
    )


LAST_GRADE = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)


def build_world() -> dict[str, int]:
    """Acme: Sales and Engineering, the orientation and the leaders' module, results over several
    months; a preview learner; and Globex, whose numbers must never show in Acme's dashboard."""
    now = utcnow()
    acme = factories.tenant("acme")
    factories.staff(acme, "hr@acme.example")
    auditor = factories.staff(acme, "auditor@acme.example", role="auditor")
    sales = [factories.learner(acme, f"Sam{i} Sales", department="Sales") for i in range(1, 6)]
    engineers = [factories.learner(acme, f"Eve{i} Engineer", department="Engineering") for i in range(1, 4)]

    s1, s2, s3, s4, s5 = (assign(person, ORIENTATION) for person in sales)
    result(s1, "completed", completed=month_start(1), expires=now + 300 * DAY)  # completed
    result(s2, "completed", completed=month_start(3), expires=now + 10 * DAY)  # expiring soon
    s3.due_at = now - 2 * DAY  # overdue
    s4.waived_at, s4.waived_by, s4.waiver_reason = now, "staff:1", "On leave"  # waived
    result(s5, "completed", completed=month_start(6), expires=now + 20 * DAY)
    s5.ended_at = now - DAY  # ended: left, their certificate is nobody's to chase
    s1_leaders = assign(sales[0], LEADERS)
    result(s1_leaders, "failed", completed=month_start(1))  # in progress, out of attempts

    e1, _e2, e3 = (assign(person, ORIENTATION) for person in engineers)
    result(e1, "completed", completed=month_start(3), expires=now + 50 * DAY)  # completed
    # e2: not started
    result(e3, "failed", completed=month_start(2))  # in progress: failed, but granted another
    db.session.add(
        AttemptGrant(tenant_id=acme.id, enrolment_id=e3.id, cycle=1, granted_by=auditor.id, reason="x")
    )
    e1_leaders, e2_leaders = assign(engineers[0], LEADERS), assign(engineers[1], LEADERS)
    result(e1_leaders, "completed", completed=month_start(6), expires=now + 80 * DAY)  # completed
    result(e2_leaders, "completed", completed=month_start(13), expires=now - DAY)  # expired

    preview = User(
        tenant_id=acme.id, issuer=PREVIEW_ISSUER, subject="staff-1", name="Preview", department="Sales"
    )
    db.session.add(preview)
    db.session.flush()
    previewed = learning.enrol(preview, ORIENTATION, source="preview", due_at=now - DAY)
    result(previewed, "completed", completed=month_start(1), expires=now + 5 * DAY)

    globex = factories.tenant("globex", "Globex Industries")
    factories.staff(globex, "hr@globex.example")
    for i, department in enumerate(("Sales", "Engineering", "Sales")):
        other = assign(factories.learner(globex, f"Gil{i} Globex", department=department), ORIENTATION)
        other.due_at = now - DAY
        if i == 0:
            result(other, "completed", completed=month_start(1), expires=now + 10 * DAY)
        if i == 1:
            result(other, "failed", completed=month_start(1))

    outbox(acme, "a1", "ags_score", "pending")
    outbox(acme, "a2", "webhook", "pending")
    outbox(acme, "a3", "ags_score", "dead")
    outbox(acme, "a4", "ags_score", "delivered", LAST_GRADE - DAY)
    outbox(acme, "a5", "ags_score", "delivered", LAST_GRADE)
    outbox(acme, "a6", "email", "delivered", LAST_GRADE + DAY)  # not a grade
    outbox(globex, "g1", "ags_score", "delivered", LAST_GRADE + 2 * DAY)
    outbox(globex, "g2", "ags_score", "dead")
    outbox(None, "n1", "ags_score", "pending")
    db.session.commit()
    return {"acme": acme.id, "globex": globex.id}


@pytest.fixture
def world(app, published) -> dict[str, int]:
    with app.app_context():
        return build_world()


def test_the_dashboard_counts_the_known_world(app, world):
    with app.app_context():
        board = dashboard.dashboard(world["acme"])

    by_course = {course.slug: course.tally for course in board.courses}
    assert by_course[ORIENTATION].by_status == {
        "completed": 2,
        "expiring_soon": 1,
        "not_started": 1,
        "in_progress": 1,
        "overdue": 1,
        "expired": 0,
        "waived": 1,
        "ended": 1,
    }
    orientation, leaders = by_course[ORIENTATION], by_course[LEADERS]
    assert (orientation.complete, orientation.counted, orientation.percent) == (3, 6, 50)
    assert (
        leaders.by_status["in_progress"]
        == leaders.by_status["completed"]
        == leaders.by_status["expired"]
        == 1
    )
    assert (leaders.complete, leaders.counted, leaders.percent) == (1, 3, 33)  # rounded down

    by_department = {group.name: group.tally for group in board.departments}
    assert set(by_department) == {"Sales", "Engineering"}
    assert (by_department["Sales"].complete, by_department["Sales"].counted) == (2, 4)
    assert (by_department["Engineering"].complete, by_department["Engineering"].counted) == (2, 5)
    assert [group.name for group in board.departments] == ["Engineering", "Sales"]  # 40% before 50%

    overall = board.overall
    assert (overall.complete, overall.counted, overall.total, overall.percent) == (4, 9, 11, 44)
    assert overall.by_status["overdue"] == 1
    # Within 30 days: s2's certificate (s5 left); 60: and e1's orientation; 90: and e1's leaders.
    assert overall.expiring == {30: 1, 60: 2, 90: 3}
    assert overall.needs_attempt == 1  # s1's leaders' module; e3 was granted another attempt
    assert [(p.name, p.course_title) for p in board.needing_attempt] == [
        ("Sam1 Sales", "Leaders and managers on social media")
    ]

    assert len(board.trend) == 12 and board.trend[-1].first.month == utcnow().month
    by_months_ago = {11 - index: month.completions for index, month in enumerate(board.trend)}
    # Passed results only (no failures, no preview, no Globex); the one of 13 months ago is too old;
    # s5 left since, and their completion still counts in its month.
    assert by_months_ago == {m: {1: 1, 3: 2, 6: 2}.get(m, 0) for m in range(12)}
    assert board.trend[0].first.day == 1 and (board.trend[0].last + DAY).day == 1

    assert board.deliveries == dashboard.Deliveries(pending=2, delivered=3, dead=1, last_grade_at=LAST_GRADE)
    assert board.chain.problem is None
    assert board.people == 8 and not board.is_empty  # the preview learner is nobody


SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'
LIST_LINK = re.compile(r'<a href="(/console/learners\?[^"]+)"[^>]*>\s*(\d+)\s*</a>')


def listed(response) -> int:
    """How many assignments the learners list says it found (its count line, or its rows when it
    shows no count line)."""
    body = text_of(response)
    for pattern in (r'data-total="(\d+)"', r"(\d+)\s+(?:enrolment|assignment|result|row)s?\b"):
        if match := re.search(pattern, body):
            return int(match.group(1))
    return len(set(re.findall(r'href="/console/learners/(\d+)"', response.get_data(as_text=True))))


def test_each_number_opens_a_list_of_as_many(client, world):
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    page = client.get("/console/")
    assert page.status_code == 200
    html = page.get_data(as_text=True).replace("&amp;", "&")
    # The expiry windows: certificates expiring from today to the window's last day (whole UTC
    # days), of counted assignments: s5 left, so theirs (within 30 days) is not.
    windows = re.search(r'<ul class="windows">(.*?)</ul>', html, re.S).group(1)
    today = utcnow().date()
    assert LIST_LINK.findall(windows) == [
        (
            f"/console/learners?expires_from={today}&expires_to={today + days * DAY}&status=counted",
            shown,
        )
        for days, shown in ((30, "1"), (60, "2"), (90, "3"))
    ]
    links = LIST_LINK.findall(html)
    for href, shown in links:
        listing = client.get(href)
        assert listing.status_code == 200, href
        assert listed(listing) == int(shown), (href, shown)
    # Per course and per department, by status and in all; the overall cards and totals, the
    # expiry windows, the people out of attempts and the months.
    assert len(links) >= 40, links
    hrefs = {href for href, _ in links}
    assert "/console/learners?status=overdue" in hrefs
    assert "/console/learners?course=social-media-orientation&status=waived" in hrefs
    assert "/console/learners?department=Sales" in hrefs
    assert ("/console/learners?attempts=used_up", "1") in links


def test_the_page_shows_charts_tables_and_the_rule(client, world):
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    html = client.get("/console/").get_data(as_text=True)
    body = text_of(client.get("/console/"))
    assert "Acme Corporation" in body and "Globex" not in body and "Gil0" not in body
    assert "completed and expiring-soon assignments count as complete" in body
    assert html.count('role="img"') == 3 and html.count("<svg") == 3
    for chart in ("chart-course", "chart-department", "chart-month"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):  # pictures drawn here, nothing fetched
        assert "<script" not in svg and "href" not in svg and "http" not in svg.replace(SVG_NS, "")
    assert "Social media policy orientation: 50%" in body and "3 of 6" in body
    assert "Engineering: 40%" in body
    assert "44%" in body
    month = dashboard.month_starts(utcnow())[10]
    last = (dashboard.month_starts(utcnow())[11] - DAY).isoformat()
    assert f'href="/console/learners?completed_from={month.isoformat()}&amp;completed_to={last}"' in html
    assert "Sam1 Sales" in body and 'href="/console/learners?attempts=used_up"' in html
    assert f"{LAST_GRADE:%Y-%m-%d %H:%M} UTC" in body
    assert "Intact" in body and 'href="/console/audit"' in html


def test_an_auditor_sees_the_dashboard(client, world):
    assert client.login("auditor@acme.example", factories.PASSWORD).status_code == 302
    page = client.get("/console/")
    assert page.status_code == 200
    assert "Completion by course" in text_of(page) and "44%" in text_of(page)


def test_another_tenant_sees_only_its_own(client, world):
    assert client.login("hr@globex.example", factories.PASSWORD).status_code == 302
    page = client.get("/console/")
    body = text_of(page)
    assert page.status_code == 200 and "Globex Industries" in body and "Sam1" not in body
    with client.application.app_context():
        board = dashboard.dashboard(world["globex"])
    assert board.overall.total == 3 and board.overall.by_status["overdue"] == 2
    assert board.overall.needs_attempt == 1 and board.people == 3
    assert board.deliveries == dashboard.Deliveries(
        pending=0, delivered=1, dead=1, last_grade_at=LAST_GRADE + 2 * DAY
    )


def test_a_broken_audit_chain_shows_on_the_dashboard(app, client, world):
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    with app.app_context():
        db.session.execute(
            update(AuditEvent)
            .where(AuditEvent.tenant_id == world["acme"], AuditEvent.seq == 1)
            .values(actor="someone else")
        )
        db.session.commit()
    body = text_of(client.get("/console/"))
    assert "Broken" in body and "no longer matches its hash" in body and "Intact" not in body


def test_an_empty_organisation_is_told_to_import_employees(app, client):
    with app.app_context():
        factories.two_tenants_with_staff()
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    page = client.get("/console/")
    html, body = page.get_data(as_text=True), text_of(page)
    assert page.status_code == 200 and "No employees yet" in body
    assert 'href="/console/employees/import"' in html and "Completion by course" not in body
    assert "Audit chain" in body  # health still shows


def workforce(tenant: Tenant, first: int, count: int) -> None:
    """`count` people in three departments, each in the orientation in one of five situations."""
    now = utcnow()
    for n in range(first, first + count):
        person = factories.learner(tenant, f"Person{n} Bulk", subject=f"p{n}", department=f"Dept {n % 3}")
        enrolment = assign(person, ORIENTATION)
        situation = n % 5
        if situation == 1:
            result(enrolment, "completed", completed=month_start(n % 12), expires=now + (n % 100) * DAY)
        elif situation == 2:
            enrolment.due_at = now - DAY
        elif situation == 3:
            result(enrolment, "failed", completed=month_start(2))
        elif situation == 4:
            assign(person, LEADERS)
    db.session.commit()


def test_the_number_of_statements_does_not_grow_with_the_organisation(app, client, published, executed_sql):
    with app.app_context():
        acme = factories.tenant("acme")
        factories.staff(acme, "hr@acme.example")
        workforce(acme, 0, 3)
        acme_id = acme.id
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302

    def statements() -> list[str]:
        executed_sql.clear()
        assert client.get("/console/").status_code == 200
        return [executed.sql for executed in of_request(executed_sql, "GET /console/")]

    small = statements()
    with app.app_context():
        workforce(db.session.get(Tenant, acme_id), 3, 27)
        assert db.session.scalar(select(func.count()).select_from(Enrolment)) > 30
    large = statements()
    assert len(small) == len(large) <= 14, large
