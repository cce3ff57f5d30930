"""Unbound extensions; `create_app` initialises them."""

from collections.abc import Callable
from typing import Any, TypeVar

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import CursorResult, Executable

from training_app.db import Base

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def run_core(
    statement: Executable, params: dict[str, Any] | list[dict[str, Any]] | None = None
) -> CursorResult:
    """Run a Core statement on the request's connection, inside its transaction.

    Half the CPU of `db.session.execute`, which takes every statement through the ORM's execution
    path. It does not autoflush: use it on hot paths where no pending ORM change is read back.
    """
    return db.session.connection().execute(statement, params)


View = TypeVar("View", bound=Callable[..., Any])
AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def without_transaction(view: View) -> View:
    """Mark a view whose statements need no transaction around them: it only reads, or it writes
    with a single statement.

    On PostgreSQL each of its statements then commits on its own (autocommit): no BEGIN and COMMIT
    round trips. Reads lose nothing: under READ COMMITTED every statement of a transaction reads
    its own snapshot anyway. Do not mark a view that writes twice or reads what it then writes.
    """
    view.without_transaction = True  # type: ignore[attr-defined]
    return view
