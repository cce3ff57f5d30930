"""Fault tests: what the product depends on fails (receivers, the LMS, the LRS, SMTP, Redis,
PostgreSQL, its own processes) and nothing is lost. The processes and servers these tests break
are their own: a private Redis, a private PostgreSQL cluster, subprocesses they start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.redis_server import RedisServer


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
