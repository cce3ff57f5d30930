"""Starting a staff member's session, whichever way they proved who they are."""

from __future__ import annotations

import re
from typing import Any

from flask import request, session
from flask_login import login_user

from training_app.audit import record_event
from training_app.auth import services
from training_app.models import StaffAccount

SIGNED_IN_WITH = "signed_in_with"  # "password" or "sso": turning password sign-in off needs "sso"


def start_staff_session(account: StaffAccount, *, method: str, data: dict[str, Any] | None = None) -> None:
    """A new session for the account: nothing from before sign-in carries over (a new CSRF token,
    no sign-in state; session fixation), and its identity names the account's session version, so
    signing out ends it everywhere (StaffAccount.end_sessions)."""
    session.clear()
    login_user(account)
    session[SIGNED_IN_WITH] = method
    services.signed_in(account)
    record_event(
        account.tenant_id,
        f"staff:{account.id}",
        "staff.login",
        subject=("staff", account.id),
        data=data,
        ip_address=request.remote_addr,
    )


def start_learner_session(learner: Any) -> None:
    """Sign a learner in (an LMS launch, an email link, a dispatch package, a continued launch).

    A session that is not already this learner's (nobody's, another learner's, a staff member's)
    is cleared first: nothing planted before the sign-in survives it, not a key and not a CSRF
    token someone else knows (session fixation). The same learner's session is kept, so a tab they
    opened before launching again from the LMS still submits its forms.
    """
    if session.get("_user_id") != learner.get_id():
        session.clear()
    login_user(learner)


def signed_in_with_sso() -> bool:
    return session.get(SIGNED_IN_WITH) == "sso"


# A same-site path: no scheme or host, no backslash (browsers read it as a slash), no control
# character (a CR/LF would split the Location header).
_SAFE_PATH = re.compile(r"/(?![/\\])[^\\\x00-\x1f\x7f]*")


def same_site_path(target: str) -> str | None:
    """The target if it is a path on this site (where to go after signing in), else None."""
    return target if _SAFE_PATH.fullmatch(target) else None
