"""Prometheus metrics at `/metrics`, for the operators' monitoring (OPERATIONS.md: alerts).

What each process counts (prometheus-client): requests and their latency by endpoint, launches,
course results, outbox deliveries and failed delivery attempts by kind. Launches, results and
deliveries are counted when their transaction commits (a rolled-back result is not a completion).
What the database knows is read at scrape time: outbox messages pending, retrying and dead, the
age of the oldest pending one and how late the most overdue one is, by kind; and whether the
database (and Redis, when configured) answered.

Under gunicorn each worker is a process of its own: set PROMETHEUS_MULTIPROC_DIR (an empty folder,
emptied at start by ./gunicorn.conf.py) and every scrape adds up the workers' files, whichever
worker answers it. The outbox worker serves its own counters with `worker --metrics-port`.

`/metrics` is off (404) until METRICS_TOKEN (a bearer token) or METRICS_ALLOWED_NETWORKS (client
networks) is set; when both are, a scrape needs both. A scrape from elsewhere is a 404, a missing
or wrong token a 401.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from flask_babel import gettext as _
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import case, event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from training_app.config import ConfigError
from training_app.db import utcnow
from training_app.errors import FRIENDLY_MESSAGES, error_response
from training_app.extensions import db
from training_app.models import OutboxMessage

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

if multiprocess_dir_at_import := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # In multiprocess mode a metric without labels opens its file in the folder when it is created
    # (here, at import): the folder must exist by then.
    os.makedirs(multiprocess_dir_at_import, exist_ok=True)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "postwise_http_requests",
    "HTTP requests answered, by endpoint, method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "postwise_http_request_duration_seconds",
    "Time from the request's arrival in the app to its response, by endpoint and method.",
    ["endpoint", "method"],
    buckets=LATENCY_BUCKETS,
)
LAUNCHES = Counter(
    "postwise_launches",
    "Launches recorded (an LTI launch once per LMS link every few minutes; a package launch each time).",
)
RESULTS = Counter(
    "postwise_course_results",
    "Course results recorded: status completed (a completion) or failed (the last attempt failed).",
    ["status"],
)
DELIVERIES = Counter("postwise_outbox_deliveries", "Outbox messages delivered, by kind.", ["kind"])
DELIVERY_FAILURES = Counter(
    "postwise_outbox_delivery_failures",
    "Failed outbox delivery attempts, by kind; final=true when the message went to dead letter.",
    ["kind", "final"],
)


# --- counted when the transaction commits ---------------------------------------------------------

_PENDING = "training_metrics_pending"


def count_after_commit(counter: Any, *labels: str) -> None:
    """Increment `counter` (with `labels`) if and when the current unit of work commits."""
    session = db.session()  # the unit of work's Session (db.session is its scoped proxy)
    if not session.in_transaction():
        session.begin()  # what its first statement would do: the count belongs to this transaction
    session.info.setdefault(_PENDING, []).append((counter, labels))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the outer transaction decides
        return
    for counter, labels in session.info.pop(_PENDING, ()):
        (counter.labels(*labels) if labels else counter).inc()


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the unit of work ended without a commit (or after one)
        session.info.pop(_PENDING, None)


def note_result(result: Any) -> None:
    """A result hook (courses.hooks.on_result, wired by the composition root)."""
    count_after_commit(RESULTS, result.status)


def note_launch(_launched: Any) -> None:
    """A launch hook (courses.hooks.on_launched, wired by the composition root)."""
    count_after_commit(LAUNCHES)


def note_delivery_outcome(kind: str, *, delivered: bool, final: bool) -> None:
    """The outbox's outcome of one attempt, counted with the outcome's commit."""
    if delivered:
        count_after_commit(DELIVERIES, kind)
    else:
        count_after_commit(DELIVERY_FAILURES, kind, "true" if final else "false")


# --- requests -------------------------------------------------------------------------------------


def _observe_request(response: Response) -> Response:
    endpoint = request.endpoint or "unmatched"
    method = request.method if request.method in METHODS else "other"
    REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    started = g.get("request_started")  # training_app.logs, the first before_request
    if started is not None:
        LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
    return response


# --- the scrape -----------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def process_registry() -> CollectorRegistry:
    """This process's counters, or every process's when PROMETHEUS_MULTIPROC_DIR is set."""
    path = multiprocess_dir()
    if not path:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return registry


_m = OutboxMessage.__table__
_OUTBOX_STATE = (
    select(
        _m.c.kind,
        _m.c.status,
        func.count(),
        func.sum(case((_m.c.last_error.is_not(None), 1), else_=0)),
        func.min(_m.c.created_at),
        func.min(_m.c.next_try_at),
    )
    .where(_m.c.status.in_(("pending", "dead")))
    .group_by(_m.c.kind, _m.c.status)
)


class _StateCollector:
    """What the database and Redis say at this scrape (the same from every instance: aggregate with
    max, not sum)."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds

    def collect(self) -> Iterator[Metric]:
        database_up = GaugeMetricFamily("postwise_database_up", "1 when this scrape could read the database.")
        try:
            rows = db.session.execute(_OUTBOX_STATE).all()
        except SQLAlchemyError as exc:
            db.session.rollback()
            log.warning("metrics: the database did not answer", extra={"error": str(exc)[:300]})
            database_up.add_metric([], 0)
            yield database_up
            yield from self._redis()
            return
        database_up.add_metric([], 1)
        yield database_up
        yield from self._outbox(rows)
        yield from self._redis()

    def _outbox(self, rows: list[Any]) -> Iterator[Metric]:
        now = utcnow()
        families = {
            "pending": GaugeMetricFamily(
                "postwise_outbox_pending_messages", "Messages waiting for delivery, by kind.", labels=["kind"]
            ),
            "retrying": GaugeMetricFamily(
                "postwise_outbox_retrying_messages",
                "Pending messages whose last attempt failed (their receiver is failing), by kind.",
                labels=["kind"],
            ),
            "dead": GaugeMetricFamily(
                "postwise_outbox_dead_messages",
                "Messages in dead letter (given up; `flask outbox retry ID` sends one again), by kind.",
                labels=["kind"],
            ),
            "age": GaugeMetricFamily(
                "postwise_outbox_oldest_pending_age_seconds",
                "Age of the oldest pending message, by kind (0 when none is pending).",
                labels=["kind"],
            ),
            "lag": GaugeMetricFamily(
                "postwise_outbox_delivery_lag_seconds",
                "How long the most overdue pending message has been due, by kind: the workers' backlog.",
                labels=["kind"],
            ),
        }
        values: dict[str, dict[str, float]] = {name: dict.fromkeys(self.kinds, 0.0) for name in families}
        for kind, status, count, failing, oldest, first_due in rows:
            if status == "dead":
                values["dead"][kind] = count
                continue
            values["pending"][kind] = count
            values["retrying"][kind] = failing or 0
            values["age"][kind] = max(0.0, (now - oldest).total_seconds())
            values["lag"][kind] = max(0.0, (now - first_due).total_seconds())
        for name, family in families.items():
            for kind, value in sorted(values[name].items()):
                family.add_metric([kind], value)
            yield family

    def _redis(self) -> Iterator[Metric]:
        url = current_app.config.get("REDIS_URL")
        if not url:
            return
        redis_up = GaugeMetricFamily("postwise_redis_up", "1 when this scrape could reach Redis (REDIS_URL).")
        redis_up.add_metric([], 1 if _redis_answers(url) else 0)
        yield redis_up


def _redis_answers(url: str) -> bool:
    import redis

    clients = current_app.extensions.setdefault("metrics_redis", {})
    client = clients.get(url)
    if client is None:
        client = clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@bp.get("/metrics")
def scrape():
    """Not `without_transaction`: on PostgreSQL its connection would be taken before the view, and a
    database that does not answer would make the scrape a 503 instead of `postwise_database_up 0`."""
    refusal = _refusal()
    if refusal is not None:
        return refusal
    from training_app import outbox

    registry = CollectorRegistry()
    registry.register(_StateCollector(outbox.registered_kinds()))
    body = generate_latest(process_registry()) + generate_latest(registry)
    response = Response(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)  # see README: version traps
    response.headers["Cache-Control"] = "no-store"
    return response


def _refusal() -> Response | None:
    """None when this scrape may read the metrics; else the 404 or 401 to answer."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    networks = current_app.extensions["metrics_networks"]
    if not token and not networks:
        return error_response(404, _(FRIENDLY_MESSAGES[404]))
    if networks and not _from(request.remote_addr, networks):
        return error_response(404, _(FRIENDLY_MESSAGES[404]))
    if token:
        scheme, _space, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return error_response(
                401, _(FRIENDLY_MESSAGES[401]), headers={"WWW-Authenticate": 'Bearer realm="metrics"'}
            )
    return None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _from(address: str | None, networks: list[Network]) -> bool:
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped:
        client = client.ipv4_mapped
    return any(client in network for network in networks)


def parse_networks(value: Any) -> list[Network]:
    """METRICS_ALLOWED_NETWORKS: a JSON list or a space- or comma-separated string of addresses or
    CIDR networks (`10.0.0.0/8 127.0.0.1`)."""
    if not value:
        return []
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    try:
        return [ipaddress.ip_network(str(item).strip(), strict=False) for item in items]
    except ValueError as exc:
        raise ConfigError(
            f"TRAINING_METRICS_ALLOWED_NETWORKS: {exc}; give addresses or networks such as "
            "10.0.0.0/8 127.0.0.1"
        ) from None


MIN_TOKEN_LENGTH = 16


def init_app(app: Flask) -> None:
    token = app.config.get("METRICS_TOKEN") or ""
    if token and len(str(token)) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"TRAINING_METRICS_TOKEN must be at least {MIN_TOKEN_LENGTH} characters; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    app.extensions["metrics_networks"] = parse_networks(app.config.get("METRICS_ALLOWED_NETWORKS"))
    disable_created_metrics()  # no `_created` series beside each counter (as in multiprocess mode)
    app.after_request(_observe_request)
    app.register_blueprint(bp)


def serve_worker_metrics(port: int, address: str) -> None:
    """The outbox worker's own counters over HTTP (a thread of the worker's process)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=address, registry=process_registry())
