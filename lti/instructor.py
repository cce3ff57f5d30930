"""Who may see an LMS course's report: the instructor of the link they launched from."""

from __future__ import annotations

from flask import session
from flask_babel import gettext
from flask_login import current_user

from lti.models import ResourceLink
from training_app.errors import Forbidden
from training_app.extensions import db


def instructor_link() -> ResourceLink:
    """The resource link this session's instructor launched from; Forbidden for anyone else."""
    context = session.get("lti") or {}
    if (
        not current_user.is_authenticated
        or context.get("role") != "instructor"
        or not context.get("resource_link_id")
    ):
        raise Forbidden(
            gettext(
                "Only instructors and administrators can see the course report. Open it from the "
                "training's link in your LMS course."
            )
        )
    link = db.session.get(ResourceLink, context["resource_link_id"])
    if link is None or link.tenant_id != current_user.tenant_id:
        raise Forbidden(gettext("This course report belongs to another organisation."))
    return link
