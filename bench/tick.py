"""`training tick` over 100,000 employees with their assignments, on PostgreSQL.

Two runs of the tick, against a baseline measured in the same run: one UPDATE touching the same
number of assignment rows.
- first run of a day: every employee's orientation is due in 7 days, today, or 7 days ago, so every
  one of them gets a reminder (an email queued in the outbox, a reminders row);
- a quiet re-run an hour later: nothing new to assign or remind.
Aim: the first run within 10x the baseline, the quiet re-run within 2x.

    .venv/bin/python bench/tick.py [--employees 100000] [--database-url URL]

Needs the local PostgreSQL (127.0.0.1:5432, user postgres, trust auth); its database
`postwise_bench_tick` is dropped and created again.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.database import DEFAULT_URL, fresh_app
from harness.timing import ratio, seconds
from sqlalchemy import func, select, text

from courses.models import Enrolment
from training_app import scheduling
from training_app.extensions import db
from training_app.models import OutboxMessage

NOW = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)


def populate(employees: int) -> int:
    """A tenant, its employees (each with a manager) and their orientation, due so that everyone
    gets a reminder on NOW's day. Returns the tenant's id."""
    tenant_id = db.session.execute(
        text(
            "INSERT INTO tenants (slug, name, settings, audit_seq, audit_head, created_at)"
            " VALUES ('bench', 'Bench Corp', '{}', 0, repeat('0', 64), now()) RETURNING id"
        )
    ).scalar_one()
    course_id = db.session.scalar(text("SELECT id FROM courses WHERE slug = 'social-media-orientation'"))
    params = {"tenant_id": tenant_id, "course_id": course_id, "n": employees, "now": NOW}
    db.session.execute(
        text(
            "INSERT INTO users (tenant_id, issuer, subject, employee_id, email, name, department,"
            " manager_email, hire_date, locale, created_at, updated_at)"
            " SELECT :tenant_id, 'hr', 'E' || i, 'E' || i, 'e' || i || '@bench.example', 'Employee ' || i,"
            " 'Department ' || (i % 40), CASE WHEN i > 50 THEN 'e' || (i % 50 + 1) || '@bench.example' END,"
            " (:now)::date - 365, CASE WHEN i % 3 = 0 THEN 'es' ELSE 'en' END, :now, :now"
            " FROM generate_series(1, :n) AS i"
        ),
        params,
    )
    db.session.execute(
        text(
            "INSERT INTO enrolments (tenant_id, user_id, course_id, source, cycle, enrolled_at,"
            " assigned_at, cycle_key, due_at)"
            " SELECT :tenant_id, id, :course_id, 'hire_rule', 1, :now - interval '30 days',"
            " :now - interval '30 days', 'hire',"
            " date_trunc('day', :now) + interval '23 hours 59 minutes'"
            "   + (ARRAY[interval '7 days', interval '0 days', interval '-7 days'])[id % 3 + 1]"
            " FROM users WHERE tenant_id = :tenant_id"
        ),
        params,
    )
    db.session.execute(text("ANALYZE users, enrolments, completions, lesson_progress"))
    db.session.commit()
    return tenant_id


def baseline(tenant_id: int) -> float:
    def update() -> None:
        db.session.execute(
            text("UPDATE enrolments SET last_lesson_slug = last_lesson_slug WHERE tenant_id = :t"),
            {"t": tenant_id},
        )
        db.session.commit()

    return seconds(update)[0]


def tick(moment: datetime) -> tuple[float, object]:
    def run() -> object:
        report = scheduling.run_tick(moment)
        db.session.commit()
        return report

    return seconds(run)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL.format(name="postwise_bench_tick"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        app = fresh_app(args.database_url, Path(instance))
        with app.app_context():
            print(f"Populating {args.employees:,} employees with their assignments...")
            tenant_id = populate(args.employees)
            update_s = min(baseline(tenant_id) for _ in range(3))
            first_s, first = tick(NOW)
            quiet_s, quiet = tick(NOW + timedelta(hours=1))
            assignments = db.session.scalar(select(func.count()).select_from(Enrolment))
            emails = db.session.scalar(select(func.count()).select_from(OutboxMessage))
            db.engine.dispose()
    print(f"  assignments: {assignments:,}   reminder emails queued: {emails:,}")
    print(f"  baseline: UPDATE of {assignments:,} rows       {update_s:8.2f} s")
    print(f"  first tick of the day ({first})")
    print(
        f"                                       {first_s:8.2f} s   {ratio(first_s, update_s)} (aim <= 10x)"
    )
    print(f"  quiet re-run ({quiet})")
    print(f"                                       {quiet_s:8.2f} s   {ratio(quiet_s, update_s)} (aim <= 2x)")


if __name__ == "__main__":
    main()
