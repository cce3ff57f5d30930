"""Queueing xAPI statements: subscribers to the hooks of courses and assignments turn what a
learner did into statements (feeds.statements) for the tenant's learning record store, in the
transaction that did it. Each statement row keeps its body; the rows of one event (and of one
transaction) travel together, at most BATCH_SIZE to an outbox message. Nothing is read for a
tenant without an LRS beyond its (absent) connection row."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select

from courses.hooks import Launched
from courses.models import Attestation, Completion, Course, CourseVersion, Enrolment
from courses.publishing import latest_published
from courses.services import RecordedResult
from feeds import statements
from feeds.models import LrsConnection, XapiStatement
from feeds.statements import CourseVersionRef, Learner, Moment, Style
from quizzes.models import QuizAttempt
from reports import completions
from training_app import outbox, subscribers
from training_app.db import insert_unless_conflict, utcnow
from training_app.extensions import db
from training_app.models import User
from training_app.urls import base_url

KIND = "xapi_statements"  # the outbox kind of a batch
BATCH_SIZE = 50
WAIVER_REASON = "Administrative"  # cmi5's reason for a waiver HR decided


SENDER = "xapi"
HAS_ENABLED_LRS = exists().where(
    LrsConnection.tenant_id == bindparam("tenant_id"), LrsConnection.enabled.is_(True)
)


def connection_for(tenant_id: int) -> LrsConnection | None:
    """The tenant's LRS, if it has one that is turned on. Nothing is read for a tenant without
    one beyond training_app.subscribers' one statement for every sender."""
    if not subscribers.has_work(tenant_id, SENDER):
        return None
    connection = db.session.get(LrsConnection, tenant_id)
    return connection if connection is not None and connection.enabled else None


def style_of(connection: LrsConnection) -> Style:
    public = base_url()
    return Style(public, connection.actor, connection.account_home_page or public)


@dataclass(frozen=True)
class Standing:
    learner: Learner
    lms: str | None
    started_at: datetime | None


def _standing(tenant_id: int, enrolment_id: int) -> Standing:
    """Who the assignment's learner is and the LMS they last launched its course from (the
    completions export's `lms` column)."""
    columns = completions.columns_of(completions.scope_for(tenant_id))
    row = db.session.execute(
        completions.rows_from(
            select(
                User.name, User.email, User.employee_id, User.locale, Enrolment.started_at, columns["lms"]
            ),
            everything=False,
        ).where(Enrolment.id == enrolment_id)
    ).one()
    return Standing(Learner(row[0], row[1], row[2], row[3]), row[5], row[4])


def _titles(manifest: dict[str, Any]) -> dict[str, str]:
    titles = {manifest["default_locale"]: manifest["title"]}
    for locale, texts in (manifest.get("translations") or {}).items():
        titles[locale] = texts.get("title") or manifest["title"]
    return titles


# --- the hooks' subscribers ----------------------------------------------------------------------


def on_result(result: RecordedResult) -> None:
    connection = connection_for(result.tenant_id)
    if connection is None:
        return
    standing = _standing(result.tenant_id, result.enrolment_id)
    course = CourseVersionRef(
        result.course_slug, result.version_number, dict(result.course_titles), result.content_hash
    )
    passed = result.status == "completed"

    def moment(verb: str, outcome: dict[str, Any] | None = None) -> Moment:
        return Moment(
            f"completion:{result.id}",
            verb,
            standing.learner,
            course,
            result.tenant_id,
            result.enrolment_id,
            result.cycle,
            result.completed_at,
            standing.lms,
            outcome or {},
        )

    found = [moment("passed" if passed else "failed", _quiz_result(result, passed))]
    if passed:
        completed: dict[str, Any] = {"completion": True}
        if standing.started_at is not None and standing.started_at <= result.completed_at:
            completed["duration"] = statements.duration(result.completed_at - standing.started_at)
        found += [moment("completed", completed), moment("satisfied")]
    queue(connection, found)


def _quiz_result(result: RecordedResult, passed: bool) -> dict[str, Any]:
    """The scaled score and success, with the graded quiz attempt's duration when it is known."""
    source = db.session.scalar(select(Completion.source_ref).where(Completion.id == result.id)) or ""
    took: timedelta | None = None
    if source.startswith("quiz_attempt:") and source.removeprefix("quiz_attempt:").isdigit():
        started, submitted = db.session.execute(
            select(QuizAttempt.started_at, QuizAttempt.submitted_at).where(
                QuizAttempt.id == int(source.removeprefix("quiz_attempt:"))
            )
        ).one_or_none() or (None, None)
        if started is not None and submitted is not None:
            took = submitted - started
    return statements.score_result(result.score, success=passed, took=took)


def on_attestation(attestation: Attestation) -> None:
    connection = connection_for(attestation.tenant_id)
    if connection is None:
        return
    slug, version = db.session.execute(
        select(Course.slug, CourseVersion)
        .join(CourseVersion, CourseVersion.course_id == Course.id)
        .where(CourseVersion.id == attestation.course_version_id)
    ).one()
    standing = _standing(attestation.tenant_id, attestation.enrolment_id)
    course = CourseVersionRef(slug, version.number, _titles(version.manifest), attestation.content_hash)
    found = Moment(
        f"attestation:{attestation.id}",
        "attested",
        standing.learner,
        course,
        attestation.tenant_id,
        attestation.enrolment_id,
        attestation.cycle,
        attestation.attested_at,
        standing.lms,
        {"completion": True},
    )
    queue(connection, [found])


def on_waived(enrolment: Enrolment) -> None:
    _on_assignment(enrolment, "waived", f"waiver:{enrolment.id}:{enrolment.cycle}", enrolment.waived_at)


def on_launched(launched: Launched) -> None:
    if not subscribers.has_work(launched.tenant_id, SENDER):
        return
    enrolment = db.session.get(Enrolment, launched.enrolment_id)
    moment = launched.at.strftime("%Y%m%dT%H%M%S.%f")
    _on_assignment(enrolment, "launched", f"launch:{enrolment.id}:{moment}", launched.at)


def on_cycle_started(enrolment: Enrolment) -> None:
    _on_assignment(enrolment, "initialized", f"start:{enrolment.id}:{enrolment.cycle}", enrolment.started_at)


def _on_assignment(enrolment: Enrolment, verb: str, key: str, at: datetime | None) -> None:
    """A statement about the assignment's current cycle, on the course's latest version."""
    connection = connection_for(enrolment.tenant_id)
    if connection is None:
        return
    version = latest_published(enrolment.course_id)
    slug = db.session.scalar(select(Course.slug).where(Course.id == enrolment.course_id))
    standing = _standing(enrolment.tenant_id, enrolment.id)
    outcome: dict[str, Any] = {}
    if verb == "waived":
        outcome = {
            "success": True,
            "completion": True,
            "extensions": {statements.REASON_EXTENSION: WAIVER_REASON},
        }
    course = CourseVersionRef(slug, version.number, _titles(version.manifest), version.content_hash)
    found = Moment(
        key,
        verb,
        standing.learner,
        course,
        enrolment.tenant_id,
        enrolment.id,
        enrolment.cycle,
        at or utcnow(),
        standing.lms,
        outcome,
    )
    queue(connection, [found])


# --- queueing -------------------------------------------------------------------------------------


def queue(connection: LrsConnection, moments: list[Moment]) -> int:
    """A statement row for each moment not queued before (same id: skipped), and an outbox
    message for each batch of them; how many statements were queued."""
    style = style_of(connection)
    now = utcnow()
    rows = []
    for start in range(0, len(moments), BATCH_SIZE):
        batch_key = uuid.uuid4().hex
        for moment in moments[start : start + BATCH_SIZE]:
            built = statements.build(moment, style)
            rows.append(
                {
                    "tenant_id": connection.tenant_id,
                    "statement_id": built["id"],
                    "verb": moment.verb,
                    "event_key": moment.event_key,
                    "body": json.dumps(built, separators=(",", ":"), ensure_ascii=False),
                    "batch_key": batch_key,
                    "status": "pending",
                    "created_at": now,
                }
            )
    if not rows:
        return 0
    inserted = db.session.connection().execute(_INSERT_STATEMENT, rows).scalars().all()
    batches = sorted({row["batch_key"] for row in rows if row["statement_id"] in set(inserted)})
    outbox.enqueue_many(KIND, [({"batch": key}, f"{KIND}:{key}", connection.tenant_id) for key in batches])
    return len(inserted)


_statements = XapiStatement.__table__
_INSERT_STATEMENT = insert_unless_conflict(_statements, "statement_id").returning(_statements.c.statement_id)
