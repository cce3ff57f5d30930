"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from collections.abc import Callable

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from training_app.extensions import db

bp = Blueprint("health", __name__)
# Features add what "ready" means for them: a check returns None when ready, else what to do.
ReadinessCheck = Callable[[], "str | None"]
_readiness_checks: list[ReadinessCheck] = []


def register_readiness_check(check: ReadinessCheck) -> None:
    if check not in _readiness_checks:
        _readiness_checks.append(check)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        message = f"database unreachable: {type(exc.orig or exc).__name__}"
        return jsonify(status="unavailable", database="unreachable", message=message), 503
    expected = _migration_heads()
    if current != expected:
        return jsonify(
            status="unavailable",
            database="reachable",
            migrations={"current": sorted(current), "head": sorted(expected)},
            message="database schema is not at the latest migration; run `flask --app wsgi db upgrade`",
        ), 503
    problems = [problem for problem in (check() for check in _readiness_checks) if problem]
    if problems:
        return jsonify(
            status="unavailable", database="reachable", migrations="at head", message="; ".join(problems)
        ), 503
    return jsonify(status="ok", database="reachable", migrations="at head")


def _migration_heads() -> set[str]:
    heads = current_app.extensions.get("training_migration_heads")
    if heads is None:
        config = current_app.extensions["migrate"].migrate.get_config()
        heads = set(ScriptDirectory.from_config(config).get_heads())
        current_app.extensions["training_migration_heads"] = heads
    return heads
