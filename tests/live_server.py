"""The app served over real HTTP on 127.0.0.1 (threaded), for tests that need concurrency or a browser."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import make_server


@contextmanager
def serve(app: Flask, host: str = "127.0.0.1") -> Iterator[str]:
    server = make_server(host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def learner_session_cookie(app: Flask, user_id: int) -> str:
    """A signed session cookie as a successful launch leaves it (Flask-Login's user id)."""
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.dumps({"_user_id": f"learner:{user_id}", "_fresh": True})
