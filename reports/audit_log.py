"""The audit log as HR reads it: filtered by who, what, when and subject, with people's names
instead of `staff:1`. Every query is scoped to the signed-in staff's tenant."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import gettext, lazy_gettext
from sqlalchemy import Select, select

from training_app import api_tokens, audit
from training_app.errors import ValidationFailed
from training_app.extensions import db
from training_app.models import AuditEvent, StaffAccount, User

PAGE_SIZE = 50
MAX_TEXT = 100
NAMED_ACTORS = {
    "anonymous": lazy_gettext("Not signed in"),
    "cli": lazy_gettext("Command line"),
    "rules": lazy_gettext("Assignment rules"),
    "scheduler": lazy_gettext("Scheduler (training tick)"),
    "demo": lazy_gettext("Demo data"),
    "system": lazy_gettext("System"),
}


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # "staff:3", "learner:7", "token:2", or one of NAMED_ACTORS
    action: str | None = None
    since: date | None = None
    until: date | None = None
    subject_type: str | None = None
    subject_id: str | None = None

    def args(self) -> dict[str, str]:
        """The filter as URL query arguments (for links to other pages of the same view)."""
        values = {
            "actor": self.actor,
            "action": self.action,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
        }
        return {name: value for name, value in values.items() if value}


def parse_filter(args: Mapping[str, str]) -> AuditFilter:
    """The filter from the URL; ValidationFailed (400) naming each argument that is not right."""
    errors: dict[str, str] = {}
    texts = {
        name: (args.get(name) or "").strip() or None
        for name in ("actor", "action", "subject_type", "subject_id")
    }
    for name, value in texts.items():
        if value and len(value) > MAX_TEXT:
            errors[name] = gettext("at most %(n)d characters", n=MAX_TEXT)
    since, until = _date(args, "since", errors), _date(args, "until", errors)
    if since and until and since > until:
        errors["until"] = gettext("on or after the 'from' date")
    if texts["subject_id"] and not texts["subject_type"]:
        errors["subject_type"] = gettext("choose the kind of subject for that id")
    if errors:
        raise ValidationFailed(
            gettext("Some filters are not right: %(problems)s.", problems=_listed(errors)),
            errors=errors,
            status=400,
        )
    return AuditFilter(since=since, until=until, **texts)


LAST_DAY = date(9999, 12, 30)  # "until" ends at the next midnight, which must exist


def _date(args: Mapping[str, str], name: str, errors: dict[str, str]) -> date | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors[name] = gettext("a date like 2027-03-31")
        return None
    if day > LAST_DAY:
        errors[name] = gettext("a day up to 9999-12-30")
        return None
    return day


def _listed(errors: dict[str, str]) -> str:
    return "; ".join(f"{name}: {problem}" for name, problem in errors.items())


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor_name: str
    subject_name: str


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    page: int
    has_more: bool
    chosen: AuditFilter
    actions: list[str] = field(default_factory=list)
    actors: list[tuple[str, str]] = field(default_factory=list)


def audit_page(tenant_id: int, chosen: AuditFilter, *, page: int) -> AuditPage:
    events = list(
        db.session.scalars(
            filtered_events(tenant_id, chosen)
            .order_by(AuditEvent.seq.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    has_more = len(events) > PAGE_SIZE
    rows = named_rows(tenant_id, events[:PAGE_SIZE])
    return AuditPage(rows, page, has_more, chosen, actions_of(tenant_id), actor_choices(tenant_id))


def filtered_events(tenant_id: int, chosen: AuditFilter) -> Select:
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if chosen.actor:
        query = query.where(AuditEvent.actor == chosen.actor)
    if chosen.action:
        query = query.where(AuditEvent.action == chosen.action)
    if chosen.since:
        query = query.where(AuditEvent.occurred_at >= _midnight(chosen.since))
    if chosen.until:
        query = query.where(AuditEvent.occurred_at < _midnight(chosen.until + timedelta(days=1)))
    if chosen.subject_type:
        query = query.where(AuditEvent.subject_type == chosen.subject_type)
    if chosen.subject_id:
        query = query.where(AuditEvent.subject_id == chosen.subject_id)
    return query


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def named_rows(tenant_id: int, events: list[AuditEvent]) -> list[AuditRow]:
    """The events with their actors' and subjects' names, read in one query per kind."""
    staff_ids = {_id_of(e.actor, "staff") for e in events} | {
        _number(e.subject_id) for e in events if e.subject_type == "staff"
    }
    learner_ids = {_id_of(e.actor, "learner") for e in events} | {
        _number(e.subject_id) for e in events if e.subject_type in ("user", "learner", "employee")
    }
    staff = _names(StaffAccount, tenant_id, staff_ids - {None})
    learners = _names(User, tenant_id, learner_ids - {None})
    tokens = _token_names(tenant_id, {_id_of(e.actor, "token") for e in events} - {None})
    return [
        AuditRow(e, actor_name(e.actor, staff, learners, tokens), _subject_name(e, staff, learners))
        for e in events
    ]


def actor_name(
    actor: str, staff: dict[int, str], learners: dict[int, str], tokens: dict[int, str] | None = None
) -> str:
    for kind, names in (("staff", staff), ("learner", learners), ("token", tokens or {})):
        number = _id_of(actor, kind)
        if number is not None:
            return names.get(number) or actor
    return str(NAMED_ACTORS.get(actor, actor))


def _token_names(tenant_id: int, token_ids: set[int]) -> dict[int, str]:
    """An API token's writes are shown by the token's name (training_app.api_tokens)."""
    return {
        number: gettext("%(name)s (API token)", name=name)
        for number, name in api_tokens.token_names(tenant_id, token_ids).items()
    }


def actor_names(tenant_id: int, actors: set[str], people: dict[int, str] | None = None) -> dict[str, str]:
    """Short names for the employee page and the evidence pack: `staff:<id>` -> the staff
    member's name (one statement for all of them), `learner:<id>` -> the person's name when known;
    any other actor (cli, rules, demo) stays as it is."""
    names = {actor: actor for actor in actors}
    staff_ids = {_id_of(actor, "staff") for actor in actors} - {None}
    if staff_ids:
        for staff_id, name, email in db.session.execute(
            select(StaffAccount.id, StaffAccount.name, StaffAccount.email).where(
                StaffAccount.tenant_id == tenant_id, StaffAccount.id.in_(staff_ids)
            )
        ):
            names[f"staff:{staff_id}"] = name or email
    token_ids = {_id_of(actor, "token") for actor in actors} - {None}
    for token_id, name in _token_names(tenant_id, token_ids).items():  # type: ignore[arg-type]
        names[api_tokens.actor_of(token_id)] = name
    for user_id, name in (people or {}).items():
        if f"learner:{user_id}" in names:
            names[f"learner:{user_id}"] = name
    return names


def _subject_name(event: AuditEvent, staff: dict[int, str], learners: dict[int, str]) -> str:
    number = _number(event.subject_id)
    if event.subject_type == "staff" and number in staff:
        return staff[number]
    if event.subject_type in ("user", "learner", "employee") and number in learners:
        return learners[number]
    return " ".join(part for part in (event.subject_type, event.subject_id) if part)


def _names(model, tenant_id: int, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.session.execute(
        select(model.id, model.name, model.email).where(
            model.tenant_id == tenant_id, model.id.in_(sorted(ids))
        )
    )
    return {
        number: f"{name} ({email})" if name and email else (name or email or "")
        for number, name, email in rows
    }


def _id_of(actor: str, kind: str) -> int | None:
    prefix, _, rest = actor.partition(":")
    return _number(rest) if prefix == kind else None


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 10 else None


def actions_of(tenant_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.tenant_id == tenant_id)
            .distinct()
            .order_by(AuditEvent.action)
        )
    )


def actor_choices(tenant_id: int) -> list[tuple[str, str]]:
    """Staff of the tenant, its API tokens and the named actors, as (value, label), for the actor
    filter."""
    staff = db.session.execute(
        select(StaffAccount.id, StaffAccount.name, StaffAccount.email)
        .where(StaffAccount.tenant_id == tenant_id)
        .order_by(StaffAccount.name)
    )
    tokens = [
        (api_tokens.actor_of(token.id), gettext("%(name)s (API token)", name=token.name))
        for token in api_tokens.tokens_of(tenant_id)
    ]
    return (
        [(f"staff:{number}", f"{name} ({email})") for number, name, email in staff]
        + tokens
        + [(value, str(label)) for value, label in NAMED_ACTORS.items()]
    )


def record_export(tenant_id: int, actor: str, chosen: AuditFilter, ip_address: str | None) -> None:
    """The export is itself an audit event (committed with the request, before the rows stream)."""
    audit.record_event(
        tenant_id,
        actor,
        "report.exported",
        data={"report": "audit_log", "format": "csv", "filters": chosen.args()},
        ip_address=ip_address,
    )


def export_rows(tenant_id: int, chosen: AuditFilter, batch: int = 1000) -> Iterator[list[str]]:
    """Every event of the filtered view, oldest first, as text cells (header first), read in
    batches with the names of their actors and subjects."""
    yield [
        "seq",
        "occurred_at",
        "actor",
        "actor_name",
        "action",
        "subject",
        "data",
        "ip_address",
        "prev_hash",
        "hash",
    ]
    after = 0
    while True:
        events = list(
            db.session.scalars(
                filtered_events(tenant_id, chosen)
                .where(AuditEvent.seq > after)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
        )
        if not events:
            return
        for row in named_rows(tenant_id, events):
            yield _cells(row)
        after = events[-1].seq


def _cells(row: AuditRow) -> list[str]:
    event = row.event
    occurred = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)
    return [
        str(event.seq),
        occurred.isoformat(),
        event.actor,
        row.actor_name,
        event.action,
        row.subject_name,
        _json(event.data),
        event.ip_address or "",
        event.prev_hash,
        event.hash,
    ]


def _json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
