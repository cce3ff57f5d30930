"""The certificate links on the learner's course overview."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from certificates.models import Certificate
from courses.hooks import OverviewLink
from courses.models import Completion, Enrolment
from training_app.extensions import db


def certificate_links(enrolment: Enrolment, latest: Completion | None) -> list[OverviewLink]:
    if latest is None or latest.status != "completed":
        return []
    certificate = db.session.scalar(select(Certificate).where(Certificate.completion_id == latest.id))
    if certificate is None or certificate.revoked_at is not None:
        return []
    return [
        OverviewLink(
            _("Download your certificate (PDF)"),
            url_for("certificates.download", certificate_id=certificate.id),
            primary=True,
        ),
        OverviewLink(
            _("Open Badge for your digital wallet"),
            url_for("certificates.credential_jwt", certificate_id=certificate.id),
        ),
        OverviewLink(
            _("Public verification page"), url_for("certificates.verify_page", code=certificate.code)
        ),
    ]
