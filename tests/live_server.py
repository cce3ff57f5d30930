"""The app served over real HTTP on 127.0.0.1 (threaded), for tests that need concurrency or a browser.

One server helper for the whole suite: `tests.lti_platform.LiveServer` (Nagle off, so a keep-alive
request takes no 40 ms stall; a short shutdown poll, so stopping takes no 0.5 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

from tests.lti_platform.live_server import LiveServer


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """The app's base URL while the block runs."""
    with LiveServer(app) as server:
        yield server.url


def learner_session_cookie(app: Flask, user_id: int) -> str:
    """A signed session cookie as a successful launch leaves it (Flask-Login's user id)."""
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.dumps({"_user_id": f"learner:{user_id}", "_fresh": True})
