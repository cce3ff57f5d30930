"""`gunicorn tests.faults.stalling_wsgi:app`: the real app (wsgi.py), which stops once inside a
graded quiz submission at the point FAULT_STALL_AT names, writes its process id to FAULT_MARK_FILE
and waits there to be killed (tests/faults/test_app_killed.py). The next submission, in the worker
gunicorn starts in its place, runs through: the mark file exists.

- `before_commit`: every statement of the submission has run; the COMMIT has not been sent.
- `after_commit`: the COMMIT has been answered; the response has not been sent.
"""

from __future__ import annotations

import os
import time

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from wsgi import app

POINT = os.environ.get("FAULT_STALL_AT", "")
MARK = os.environ.get("FAULT_MARK_FILE", "")

__all__ = ["app"]


def _stall_here(point: str) -> None:
    if point != POINT or not MARK or not has_request_context():
        return
    if request.method != "POST" or not request.path.startswith("/quiz/attempts/") or os.path.exists(MARK):
        return
    with open(MARK, "w") as mark:
        mark.write(str(os.getpid()))
    time.sleep(600)  # until the test kills this process


@event.listens_for(Engine, "commit")
def _before_commit_is_sent(_connection) -> None:  # SQLAlchemy fires it before the driver's commit
    _stall_here("before_commit")


@event.listens_for(Session, "after_commit")
def _after_commit(_session) -> None:
    _stall_here("after_commit")
