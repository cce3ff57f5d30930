"""`flask --app wsgi feeds run --tenant SLUG [--feed NAME]`, `feeds backfill --tenant SLUG` and
`feeds list --tenant SLUG`."""

from __future__ import annotations

import click
from flask import Flask

from feeds import lrs_settings, sftp_runs, sftp_settings
from feeds.models import SftpRun
from training_app.auth.services import find_tenant
from training_app.cli import TrainingGroup
from training_app.errors import NotFound
from training_app.extensions import db

feeds_cli = TrainingGroup("feeds", help="Completion feeds: SFTP files (and the LRS's health).")


@feeds_cli.command("run")
@click.option("--tenant", "tenant_slug", required=True, help="The organisation, e.g. acme.")
@click.option("--feed", "feed_name", help="One feed by name; every feed of the tenant that is on otherwise.")
def run(tenant_slug: str, feed_name: str | None) -> None:
    """Send the feed's file now (a failure stays queued: the worker retries it)."""
    tenant = find_tenant(tenant_slug)
    if feed_name:
        feed = sftp_settings.feed_named(tenant.id, feed_name)
        if feed is None:
            raise NotFound(f"{tenant.slug} has no SFTP feed named {feed_name!r}.")
        feeds = [feed]
    else:
        feeds = [feed for feed in sftp_settings.feeds_of(tenant.id) if feed.enabled]
    runs = [sftp_settings.run_now(feed, actor="cli", trigger="cli") for feed in feeds]
    db.session.commit()
    failed = 0
    for run_id in [run.id for run in runs]:
        found = db.session.get(SftpRun, run_id)
        sftp_runs.send_now(found)
        found = db.session.get(SftpRun, run_id)
        if found.status == "delivered":
            click.echo(
                f"{found.file_name}: sent, {found.rows} row(s), {found.bytes} bytes, sha256 {found.sha256}"
            )
        else:
            failed += 1
            click.echo(f"{found.file_name}: {found.status}: {found.error}", err=True)
    if not runs:
        click.echo("No SFTP feed is on for this tenant.")
    if failed:
        raise SystemExit(1)


@feeds_cli.command("backfill")
@click.option("--tenant", "tenant_slug", required=True, help="The organisation, e.g. acme.")
def backfill_lrs(tenant_slug: str) -> None:
    """Send the tenant's earlier records to its learning record store (the outbox worker sends
    them; statements already sent are skipped)."""
    tenant = find_tenant(tenant_slug)
    lrs_settings.send_earlier_records(tenant, staff_id=None, ip_address=None)
    db.session.commit()
    click.echo(
        f"Earlier records of {tenant.slug} are queued for its learning record store; the worker sends them."
    )


@feeds_cli.command("list")
@click.option("--tenant", "tenant_slug", required=True)
def list_feeds(tenant_slug: str) -> None:
    tenant = find_tenant(tenant_slug)
    last = sftp_settings.last_runs(tenant.id)
    for feed in sftp_settings.feeds_of(tenant.id):
        run = last.get(feed.id)
        state = f"last run {run.status} {run.created_at:%Y-%m-%d %H:%M}Z" if run else "no run yet"
        click.echo(
            f"{feed.name}\t{'on' if feed.enabled else 'off'}\t{feed.username}@{feed.host}:{feed.port}"
            f"\t{feed.time_of_day} {feed.time_zone}\t{feed.file_format}/{feed.content}\t{state}"
        )


def register(app: Flask) -> None:
    app.cli.add_command(feeds_cli)
