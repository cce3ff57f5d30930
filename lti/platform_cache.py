"""The registration a login or launch names, read with its deployments in one statement and kept by
this process for PLATFORM_CACHE_SECONDS (see find_platform for what that means for correctness).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, has_app_context
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from lti.models import Deployment, Platform
from training_app.extensions import db


@dataclass(frozen=True)
class PlatformRecord:
    """What a launch reads of a registration (a plain copy: no ORM instance, no lazy loads)."""

    id: int
    tenant_id: int
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    token_audience: str | None
    registration: dict[str, Any] | None
    deployment_ids: tuple[str, ...]


# Hot-path statements are built once, on the tables rather than the ORM entities: building a
# statement costs more CPU than running it, and the ORM layer adds to both.
_platforms, _deployments = Platform.__table__.c, Deployment.__table__.c
_PLATFORMS_OF_ISSUER = (
    select(
        _platforms.id,
        _platforms.tenant_id,
        _platforms.issuer,
        _platforms.client_id,
        _platforms.auth_login_url,
        _platforms.auth_token_url,
        _platforms.key_set_url,
        _platforms.token_audience,
        _platforms.registration,
        _deployments.deployment_id,
    )
    .select_from(Platform.__table__.outerjoin(Deployment.__table__))
    .where(_platforms.issuer == bindparam("issuer"))
)


_PLATFORM_OF_CLIENT = _PLATFORMS_OF_ISSUER.where(_platforms.client_id == bindparam("client_id"))


def find_platform(issuer: str, client_id: str | None, *, fresh: bool = False) -> PlatformRecord | None:
    """The registration for this issuer and client id; without a client id, the only one.

    Asked several times per launch (library and tool) and by every login and launch: read with its
    deployments in one statement, then reused for PLATFORM_CACHE_SECONDS by this process.
    What that means for correctness: an unknown registration is never cached, so one just added
    is found at once, and so is a new deployment (find_deployment_by_params reads again before
    refusing one); an edit made by this process is seen at once (flushes that touch registrations
    empty the cache); an edit made by another process or instance (a URL, a deleted registration)
    is seen within PLATFORM_CACHE_SECONDS, as the platform's own keys are within the JWKS cache's
    time. `fresh` reads the database now.
    """
    key = (issuer, client_id)
    memo = g.setdefault("lti_platforms", {})
    if fresh or key not in memo:
        memo[key] = _recent_platform(issuer, client_id, fresh=fresh)
    return memo[key]


PLATFORM_CACHE_SECONDS = 10.0


def _recent_platform(issuer: str, client_id: str | None, *, fresh: bool) -> PlatformRecord | None:
    cache = _platform_cache()
    now = time.monotonic()
    hit = cache.get((issuer, client_id))
    if hit is not None and not fresh and now - hit[0] < PLATFORM_CACHE_SECONDS:
        return hit[1]
    record = _platform_record(issuer, client_id)
    if record is None:
        cache.pop((issuer, client_id), None)
    else:
        cache[(issuer, client_id)] = (now, record)
    return record


def _platform_cache() -> dict[tuple[str, str | None], tuple[float, PlatformRecord]]:
    """Per app (one per process in production; one per test, so tests never share it)."""
    return current_app.extensions.setdefault("lti_recent_platforms", {})


_PLATFORMS_CHANGED = "lti_platforms_changed"


@event.listens_for(Session, "before_flush")
def _forget_changed_platforms(session: Session, _context: Any, _instances: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if has_app_context() and any(isinstance(row, (Platform, Deployment)) for row in changed):
        session.info[_PLATFORMS_CHANGED] = True
        _platform_cache().clear()


@event.listens_for(Session, "after_rollback")
def _forget_platforms_read_in_a_rolled_back_transaction(session: Session) -> None:
    """A registration read after this transaction changed it, and the change did not commit.

    Only then: every error response rolls back, and most never touched a registration.
    """
    if session.info.pop(_PLATFORMS_CHANGED, False) and has_app_context():
        _platform_cache().clear()


@event.listens_for(Session, "after_commit")
def _platform_changes_committed(session: Session) -> None:
    session.info.pop(_PLATFORMS_CHANGED, None)


def _platform_record(issuer: str, client_id: str | None) -> PlatformRecord | None:
    if client_id:
        rows = db.session.execute(_PLATFORM_OF_CLIENT, {"issuer": issuer, "client_id": client_id}).all()
    else:
        rows = db.session.execute(_PLATFORMS_OF_ISSUER, {"issuer": issuer}).all()
    if len({row[0] for row in rows}) != 1:
        return None  # unknown, or several registrations for the issuer and no client id to choose
    deployment_ids = tuple(sorted(row[-1] for row in rows if row[-1] is not None))
    return PlatformRecord(*rows[0][:-1], deployment_ids=deployment_ids)


def issuer_is_registered(issuer: str) -> bool:
    """Whether any registration (any client id) is for this issuer."""
    return db.session.execute(_PLATFORMS_OF_ISSUER.limit(1), {"issuer": issuer}).first() is not None
