"""`flask --app wsgi employees import FILE.csv --tenant SLUG [--dry-run]`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from people import services
from people.errors import ImportRefused
from training_app.auth.services import find_tenant
from training_app.cli import TrainingGroup
from training_app.extensions import db

employees_cli = TrainingGroup("employees", help="Employees from HR.")


@employees_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_slug", required=True, help="The organisation, e.g. acme.")
@click.option("--dry-run", is_flag=True, help="Check the file and say what it would do; change nothing.")
def import_employees(file: Path, tenant_slug: str, dry_run: bool) -> None:
    """Create, update and end employees from HR's CSV file (checked whole: a bad file changes nothing)."""
    tenant = find_tenant(tenant_slug)
    try:
        result = services.import_employees(tenant, file.read_bytes(), dry_run=dry_run, actor="cli")
    except ImportRefused as refused:
        db.session.rollback()
        for line in refused.lines():
            click.echo(f"{file.name}: {line}", err=True)
        raise click.ClickException(refused.message) from None
    summary = result.plan.summary()
    verb = "Would create" if dry_run else "Created"
    click.echo(
        f"{verb} {summary['created']}, {'would change' if dry_run else 'changed'} {summary['changed']} "
        f"(of which {summary['ended']} leaving), {summary['unchanged']} unchanged, from {result.rows} row(s)."
    )
    for record in result.plan.created[:20] if dry_run else []:
        click.echo(f"  new: {record.employee_id} {record.name} <{record.email}>")
    for user, _record, changes in result.plan.changed[:20] if dry_run else []:
        described = ", ".join(f"{name}: {before!r} -> {after!r}" for name, (before, after) in changes.items())
        click.echo(f"  change {user.employee_id}: {described}")
    if dry_run:
        db.session.rollback()
        click.echo("Dry run: nothing was changed.")
    else:
        db.session.commit()


def register(app: Flask) -> None:
    app.cli.add_command(employees_cli)
