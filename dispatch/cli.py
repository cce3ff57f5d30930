"""`flask --app wsgi dispatch package|list|rotate|revoke`: SCORM / cmi5 packages for LMSs without LTI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from dispatch import archive, packages
from dispatch.models import FORMATS, LEARNER_ID_KINDS, OPENS_IN, DispatchPackage
from training_app.auth.services import find_tenant
from training_app.cli import TrainingGroup
from training_app.errors import NotFound
from training_app.extensions import db

dispatch_cli = TrainingGroup(
    "dispatch", help="SCORM 1.2 / 2004 and cmi5 packages for LMSs that import a package instead of LTI."
)


@dispatch_cli.command("package")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug (see `tenants list`).")
@click.option("--course", "course_slug", required=True, help="Course slug (see `courses list`).")
@click.option("--format", "package_format", type=click.Choice(FORMATS), required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
@click.option("--lms-name", default="LMS", show_default=True, help="Which LMS it is for, e.g. 'Cornerstone'.")
@click.option("--opens-in", type=click.Choice(OPENS_IN), default="frame", show_default=True)
@click.option(
    "--learner-id",
    "learner_id_is",
    type=click.Choice(LEARNER_ID_KINDS),
    default="employee_id",
    show_default=True,
    help="What the LMS's learner id is: HR's employee id, the learner's email, or an LMS user name.",
)
def package(
    tenant_slug: str,
    course_slug: str,
    package_format: str,
    out: Path,
    lms_name: str,
    opens_in: str,
    learner_id_is: str,
) -> None:
    """Create a package (its own dispatch id and secret) and write its zip."""
    tenant = find_tenant(tenant_slug)
    choice = packages.PackageChoice(course_slug, package_format, lms_name, opens_in, learner_id_is)
    created = packages.create_package(tenant, choice, actor="cli")
    packages.record_download(created, actor="cli")
    out.write_bytes(archive.build_package(created))
    db.session.commit()
    click.echo(
        f"Wrote {out} (dispatch id {created.dispatch_id}). Upload it to the LMS as a SCORM/cmi5 package."
    )


@dispatch_cli.command("list")
@click.option("--tenant", "tenant_slug", required=True)
def list_packages(tenant_slug: str) -> None:
    for each in packages.packages_of(find_tenant(tenant_slug).id):
        state = f"revoked {each.revoked_at:%Y-%m-%d}" if each.revoked_at else "active"
        click.echo(f"{each.dispatch_id}\t{each.format}\t{each.course_slug}\t{each.lms_name}\t{state}")


@dispatch_cli.command("rotate")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--dispatch-id", required=True)
@click.option("--grace-days", type=int, default=packages.DEFAULT_GRACE.days, show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
def rotate(tenant_slug: str, dispatch_id: str, grace_days: int, out: Path) -> None:
    """A new secret; the old package keeps working for the grace period. Writes the new zip."""
    found = _package(tenant_slug, dispatch_id)
    packages.rotate_secret(found, actor="cli", grace=timedelta(days=grace_days))
    packages.record_download(found, actor="cli")
    out.write_bytes(archive.build_package(found))
    db.session.commit()
    click.echo(f"Wrote {out}; the previous package stops working in {grace_days} day(s).")


@dispatch_cli.command("revoke")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--dispatch-id", required=True)
def revoke(tenant_slug: str, dispatch_id: str) -> None:
    """The package stops working at once."""
    packages.revoke(_package(tenant_slug, dispatch_id), actor="cli")
    db.session.commit()
    click.echo(f"Revoked {dispatch_id}.")


def _package(tenant_slug: str, dispatch_id: str) -> DispatchPackage:
    tenant = find_tenant(tenant_slug)
    found = db.session.scalar(
        select(DispatchPackage).where(
            DispatchPackage.tenant_id == tenant.id, DispatchPackage.dispatch_id == dispatch_id
        )
    )
    if found is None:
        raise NotFound(f"{tenant_slug} has no package {dispatch_id}.")
    return found


def register(app: Flask) -> None:
    app.cli.add_command(dispatch_cli)
