"""`flask --app wsgi certificates export --out FILE.zip [filters]`."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app

from certificates import services
from training_app.auth.services import find_tenant
from training_app.cli import TrainingGroup

certificates_cli = TrainingGroup("certificates", help="Certificates: bulk export.")


@certificates_cli.command("export")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ZIP file to write.",
)
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--course", default=None, help="Course slug.")
@click.option("--department", default=None)
@click.option("--status", type=click.Choice(["valid", "expired", "revoked"]), default=None)
@click.option("--issued-from", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--issued-to", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Exclusive.")
def export(
    out_path: Path,
    tenant_slug: str,
    course: str | None,
    department: str | None,
    status: str | None,
    issued_from: datetime | None,
    issued_to: datetime | None,
) -> None:
    """Every matching certificate as a PDF in one ZIP, with a progress bar."""
    tenant = find_tenant(tenant_slug)
    filters = services.CertificateFilter(
        course=course,
        department=department,
        status=status,
        issued_from=issued_from.replace(tzinfo=UTC) if issued_from else None,
        issued_to=issued_to.replace(tzinfo=UTC) if issued_to else None,
    )
    certificates = services.certificates_of(tenant.id, filters)
    if not certificates:
        raise click.ClickException("No certificate matches these filters; nothing was written.")
    if not out_path.parent.exists():
        raise click.ClickException(f"The folder {out_path.parent} does not exist.")
    with current_app.test_request_context(
        base_url=current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000"
    ):
        write_zip(out_path, certificates)
    click.echo(f"Wrote {len(certificates)} certificate(s) to {out_path}.")


def write_zip(out_path: Path, certificates: list) -> None:
    partial = out_path.with_suffix(out_path.suffix + ".part")
    branding = services.branding_for(certificates[0].tenant_id)
    with (
        zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive,
        click.progressbar(certificates, label="Rendering certificates", show_pos=True) as progress,
    ):
        for certificate in progress:
            archive.writestr(services.filename_of(certificate), services.pdf_of(certificate, branding))
    partial.replace(out_path)  # never leave a half-written ZIP under the requested name


def register(app: Flask) -> None:
    app.cli.add_command(certificates_cli)
