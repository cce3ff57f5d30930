"""`flask --app wsgi reports export --format csv|xlsx|jsonl --out FILE --tenant SLUG [filters]`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click
from flask import Flask

from reports import completions, exports
from reports.filters import SORT_FIELDS, BadFilter, parse_filter
from training_app.auth.services import find_tenant
from training_app.cli import TrainingGroup
from training_app.extensions import db

reports_cli = TrainingGroup("reports", help="HR reports: completion exports.")
PROGRESS_STEP = 1_000


@reports_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(tuple(exports.FORMATS)), required=True)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The file to write.",
)
@click.option("--tenant", "tenant_slug", required=True, help="The organisation, e.g. acme.")
@click.option("--course", help="Course slug.")
@click.option("--version", help="Policy version number (of the passed result).")
@click.option("--department", help="The department's name, exactly as stored.")
@click.option("--no-department", help="yes: people without a department.")
@click.option("--manager", help="The manager's email.")
@click.option(
    "--status",
    help="not_started, in_progress, overdue, completed, expiring_soon, ...; "
    "counted: all but waived and ended.",
)
@click.option("--attempts", help="used_up: people out of quiz attempts.")
@click.option("--due-from", help="YYYY-MM-DD (included).")
@click.option("--due-to", help="YYYY-MM-DD (included).")
@click.option("--completed-from", help="YYYY-MM-DD (included).")
@click.option("--completed-to", help="YYYY-MM-DD (included).")
@click.option("--expires-from", help="YYYY-MM-DD (included): when the certificate expires.")
@click.option("--expires-to", help="YYYY-MM-DD (included).")
@click.option("--q", help="Text in the name, email or employee id.")
@click.option("--sort", help=f"One of {', '.join(SORT_FIELDS)}; a - before it for descending.")
def export(fmt: str, out_path: Path, tenant_slug: str, **filters: str | None) -> None:
    """One row per assignment (its current cycle), with the console's filters, and a progress bar.

    The columns are documented in the README ("Exports"). The export is recorded in the audit log.
    """
    tenant = find_tenant(tenant_slug)
    try:
        chosen = parse_filter(filters)
    except BadFilter as refused:
        problems = "; ".join(
            f"--{name.replace('_', '-')}: {problem}" for name, problem in refused.errors.items()
        )
        raise click.UsageError(f"{refused.message} {problems}") from None
    if not out_path.parent.exists():
        raise click.ClickException(f"The folder {out_path.parent} does not exist.")
    scope = completions.scope_for(tenant.id)
    total = completions.count_rows(scope, chosen)
    db.session.commit()  # the rows are read on a connection of their own: hold no lock meanwhile
    query = exports.export_query(scope, chosen, for_spreadsheet=fmt != "jsonl")
    written = _write(fmt, out_path, exports.rows_of(db.engine, query), total)
    exports.record_export(tenant.id, chosen, fmt, written, actor="cli")
    db.session.commit()
    click.echo(f"Wrote {written} row(s) to {out_path}.")


def _write(fmt: str, out_path: Path, rows: Iterable[tuple[Any, ...]], total: int) -> int:
    partial = out_path.with_name(out_path.name + ".part")
    counter = _Counter()
    with click.progressbar(length=total, label="Exporting rows", show_pos=True) as progress:
        counted = counter.count(rows, progress)
        if fmt == "xlsx":
            exports.write_xlsx(counted, str(partial))
        else:
            chunks = exports.csv_chunks(counted) if fmt == "csv" else exports.jsonl_chunks(counted)
            with partial.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
    partial.replace(out_path)  # never leave a half-written file under the requested name
    return counter.rows


class _Counter:
    def __init__(self) -> None:
        self.rows = 0

    def count(self, rows: Iterable[tuple[Any, ...]], progress: Any) -> Iterator[tuple[Any, ...]]:
        for row in rows:
            self.rows += 1
            if self.rows % PROGRESS_STEP == 0:
                progress.update(PROGRESS_STEP)
            yield row
        progress.update(self.rows % PROGRESS_STEP)


def register(app: Flask) -> None:
    app.cli.add_command(reports_cli)
