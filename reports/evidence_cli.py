"""`flask --app wsgi reports verify-evidence FILE.zip`: does an evidence pack still say what it
said when it was signed? Every file's size and SHA-256 against the manifest, no file added, the
manifest's signature by the tenant's key, and each audit event's hash."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
from sqlalchemy import select

from certificates.models import CredentialKey
from reports.cli import reports_cli
from reports.evidence_archive import read_manifest, verify_pack
from training_app import audit
from training_app.extensions import db
from training_app.models import Tenant

KEYS_PATH = "/credentials/keys/"


@reports_cli.command("verify-evidence")
@click.argument("zip_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--jwk",
    "jwk_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The tenant's public key (a JWK, JSON) to check the signature with. By default the key "
    "the pack names is read from this service's database.",
)
def verify_evidence(zip_path: Path, jwk_path: Path | None) -> None:
    """Check an evidence pack: prints OK, or what differs (and exits with status 1)."""
    try:
        manifest = read_manifest(zip_path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise click.ClickException(f"{zip_path} is not an evidence pack: {exc}") from None
    public_jwk = _key_file(jwk_path) if jwk_path else _published_key(manifest)
    result = verify_pack(zip_path, public_jwk, check_event=event_problem)
    if not result.ok:
        for problem in result.problems:
            click.echo(f"DIFFERS: {problem}", err=True)
        raise click.exceptions.Exit(1)
    tenant = (manifest.get("tenant") or {}).get("name")
    click.echo(
        f"OK: {result.files_checked} file(s) match manifest.json, and its signature by {tenant} "
        f"verifies with {public_jwk.get('kid')}."
    )


def _key_file(path: Path) -> dict[str, Any]:
    try:
        key = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.ClickException(f"{path} is not a JWK (JSON): {exc}") from None
    if not isinstance(key, dict):
        raise click.ClickException(f"{path} is not a JWK (a JSON object).")
    return key


def _published_key(manifest: dict[str, Any]) -> dict[str, Any]:
    """The public JWK the manifest names, if this service published it for the pack's tenant."""
    url = str(manifest.get("verification_key_url") or "")
    kid = url.rsplit(KEYS_PATH, 1)[-1] if KEYS_PATH in url else ""
    row = db.session.execute(
        select(CredentialKey.public_jwk, Tenant.slug)
        .join(Tenant, Tenant.id == CredentialKey.tenant_id)
        .where(CredentialKey.kid == kid)
    ).first()
    if row is None:
        raise click.ClickException(
            f"This service has no key {url or '(none named)'}; pass the tenant's public key with --jwk."
        )
    public_jwk, tenant_slug = row
    if tenant_slug != (manifest.get("tenant") or {}).get("slug"):
        raise click.ClickException(f"The key {url} belongs to another tenant than the pack's.")
    return public_jwk


def event_problem(event: dict[str, Any]) -> str | None:
    """Whether an audit event of the pack still hashes to its `hash` (training_app.audit)."""
    try:
        fields = {**event, "occurred_at": datetime.fromisoformat(event["occurred_at"])}
        fields.pop("actor_name", None)
        expected = audit.event_hash(SimpleNamespace(**fields))
    except (KeyError, TypeError, ValueError) as exc:
        return f"cannot be read ({exc})"
    return None if expected == event.get("hash") else "its content does not match its hash"
