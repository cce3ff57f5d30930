"""Learner sign-in without an LMS: a one-time link sent by email.

For reminders, and for companies with no LMS link for a course. The learner types their work email
on their organisation's sign-in page; if it is a current employee's, a link is emailed that works
once, for 30 minutes (signed by being unguessable: 256 random bits, stored only as its SHA-256).
The page answers the same whether or not the address is known. Services flush and never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import render_template
from flask_babel import force_locale, gettext
from sqlalchemy import bindparam, func, select, update

from people.errors import SignInRefused
from people.models import SignInLink
from training_app import audit
from training_app.db import utcnow
from training_app.extensions import db
from training_app.mail import enqueue_email
from training_app.models import Tenant, User
from training_app.urls import external_url

LINK_LIFETIME = timedelta(minutes=30)


def request_link(tenant: Tenant, email: str, course_slug: str | None) -> None:
    """Email a sign-in link to this address if it is a current employee's; nothing otherwise."""
    person = db.session.scalar(
        select(User)
        .where(User.tenant_id == tenant.id, func.lower(User.email) == email.strip().lower())
        .where((User.end_date.is_(None)) | (User.end_date >= utcnow().date()))
        .order_by(User.employee_id.is_(None), User.id)
        .limit(1)
    )
    if person is None:
        return
    token = secrets.token_urlsafe(32)
    link = SignInLink(
        tenant_id=tenant.id,
        user_id=person.id,
        token_hash=_digest(token),
        course_slug=course_slug,
        expires_at=utcnow() + LINK_LIFETIME,
    )
    db.session.add(link)
    db.session.flush()
    _send(tenant, person, token, link.id)


def _send(tenant: Tenant, person: User, token: str, link_id: int) -> None:
    url = external_url("people.use_sign_in_link", token=token)
    with force_locale(_language(person.locale)):
        subject = gettext("Your sign-in link for the %(organisation)s training", organisation=tenant.name)
        context = {
            "person": person,
            "tenant": tenant,
            "url": url,
            "minutes": int(LINK_LIFETIME.total_seconds() // 60),
        }
        text = render_template("people/email_sign_in.txt", **context)
        html = render_template("people/email_sign_in.html", **context)
    enqueue_email(
        tenant_id=tenant.id,
        to=[person.email],
        subject=subject,
        text=text,
        html=html,
        key=f"sign-in-link:{link_id}",
    )


def use_link(token: str) -> SignInLink:
    """The link, used now; SignInRefused if it is unknown, expired or already used (even by a
    concurrent request: the update takes it once)."""
    now = utcnow()
    used = db.session.execute(_USE_ONCE, {"digest": _digest(token), "now": now}).rowcount
    link = db.session.scalar(select(SignInLink).where(SignInLink.token_hash == _digest(token)))
    if not used or link is None:
        raise SignInRefused()
    audit.record_event(
        link.tenant_id,
        f"learner:{link.user_id}",
        "learner.signed_in_by_email",
        subject=("user", link.user_id),
    )
    return link


def peek(token: str) -> SignInLink | None:
    """The link if it can still be used (for the confirmation page, which changes nothing)."""
    link = db.session.scalar(select(SignInLink).where(SignInLink.token_hash == _digest(token)))
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    return link


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _language(locale: str | None) -> str:
    language = (locale or "en").replace("_", "-").split("-")[0].lower()
    return language if language in ("en", "es") else "en"


_links = SignInLink.__table__
_USE_ONCE = (
    update(_links)
    .where(
        _links.c.token_hash == bindparam("digest"),
        _links.c.used_at.is_(None),
        _links.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
)
