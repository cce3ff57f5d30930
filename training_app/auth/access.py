"""Who is signed in, and guards for views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import wraps
from typing import Any, TypeVar

from flask import redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import UserMixin, current_user
from sqlalchemy import bindparam, select

from training_app.errors import DomainError, Forbidden
from training_app.extensions import db, login_manager, run_core
from training_app.models import StaffAccount, User

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, eq=False)  # eq: UserMixin's, by get_id (equal to the `User` with this id)
class SignedInLearner(UserMixin):
    """A learner as the pages they are signed in to see them: plain columns, no ORM instance.

    Loaded on every learner request: a Core read of these columns costs much less than an ORM
    `Session.get` of the whole row. A learner has no deactivated state (a removed learner's row is
    gone), so a loaded learner is always active.
    """

    id: int
    tenant_id: int
    name: str
    email: str | None
    locale: str | None
    hire_date: date | None

    is_staff = False

    def get_id(self) -> str:
        return f"learner:{self.id}"


@login_manager.user_loader
def load_identity(identity: str) -> StaffAccount | SignedInLearner | None:
    kind, _sep, raw_id = identity.partition(":")
    if kind == "learner" and raw_id.isdigit():
        return signed_in_learner(int(raw_id))
    if kind == "staff":
        return signed_in_staff(raw_id)
    return None


def signed_in_staff(raw_id: str) -> StaffAccount | None:
    """The account a session names as `<id>:<session version>`; None once that version has
    passed (signed out, deactivated, a new role or password) or for a session without one."""
    account_id, _sep, version = raw_id.partition(":")
    if not (account_id.isdigit() and version.isdigit()) or len(account_id) > 18:
        return None
    account = db.session.get(StaffAccount, int(account_id))
    if account is None or account.session_version != int(version):
        return None
    return account


def signed_in_learner(user_id: int) -> SignedInLearner | None:
    """The learner's row as committed (Core, no autoflush: it is read before a view changes anything)."""
    row = run_core(_SIGNED_IN_LEARNER, {"user_id": user_id}).first()
    return SignedInLearner(*row) if row else None


_users = User.__table__.c
_SIGNED_IN_LEARNER = select(
    _users.id, _users.tenant_id, _users.name, _users.email, _users.locale, _users.hire_date
).where(_users.id == bindparam("user_id"))


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
                        "Your role, %(role)s, can view but not change this. Ask an HR administrator.",
                        role=_(current_user.role_label),
                    )
                )
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def learner_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated or getattr(current_user, "is_staff", True):
            raise not_launched()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def signed_in_learner_id() -> int:
    """The launched learner's id from the signed session cookie, without reading the user row.

    For hot paths whose every query is scoped by this id (a learner has no deactivated state: a
    removed learner's rows are gone with it, so such a path finds nothing and says so).
    """
    kind, raw_id = _session_identity()
    if kind != "learner" or not raw_id.isdigit():
        raise not_launched()
    return int(raw_id)


def _session_identity() -> tuple[str, str]:
    """The kind ("learner", "staff") and id that Flask-Login keeps in the session, unchecked."""
    kind, _sep, raw_id = str(session.get("_user_id", "")).partition(":")
    return kind, raw_id


def shows_staff_navigation() -> bool:
    """Whether the page header shows the console's navigation (templates: `shows_staff_navigation()`).

    A learner's session says what it is by its identity's kind, so their pages (the overview every
    launch lands on) do not load the user row only to hide the staff links.
    """
    if _session_identity()[0] == "learner":
        return False
    return bool(current_user.is_authenticated and current_user.is_staff)


def not_launched() -> DomainError:
    return DomainError(
        _("Open this training from your company's learning platform (LMS) to continue."),
        status=401,
        code="not_launched",
        title=_("Please start from your LMS"),
    )
