"""The HR console with more learners and audit events than one statement may have parameters.

psycopg refuses more than 65,535 bind parameters, so a page that loaded every enrolment and sent
their ids back as an IN list answered 503 at this size. The learners page filters, counts and
pages in the database; the audit log page verifies only the events after the last full
verification, which the "Verify the whole chain now" button runs. The data is built in bulk
(INSERT ... SELECT generate_series, one executemany of precomputed hashes): a few seconds.
"""

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select, text

from courses import publishing
from tests import factories
from tests.helpers import text_of
from tests.statements import of_request
from training_app import audit
from training_app.extensions import db
from training_app.models import AuditCheckpoint, AuditEvent, Tenant

pytestmark = [pytest.mark.postgresql_only, pytest.mark.slow]

LEARNERS = 70_001  # more than 65,535, and the last page holds a single row
EVENTS = 66_000
PAGE_SIZE = 50
ORIENTATION = "social-media-orientation"
# Each learner's status follows their id (id % 10): completed, overdue, in progress (a failed
# attempt, or started) or not started; the status column of the page computes the same from the rows.
STATUS_OF_REMAINDER = {
    0: "completed",
    1: "in_progress",
    2: "overdue",
    3: "overdue",
    4: "in_progress",
    5: "in_progress",
    6: "in_progress",
    7: "not_started",
    8: "not_started",
    9: "not_started",
}
ROW = re.compile(r'<td><a href="/console/learners/(\d+)">')  # each row's name links to the person


def _bulk_learners(tenant_id: int) -> None:
    """LEARNERS users, each enrolled in the orientation, with a result for a fifth of them."""
    course, version = publishing.course_by_slug(ORIENTATION)
    params = {"tenant_id": tenant_id, "course_id": course.id, "learners": LEARNERS}
    db.session.execute(
        text(
            "INSERT INTO users (tenant_id, issuer, subject, email, name, department, locale,"
            " created_at, updated_at)"
            " SELECT :tenant_id, 'bulk', 'learner-' || i, 'learner' || i || '@acme.example',"
            " 'Learner ' || lpad(i::text, 6, '0'), 'Department ' || (i % 7), 'en', now(), now()"
            " FROM generate_series(1, :learners) AS i"
        ),
        params,
    )
    db.session.execute(
        text(
            "INSERT INTO enrolments (tenant_id, user_id, course_id, source, cycle, enrolled_at,"
            " due_at, started_at, completed_at)"
            " SELECT :tenant_id, id, :course_id, 'hr', 1, now() - interval '60 days',"
            " CASE WHEN id % 10 IN (2, 3) THEN now() - interval '1 day' ELSE now() + interval '30 days' END,"
            " CASE WHEN id % 10 IN (0, 1, 4, 5, 6) THEN now() - interval '10 days' END,"
            " CASE WHEN id % 10 = 0 THEN now() - interval '2 days' END"
            " FROM users WHERE tenant_id = :tenant_id"
        ),
        params,
    )
    db.session.execute(
        text(
            "INSERT INTO completions (tenant_id, user_id, enrolment_id, course_id, course_version_id,"
            " cycle, status, score, content_hash, completed_at)"
            " SELECT :tenant_id, user_id, id, course_id, :version_id, 1,"
            " CASE WHEN user_id % 10 = 0 THEN 'completed' ELSE 'failed' END,"
            " CASE WHEN user_id % 10 = 0 THEN 90 ELSE 40 END, :content_hash, now() - interval '2 days'"
            " FROM enrolments WHERE tenant_id = :tenant_id AND user_id % 10 IN (0, 1)"
        ),
        params | {"version_id": version.id, "content_hash": version.content_hash},
    )
    # Statistics, as autovacuum would have gathered in production: plans for 70,000 rows, not for 0.
    db.session.execute(text("ANALYZE users, enrolments, completions, lesson_progress"))


def _bulk_audit_chain(tenant: Tenant) -> None:
    """EVENTS events that extend the tenant's chain, hashed here, inserted with one executemany."""
    seq, head = tenant.audit_seq, tenant.audit_head
    start = datetime(2025, 1, 6, 9, 0, 0, 123456, tzinfo=UTC)
    rows = []
    for n in range(EVENTS):
        seq += 1
        event = SimpleNamespace(
            tenant_id=tenant.id,
            occurred_at=start + timedelta(seconds=n, microseconds=n % 1000),
            actor=f"staff:{n % 5 + 1}",
            action="learner.enrolled",
            subject_type="user",
            subject_id=str(n),
            data={"n": n, "course": ORIENTATION, "note": "é"},
            ip_address="192.0.2.1",
            seq=seq,
            prev_hash=head,
        )
        event.hash = head = audit.event_hash(event)
        rows.append(vars(event))
    db.session.execute(insert(AuditEvent.__table__), rows)
    tenant.audit_seq, tenant.audit_head = seq, head


@pytest.fixture
def acme(app, published):
    """Acme, its HR admin, and the orientation published."""
    with app.app_context():
        tenant = factories.tenant("acme")
        factories.staff(tenant, "hr@acme.example")
        db.session.commit()
        return tenant.id


def row_ids(response) -> list[int]:
    return [int(user_id) for user_id in ROW.findall(response.get_data(as_text=True))]


def learners_page_statements(executed_sql) -> list[str]:
    return [executed.sql for executed in of_request(executed_sql, "GET /console/learners")]


def test_the_learners_page_pages_seventy_thousand_learners_in_the_database(app, client, acme, executed_sql):
    with app.app_context():
        _bulk_learners(acme)
        db.session.commit()
        by_status = dict.fromkeys(STATUS_OF_REMAINDER.values(), 0)
        for remainder, count in db.session.execute(
            text("SELECT id % 10, count(*) FROM users WHERE tenant_id = :t GROUP BY 1"), {"t": acme}
        ):
            by_status[STATUS_OF_REMAINDER[remainder]] += count
    assert sum(by_status.values()) == LEARNERS
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302

    executed_sql.clear()
    first = client.get("/console/learners")
    assert first.status_code == 200, text_of(first)[:500]
    first_statements = learners_page_statements(executed_sql)
    body = text_of(first)
    assert f"{LEARNERS} enrolment(s)" in body
    first_ids = row_ids(first)
    assert len(first_ids) == PAGE_SIZE
    assert "Learner 000001" in body and "Learner 000050" in body and "Learner 000051" not in body
    assert 'rel="next"' in body and 'rel="prev"' not in body
    assert 'href="/console/learners?page=2"' in body

    second = client.get("/console/learners?page=2")
    assert second.status_code == 200
    second_ids = row_ids(second)
    assert len(second_ids) == PAGE_SIZE and not set(second_ids) & set(first_ids)
    assert "Learner 000051" in text_of(second) and "Learner 000100" in text_of(second)
    assert 'rel="prev"' in text_of(second) and 'rel="next"' in text_of(second)

    last_page = -(-LEARNERS // PAGE_SIZE)
    executed_sql.clear()
    last = client.get(f"/console/learners?page={last_page}")
    assert last.status_code == 200
    last_statements = learners_page_statements(executed_sql)
    assert len(row_ids(last)) == LEARNERS - (last_page - 1) * PAGE_SIZE == 1
    assert 'rel="prev"' in text_of(last) and 'rel="next"' not in text_of(last)
    # Beyond the last page there is nothing to show, and a page number too large for any integer
    # column is not a page either.
    assert client.get(f"/console/learners?page={last_page + 1}").status_code == 200
    assert client.get("/console/learners?page=100000000000000000000").status_code == 404
    assert client.get("/console/learners?page=0").status_code == 404

    # The same few statements for a page of 50 rows and a page of one: none per row, no IN list
    # of every enrolment.
    assert len(first_statements) == len(last_statements) <= 12, first_statements
    assert all(sql.count("%(") < 100 for sql in first_statements), first_statements

    for status, expected in by_status.items():
        executed_sql.clear()
        filtered = client.get(f"/console/learners?status={status}")
        assert filtered.status_code == 200, (status, text_of(filtered)[:500])
        assert f"{expected} enrolment(s)" in text_of(filtered), status
        assert len(row_ids(filtered)) == PAGE_SIZE
        # With a status filter the count comes with the page's ids (every status is computed once).
        assert len(learners_page_statements(executed_sql)) == len(first_statements) - 1, status
        assert {STATUS_OF_REMAINDER[user_id % 10] for user_id in row_ids(filtered)} == {status}

    overdue_page_2 = client.get("/console/learners?status=overdue&page=2")
    assert overdue_page_2.status_code == 200
    assert 'href="/console/learners?status=overdue&amp;page=3"' in overdue_page_2.get_data(as_text=True)
    assert {user_id % 10 for user_id in row_ids(overdue_page_2)} <= {2, 3}
    department = client.get("/console/learners?department=Department+3&status=completed")
    with app.app_context():
        expected = db.session.scalar(
            text("SELECT count(*) FROM users WHERE department = 'Department 3' AND id % 10 = 0")
        )
    assert department.status_code == 200 and 0 < expected < PAGE_SIZE * 100
    assert f"{expected} enrolment(s)" in text_of(department)


def test_the_audit_log_of_sixty_six_thousand_events_verifies_from_its_checkpoint(
    app, client, acme, executed_sql
):
    with app.app_context():
        tenant = db.session.get(Tenant, acme)
        _bulk_audit_chain(tenant)
        db.session.commit()
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302  # one more event
    total = EVENTS + 1

    page = client.get("/console/audit")
    assert page.status_code == 200, text_of(page)[:500]
    assert f"Chain intact: {total} event(s) verified." in text_of(page)  # never verified in full yet

    verified = client.submit("/console/audit", {}, action="/console/audit/verify")
    assert verified.status_code == 303 and verified.headers["Location"] == "/console/audit"
    with app.app_context():
        checkpoint = db.session.get(AuditCheckpoint, acme)
        assert (checkpoint.seq, checkpoint.events) == (total, total)
    executed_sql.clear()
    after = client.get("/console/audit")
    body = text_of(after)
    assert after.status_code == 200
    assert f"The whole chain is intact: {total} event(s) verified." in body
    assert f"Chain intact: {total} event(s) verified in full on" in body
    assert "the 0 newer event(s) extend them" in body
    # From the checkpoint the page reads the events after it, not the whole chain in batches
    # (beside the page of events and the list of event kinds for the filter).
    event_reads = [
        executed.sql
        for executed in of_request(executed_sql, "GET /console/audit")
        if "FROM audit_events" in executed.sql
    ]
    assert len(event_reads) <= 4, event_reads

    with app.app_context():
        audit.record_event(acme, "staff:1", "learner.enrolled", subject=("user", 1), data={"n": -1})
        db.session.commit()
        tampered = db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.tenant_id == acme, AuditEvent.seq == 1_000)
        )
        db.session.execute(
            text("UPDATE audit_events SET data = CAST(:data AS jsonb) WHERE id = :id"),
            {"data": '{"n": 12345, "course": "social-media-orientation", "note": "é"}', "id": tampered},
        )
        db.session.commit()
    newer = text_of(client.get("/console/audit"))
    assert f"Chain intact: {total} event(s) verified in full on" in newer  # the edit is older
    assert "the 1 newer event(s) extend them" in newer

    broken = client.submit("/console/audit", {}, action="/console/audit/verify")
    assert broken.status_code == 303
    flashed = text_of(client.get("/console/audit"))
    assert f"The audit chain is broken: tenant acme: event #{tampered} (seq 1000) was edited" in flashed
    with app.app_context():
        assert db.session.get(AuditCheckpoint, acme).seq == total  # a broken chain moves no checkpoint
    later = text_of(client.get("/console/audit"))  # the finding stays on the page, not only in a flash
    assert "found the audit chain broken" in later and f"event #{tampered} (seq 1000) was edited" in later
    assert "Chain intact" not in later
