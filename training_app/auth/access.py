"""Who is signed in, and guards for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from training_app.errors import DomainError, Forbidden
from training_app.extensions import db, login_manager
from training_app.models import StaffAccount, User

F = TypeVar("F", bound=Callable[..., Any])


@login_manager.user_loader
def load_identity(identity: str) -> StaffAccount | User | None:
    kind, _sep, raw_id = identity.partition(":")
    if not raw_id.isdigit():
        return None
    model = {"staff": StaffAccount, "learner": User}.get(kind)
    return db.session.get(model, int(raw_id)) if model else None


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/") or request.is_json:
        raise DomainError(_("Sign in first."), status=401, code="unauthorized")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def staff_required(role: str | None = None) -> Callable[[F], F]:
    """Only signed-in staff; with `role="hr_admin"`, only those who may change things."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated or not getattr(current_user, "is_staff", False):
                return _unauthorized()
            if role and current_user.role != role:
                raise Forbidden(
                    _(
                        "Your role (%(role)s) can view but not change this. Ask an HR administrator.",
                        role=current_user.role,
                    )
                )
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def learner_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated or getattr(current_user, "is_staff", True):
            raise _not_launched()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def signed_in_learner_id() -> int:
    """The launched learner's id from the signed session cookie, without reading the user row.

    For hot paths whose every query is scoped by this id (a learner has no deactivated state: a
    removed learner's rows are gone with it, so such a path finds nothing and says so).
    """
    kind, _sep, raw_id = str(session.get("_user_id", "")).partition(":")
    if kind != "learner" or not raw_id.isdigit():
        raise _not_launched()
    return int(raw_id)


def _not_launched() -> DomainError:
    return DomainError(
        _("Open this training from your company's learning platform (LMS) to continue."),
        status=401,
        code="not_launched",
        title=_("Please start from your LMS"),
    )
