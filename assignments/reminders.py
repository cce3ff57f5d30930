"""Reminder emails: before the due date, on it, and after it with the manager copied.

At most one email per person per day, listing every assignment of theirs that has a reminder due
that day: a `reminders` row per person and day, inserted once, and an outbox message with the same
key, so a tick run twice, or by two hosts, sends it once. The tick writes both in bulk (a whole
workforce may be due the same day); the worker builds the email from the reminder row when it
sends it, in the person's language (English or Spanish), linking to the training: the LMS
activity when the tenant gave its URL for that course, otherwise the tool's own sign-in page.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import render_template
from flask_babel import force_locale, gettext
from sqlalchemy import Row, bindparam, exists, func, select

from assignments.models import Reminder
from assignments.rules import Rules
from assignments.status import is_open
from courses.models import Course, Enrolment
from training_app import outbox
from training_app.db import chunks, insert_rows_unless_conflict, utcnow
from training_app.errors import N_
from training_app.extensions import db
from training_app.mail import EMAIL_KIND
from training_app.models import Tenant, User
from training_app.outbox import DeliveryError
from training_app.urls import external_url

LMS_LINKS_KEY = "lms_course_urls"  # tenants.settings: {course slug: the LMS activity's URL}
KIND_ORDER = ("after", "due", "before")  # the most urgent kind names the email
BUILDER = "reminder"  # training_app.mail builds the email with build_email
SUBJECTS = {
    "before": N_("Reminder: your social media policy training is due soon"),
    "due": N_("Your social media policy training is due today"),
    "after": N_("Overdue: your social media policy training"),
}


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
    due: dict[int, list[tuple[int, str]]] = defaultdict(list)  # person -> [(assignment, kind)]
    people: dict[int, Row] = {}
    for row in db.session.execute(_OPEN_NOT_REMINDED, {"tenant_id": tenant.id, "now": now, "today": today}):
        kind = kind_for(row.due_at.date(), today, rules)
        if kind is not None:
            due[row.user_id].append((row.enrolment_id, kind))
            people[row.user_id] = row
    if not due:
        return 0
    managers = _manager_emails(
        tenant.id, {p.manager_email.lower() for p in people.values() if p.manager_email}
    )
    reminders = [
        _reminder(tenant.id, people[person_id], items, today, managers) for person_id, items in due.items()
    ]
    insert_rows_unless_conflict(
        db.session.connection(), Reminder.__table__, ("user_id", "sent_on"), reminders
    )
    messages = [
        ({"builder": BUILDER, "key": row["outbox_key"]}, row["outbox_key"], tenant.id) for row in reminders
    ]
    outbox.enqueue_many(EMAIL_KIND, messages)
    return len(reminders)


def _reminder(
    tenant_id: int, person: Row, items: list[tuple[int, str]], today: date, managers: dict[str, str]
) -> dict[str, Any]:
    kind = min((kind for _id, kind in items), key=KIND_ORDER.index)
    manager = managers.get((person.manager_email or "").lower())
    key = f"reminder:{person.user_id}:{today.isoformat()}"
    return {
        "tenant_id": tenant_id,
        "user_id": person.user_id,
        "sent_on": today,
        "kind": kind,
        "enrolment_ids": [enrolment_id for enrolment_id, _kind in items],
        "recipients": {"to": [person.email], "cc": [manager] if kind == "after" and manager else []},
        "outbox_key": key,
        "created_at": utcnow(),
    }


def _manager_emails(tenant_id: int, emails: set[str]) -> dict[str, str]:
    """The managers' addresses as the employees' records name them, for those who are employees."""
    found: dict[str, str] = {}
    for some in chunks(sorted(emails)):
        query = select(_users.c.email).where(
            _users.c.tenant_id == tenant_id, func.lower(_users.c.email).in_(some)
        )
        found.update((email.lower(), email) for email in db.session.scalars(query))
    return found


_users, _enrolments, _courses = User.__table__, Enrolment.__table__, Course.__table__
_reminders = Reminder.__table__
# Open assignments with a due date, of people with an email not reminded yet today: Core rows.
_OPEN_NOT_REMINDED = (
    select(
        _enrolments.c.id.label("enrolment_id"),
        _enrolments.c.due_at,
        _users.c.id.label("user_id"),
        _users.c.email,
        _users.c.manager_email,
    )
    .join(_users, _users.c.id == _enrolments.c.user_id)
    .where(
        _enrolments.c.tenant_id == bindparam("tenant_id"),
        _enrolments.c.due_at.is_not(None),
        _enrolments.c.source != "preview",
        _users.c.email.is_not(None),
        is_open(bindparam("now")),
        ~exists(
            select(_reminders.c.id).where(
                _reminders.c.user_id == _users.c.id, _reminders.c.sent_on == bindparam("today")
            )
        ),
    )
)


# --- building the email when the worker sends it ---------------------------------------------------


def build_email(payload: dict[str, Any]) -> dict[str, Any]:
    """The reminder's email (to, cc, subject, text, html), from its row, in the person's language."""
    reminder = db.session.scalar(select(Reminder).where(Reminder.outbox_key == payload["key"]))
    if reminder is None:
        raise DeliveryError(f"reminder {payload['key']} no longer exists", retry=False)
    person = db.session.get(User, reminder.user_id)
    tenant = db.session.get(Tenant, reminder.tenant_id)
    manager = _manager(tenant.id, reminder.recipients.get("cc") or [])
    courses = _courses(tenant, person, reminder)
    with force_locale(_language(person.locale)):
        context = {
            "person": person,
            "tenant": tenant,
            "courses": courses,
            "kind": reminder.kind,
            "manager": manager,
        }
        return {
            "to": reminder.recipients["to"],
            "cc": reminder.recipients.get("cc") or [],
            "subject": gettext(SUBJECTS[reminder.kind]),
            "text": render_template("assignments/email_reminder.txt", **context),
            "html": render_template("assignments/email_reminder.html", **context),
        }


def _manager(tenant_id: int, cc: list[str]) -> User | None:
    if not cc:
        return None
    return db.session.scalar(
        select(User).where(User.tenant_id == tenant_id, func.lower(User.email) == cc[0].lower())
    )


def _courses(tenant: Tenant, person: User, reminder: Reminder) -> list[dict[str, str]]:
    """Each reminded course with its link: the LMS activity when the tenant gave its URL, otherwise
    the tool's sign-in page for this learner and course."""
    links = (tenant.settings or {}).get(LMS_LINKS_KEY) or {}
    sign_in = external_url("people.sign_in_page", tenant_slug=tenant.slug)
    rows = db.session.execute(
        select(Course.slug, Course.title, Enrolment.due_at)
        .join(Enrolment, Enrolment.course_id == Course.id)
        .where(Enrolment.id.in_(reminder.enrolment_ids[:50]))
        .order_by(Enrolment.due_at)
    )
    return [
        {
            "title": slug_title,
            "due_on": due_at.date().isoformat() if due_at else "",
            "url": links.get(slug) or f"{sign_in}?{urlencode({'email': person.email, 'course': slug})}",
        }
        for slug, slug_title, due_at in rows
    ]


def _language(locale: str | None) -> str:
    language = (locale or "en").replace("_", "-").split("-")[0].lower()
    return language if language in ("en", "es") else "en"
