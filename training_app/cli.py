"""Command-line interface: `flask --app wsgi <group> <command>`. Each command is one transaction."""

from __future__ import annotations

import signal
from datetime import timedelta
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from training_app import api_tokens, audit, audit_verification, metrics, outbox, scheduling
from training_app.auth import services as accounts
from training_app.db import utcnow
from training_app.errors import DomainError
from training_app.extensions import db
from training_app.models import STAFF_ROLES, OutboxMessage, Tenant


class TrainingGroup(AppGroup):
    """Turns domain and database errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as exc:  # the command's app context has already rolled back
            raise click.ClickException(exc.message) from None
        except OperationalError as exc:
            raise click.ClickException(database_unreachable_message(exc)) from None


def database_unreachable_message(exc: OperationalError) -> str:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return (
        f"cannot use the database ({reason}). Check DATABASE_URL and that the database "
        "server is running, then run `flask --app wsgi db upgrade`."
    )


tenants_cli = TrainingGroup("tenants", help="Organisations using the service.")
users_cli = TrainingGroup("users", help="HR and administrator accounts.")
outbox_cli = TrainingGroup("outbox", help="Messages waiting to leave the process.")
audit_cli = TrainingGroup("audit", help="The tamper-evident audit log.")
demo_cli = TrainingGroup("demo", help="Demonstration data.")
api_tokens_cli = TrainingGroup("api-tokens", help="Tokens for the REST API and SCIM (HR systems, IdPs).")


@tenants_cli.command("create")
@click.option("--slug", required=True, help="Short name, e.g. acme.")
@click.option("--name", required=True, help="Display name, e.g. 'Acme Corporation'.")
def create_tenant(slug: str, name: str) -> None:
    tenant = accounts.create_tenant(slug, name)
    db.session.commit()
    click.echo(f"Created tenant {tenant.slug} ({tenant.name}).")


@tenants_cli.command("list")
def list_tenants() -> None:
    for tenant in db.session.scalars(select(Tenant).order_by(Tenant.slug)):
        click.echo(f"{tenant.slug}\t{tenant.name}")


@users_cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug (see `tenants list`).")
@click.option("--role", type=click.Choice(STAFF_ROLES), default="hr_admin", show_default=True)
@click.option("--name", default="")
@click.option("--generate-password", is_flag=True, help="Generate a password and print it once.")
def create_admin(email: str, tenant_slug: str, role: str, name: str, generate_password: bool) -> None:
    """Create a staff account; prompts for its password unless --generate-password."""
    tenant = accounts.find_tenant(tenant_slug)
    if generate_password:
        password = accounts.generate_password()
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    account = accounts.create_staff(tenant, email, password, role=role, name=name)
    audit.record_event(
        tenant.id,
        "cli",
        "staff.created",
        subject=("staff", account.id),
        data={"email": account.email, "role": role},
    )
    db.session.commit()
    click.echo(f"Created {role} {account.email} for tenant {tenant.slug}.")
    if generate_password:
        click.echo(f"Password (shown once): {password}")


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--poll-interval", default=1.0, show_default=True, help="Seconds between polls when idle.")
@click.option("--batch", default=None, type=int, help="Messages claimed per round.")
@click.option(
    "--tick-every", default=None, help="Also run `training tick` this often (e.g. 15m, 1h); off by default."
)
@click.option(
    "--metrics-port", default=None, type=int, help="Serve this worker's Prometheus counters on this port."
)
@click.option("--metrics-address", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
def worker_command(
    once: bool,
    poll_interval: float,
    batch: int | None,
    tick_every: str | None,
    metrics_port: int | None,
    metrics_address: str,
) -> None:
    """Deliver outbox messages (LMS grades, webhooks, xAPI, email) until stopped."""
    try:
        tick_seconds = scheduling.parse_interval(tick_every) if tick_every else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tick-every") from None
    if metrics_port is not None:
        try:
            metrics.serve_worker_metrics(metrics_port, metrics_address)
        except OSError as exc:
            raise click.BadParameter(
                f"cannot listen there: {exc.strerror}", param_hint="--metrics-port"
            ) from None
    stopping = {"now": False}

    def request_stop(*_args: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        delivered = outbox.run_worker(
            once=once,
            poll_interval=poll_interval,
            batch=batch,
            stop=lambda: stopping["now"],
            periodic=(tick_seconds, scheduling.run_tick) if tick_seconds else None,
        )
    except OperationalError as exc:
        raise click.ClickException(database_unreachable_message(exc)) from None
    click.echo(f"Worker stopped after delivering {delivered} message(s).")


@outbox_cli.command("list")
@click.option(
    "--status", type=click.Choice(["pending", "delivered", "dead"]), default="dead", show_default=True
)
@click.option("--limit", default=50, show_default=True)
def list_messages(status: str, limit: int) -> None:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == status)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    for message in db.session.scalars(query):
        click.echo(
            f"#{message.id}\t{message.kind}\tattempts={message.attempts}\t"
            f"{message.idempotency_key}\t{(message.last_error or '')[:120]}"
        )
    counts = outbox.counts_by_status()
    click.echo("Totals: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) if counts else "Empty.")


@outbox_cli.command("retry")
@click.argument("message_id", type=int)
def retry_message(message_id: int) -> None:
    """Put a dead message back in the queue with a fresh set of attempts."""
    message = outbox.retry_dead(message_id)
    db.session.commit()
    click.echo(f"Message #{message.id} ({message.kind}) is pending again.")


@audit_cli.command("verify")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (default: all).")
def verify_audit(tenant_slug: str | None) -> None:
    """Walk each tenant's hash chain; exit 1 naming the first row that was tampered with."""
    tenants = (
        [accounts.find_tenant(tenant_slug)]
        if tenant_slug
        else list(db.session.scalars(select(Tenant).order_by(Tenant.slug)))
    )
    broken = False
    for tenant in tenants:
        report = audit_verification.verify_chain(tenant)
        if report.problem:
            broken = True
            click.echo(f"TAMPERED {report.problem}", err=True)
        else:
            click.echo(f"ok tenant {tenant.slug}: {report.events} event(s), chain intact")
    db.session.commit()  # the checkpoints of the intact chains
    if broken:
        raise SystemExit(1)


@demo_cli.command("load")
def load_demo() -> None:
    """Create (or refresh) demonstration tenants, staff, learners and training records."""
    from training_app import demo

    summary = demo.load()
    db.session.commit()
    for line in summary:
        click.echo(line)


@api_tokens_cli.command("create")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug (see `tenants list`).")
@click.option("--scope", type=click.Choice(api_tokens.SCOPES), required=True, help="read, write or scim.")
@click.option("--expires", default="90d", show_default=True, help="Lifetime, e.g. 30d, 90d, 365d.")
@click.option("--name", default=None, help="What uses it, e.g. 'Workday' (default: scope and date).")
def create_api_token(tenant_slug: str, scope: str, expires: str, name: str | None) -> None:
    """Create a token and print its secret once (only its hash is stored)."""
    try:
        lifetime = timedelta(seconds=scheduling.parse_interval(expires))
    except ValueError:
        message = f"{expires!r} is not a lifetime; write for example 30d or 90d"
        raise click.BadParameter(message, param_hint="--expires") from None
    tenant = accounts.find_tenant(tenant_slug)
    name = name or f"{scope} token {utcnow():%Y-%m-%d}"
    issued = api_tokens.issue_token(tenant, name=name, scope=scope, expires_in=lifetime, actor="cli")
    db.session.commit()
    token = issued.token
    click.echo(
        f"Created API token {token.id} ({token.name}, scope {scope}) for tenant {tenant.slug}, "
        f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    click.echo(f"Secret (shown once): {issued.secret}")


@api_tokens_cli.command("list")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug (see `tenants list`).")
def list_api_tokens(tenant_slug: str) -> None:
    """id, name, scope, status, prefix, expiry and last use of the tenant's tokens (never secrets)."""
    tenant = accounts.find_tenant(tenant_slug)
    tokens = api_tokens.tokens_of(tenant.id)
    for token in tokens:
        last_used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(
            f"{token.id}\t{token.name}\t{token.scope}\t{token.status()}\t{token.shown_prefix}...\t"
            f"expires {token.expires_at:%Y-%m-%d}\tlast used {last_used}"
        )
    if not tokens:
        click.echo(f"Tenant {tenant.slug} has no API tokens.")


@api_tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_api_token(token_id: int) -> None:
    """Revoke a token now: its next request is refused (401)."""
    token = api_tokens.revoke_token(token_id, tenant_id=None, actor="cli")
    db.session.commit()
    click.echo(f"Revoked API token {token.id} ({token.name}).")


def register(app: Flask) -> None:
    for group in (tenants_cli, users_cli, outbox_cli, audit_cli, demo_cli, api_tokens_cli):
        app.cli.add_command(group)
    app.cli.add_command(worker_command)
