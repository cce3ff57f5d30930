"""Reminder emails: before the due date, on it, and after it with the manager copied.

At most one email per person per day, listing every assignment of theirs that has a reminder due
that day (a `reminders` row per person and day, inserted once; its email is an outbox message with
the same key, so a tick run twice, or by two hosts, sends it once). The email is in the person's
language (English or Spanish) and links to the training: the LMS activity when the tenant gave its
URL for that course, otherwise the tool's own sign-in page for the learner.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from flask import render_template
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from assignments.models import Reminder
from assignments.rules import Rules
from assignments.status import OPEN_STATUSES, status_column
from courses.models import Course, Enrolment
from training_app.db import chunks, insert_unless_conflict
from training_app.extensions import db
from training_app.mail import enqueue_email
from training_app.models import Tenant, User
from training_app.urls import external_url

LMS_LINKS_KEY = "lms_course_urls"  # tenants.settings: {course slug: the LMS activity's URL}
KIND_ORDER = ("after", "due", "before")  # the most urgent kind names the email


@dataclass(frozen=True)
class Due:
    enrolment_id: int
    course_slug: str
    course_title: str
    due_on: date
    kind: str  # before | due | after


def kind_for(due_on: date, today: date, rules: Rules) -> str | None:
    """Which reminder, if any, an assignment due on `due_on` gets `today`."""
    days = (due_on - today).days
    if days > 0:
        return "before" if days in rules.reminder_days_before else None
    if days == 0:
        return "due"
    every = rules.reminder_every_days_after
    return "after" if every and (-days) % every == 0 else None


def send_due(tenant: Tenant, rules: Rules, now: datetime) -> int:
    """Queue today's reminders for the tenant; how many emails were queued now."""
    today = now.date()
    by_person: dict[int, list[Due]] = defaultdict(list)
    people: dict[int, User] = {}
    for enrolment_id, due_at, slug, title, person in _open_assignments(tenant.id, rules, now):
        kind = kind_for(due_at.date(), today, rules)
        if kind is not None:
            by_person[person.id].append(Due(enrolment_id, slug, title, due_at.date(), kind))
            people[person.id] = person
    managers = _managers(tenant.id, {p.manager_email.lower() for p in people.values() if p.manager_email})
    sent = 0
    for person_id, items in by_person.items():
        sent += _remind(tenant, people[person_id], items, today, managers)
    return sent


def _open_assignments(tenant_id: int, rules: Rules, now: datetime):
    status = status_column(now, rules.expiring_soon_days)
    return db.session.execute(
        select(Enrolment.id, Enrolment.due_at, Course.slug, Course.title, User)
        .join(Course, Course.id == Enrolment.course_id)
        .join(User, User.id == Enrolment.user_id)
        .where(
            Enrolment.tenant_id == tenant_id,
            Enrolment.due_at.is_not(None),
            Enrolment.source != "preview",
            User.email.is_not(None),
            status.in_(OPEN_STATUSES),
        )
    ).all()


def _managers(tenant_id: int, emails: set[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for some in chunks(sorted(emails)):
        rows = db.session.scalars(
            select(User).where(User.tenant_id == tenant_id, func.lower(User.email).in_(some))
        )
        found.update((person.email.lower(), person) for person in rows)
    return found


def _remind(tenant: Tenant, person: User, items: list[Due], today: date, managers: dict[str, User]) -> int:
    kind = min((item.kind for item in items), key=KIND_ORDER.index)
    manager = managers.get((person.manager_email or "").lower())
    cc = [manager.email] if kind == "after" and manager is not None and manager.email else []
    key = f"reminder:{person.id}:{today.isoformat()}"
    row = {
        "tenant_id": tenant.id,
        "user_id": person.id,
        "sent_on": today,
        "kind": kind,
        "enrolment_ids": [item.enrolment_id for item in items],
        "recipients": {"to": [person.email], "cc": cc},
        "outbox_key": key,
    }
    inserted = db.session.execute(_INSERT_ONCE, row).first()
    if inserted is None:  # today's reminder for this person is already queued
        return 0
    subject, text, html = _email(tenant, person, items, kind, manager)
    enqueue_email(
        tenant_id=tenant.id, to=[person.email], cc=cc, subject=subject, text=text, html=html, key=key
    )
    return 1


_INSERT_ONCE = insert_unless_conflict(Reminder.__table__, "user_id", "sent_on").returning(
    Reminder.__table__.c.id
)


def _email(
    tenant: Tenant, person: User, items: list[Due], kind: str, manager: User | None
) -> tuple[str, str, str]:
    links = (tenant.settings or {}).get(LMS_LINKS_KEY) or {}
    courses = [
        {
            "title": item.course_title,
            "due_on": item.due_on.isoformat(),
            "kind": item.kind,
            "url": links.get(item.course_slug)
            or external_url(
                "people.sign_in_page", tenant_slug=tenant.slug, email=person.email, course=item.course_slug
            ),
        }
        for item in sorted(items, key=lambda item: item.due_on)
    ]
    language = _language(person.locale)
    with force_locale(language):
        subjects = {
            "before": gettext("Reminder: your social media policy training is due soon"),
            "due": gettext("Your social media policy training is due today"),
            "after": gettext("Overdue: your social media policy training"),
        }
        context = {"person": person, "tenant": tenant, "courses": courses, "kind": kind, "manager": manager}
        text = render_template("assignments/email_reminder.txt", **context)
        html = render_template("assignments/email_reminder.html", **context)
        return subjects[kind], text, html


def _language(locale: str | None) -> str:
    language = (locale or "en").replace("_", "-").split("-")[0].lower()
    return language if language in ("en", "es") else "en"
