"""`flask --app wsgi training tick`, and HR's assignments from the command line."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask

from assignments import rules as assignment_rules
from assignments import scheduler, services
from training_app import scheduling
from training_app.auth.services import find_tenant
from training_app.cli import TrainingGroup
from training_app.extensions import db

training_cli = TrainingGroup("training", help="The ongoing training: the scheduler's tick.")
assignments_cli = TrainingGroup("assignments", help="Who must complete which course by when.")


@training_cli.command("tick")
@click.option("--now", default=None, help="Evaluate as of this moment (ISO 8601, UTC); default: now.")
def tick(now: str | None) -> None:
    """Assign what came due (hire dates, leaders, refreshers, policy changes) and queue reminders.
    Idempotent; safe to run on several hosts at once."""
    moment = _moment(now)
    report = scheduling.run_tick(moment)
    db.session.commit()
    click.echo(str(report))


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 moment, e.g. 2027-01-15T06:00", param_hint="--now"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@assignments_cli.command("assign")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--course", "course_slug", required=True)
@click.option("--due", "due_on", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.option("--department", default=None)
@click.option("--employee-id", "employee_ids", multiple=True, help="Repeat for several people.")
@click.option("--everyone", is_flag=True)
def assign(
    tenant_slug: str,
    course_slug: str,
    due_on: datetime,
    department: str | None,
    employee_ids: tuple[str, ...],
    everyone: bool,
) -> None:
    """Assign a course to a department, some employees or everyone, due by a date."""
    tenant = find_tenant(tenant_slug)
    request = services.HrAssignment(course_slug, due_on.date(), department, employee_ids, everyone)
    count = services.assign_by_hr(tenant, request, actor="cli")
    db.session.commit()
    click.echo(f"Assigned {course_slug} to {count} person(s), due {due_on.date().isoformat()}.")


@assignments_cli.command("waive")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--assignment", "enrolment_id", required=True, type=int, help="The assignment's id (console).")
@click.option("--reason", required=True)
def waive(tenant_slug: str, enrolment_id: int, reason: str) -> None:
    """Waive the current cycle of an assignment, with a reason (kept in the audit log)."""
    tenant = find_tenant(tenant_slug)
    services.waive(tenant.id, enrolment_id, reason=reason, actor="cli")
    db.session.commit()
    click.echo(f"Assignment {enrolment_id} is waived.")


@assignments_cli.command("rules")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--orientation-due-days", type=int)
@click.option("--refresher-mode", type=click.Choice(assignment_rules.REFRESHER_MODES))
@click.option("--refresher-days-before-expiry", type=int)
@click.option("--refresher-month", type=int)
@click.option("--refresher-due-days", type=int)
@click.option("--refresher-exempt-months", type=int)
@click.option("--leaders-due-days", type=int)
@click.option("--policy-change-grace-days", type=int)
@click.option("--reminders/--no-reminders", "reminders_enabled", default=None)
def rules(tenant_slug: str, **changes: object) -> None:
    """Show the tenant's assignment rules, or change the ones given."""
    tenant = find_tenant(tenant_slug)
    current = (
        assignment_rules.change_rules(tenant, **changes)
        if any(v is not None for v in changes.values())
        else assignment_rules.rules_of(tenant)
    )
    db.session.commit()
    for name, value in vars(current).items():
        click.echo(f"{name}: {value}")


def register(app: Flask) -> None:
    app.cli.add_command(training_cli)
    app.cli.add_command(assignments_cli)
    scheduling.register_tick(scheduler.run_tick)
