"""xAPI statements for what a learner did, following the cmi5 profile's verbs where they fit.

- Verbs: passed / failed (the quiz's result, with the scaled score and the attempt's duration),
  completed (the cycle done, with its duration), satisfied (the assignment's requirement met),
  waived (HR waived the assignment, with the reason), launched (the learner opened the course
  from their LMS), initialized (the learner began the cycle's first lesson) from ADL's and cmi5's
  vocabularies; `attested` for the signed policy attestation,
  which no vocabulary names, under the tool's own URL (`<TRAINING_PUBLIC_URL>/xapi/verbs/attested`).
- Activities are IRIs under TRAINING_PUBLIC_URL: the course's policy version
  (`/xapi/activities/courses/<slug>/versions/<n>`, the statement's object; its attestation adds
  `/attestation`), the course across versions as the parent.
- The actor is the employee's `mbox` (their email) or an `account` on the tenant's home page named
  by their employee id, as the tenant chooses (a person without one is named by email).
- The context carries the registration (one UUID per assignment and cycle), the LMS the learner
  last launched the course from (`platform`), the learner's language, the cmi5 categories.
- Ids are UUID5 of the deployment, tenant, event and verb: a statement built twice for one event,
  or sent twice, is the same statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

NAMESPACE = uuid.UUID("6f1c1f38-3d5e-4c8e-9a0f-6b3f2f1e5a70")  # this product's statement ids
PLATFORM = "Postwise"  # `context.platform` for a learner who never came through an LMS
ADL = "http://adlnet.gov/expapi/verbs/"
ADL_W3ID = "https://w3id.org/xapi/adl/verbs/"
VERBS = {
    "launched": ADL + "launched",
    "initialized": ADL + "initialized",
    "passed": ADL + "passed",
    "failed": ADL + "failed",
    "completed": ADL + "completed",
    "satisfied": ADL_W3ID + "satisfied",
    "waived": ADL_W3ID + "waived",
}
CMI5_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
MOVEON_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/moveon"
COURSE_TYPE = "https://w3id.org/xapi/cmi5/activitytype/course"
REASON_EXTENSION = "https://w3id.org/xapi/cmi5/result/extensions/reason"


@dataclass(frozen=True)
class Learner:
    name: str
    email: str | None
    employee_id: str | None
    locale: str | None


@dataclass(frozen=True)
class CourseVersionRef:
    slug: str
    number: int
    titles: dict[str, str]  # locale -> title
    content_hash: str


@dataclass(frozen=True)
class Moment:
    """What one statement says happened: verb, to whom, on which course version, when."""

    event_key: str  # e.g. completion:42; the statement id derives from it and the verb
    verb: str
    learner: Learner
    course: CourseVersionRef
    tenant_id: int
    enrolment_id: int
    cycle: int
    at: datetime
    lms: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Style:
    """The deployment's and the tenant's choices every statement follows."""

    public_url: str
    actor: str  # mbox | account
    account_home_page: str


def verb_iri(verb: str, public_url: str) -> str:
    return VERBS.get(verb) or f"{public_url}/xapi/verbs/{verb}"


def course_iri(public_url: str, slug: str) -> str:
    return f"{public_url}/xapi/activities/courses/{slug}"


def version_iri(public_url: str, course: CourseVersionRef) -> str:
    return f"{course_iri(public_url, course.slug)}/versions/{course.number}"


def statement_id(public_url: str, moment: Moment) -> str:
    name = f"{public_url}|{moment.tenant_id}|{moment.event_key}|{moment.verb}"
    return str(uuid.uuid5(NAMESPACE, name))


def registration(public_url: str, tenant_id: int, enrolment_id: int, cycle: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{public_url}|{tenant_id}|registration|{enrolment_id}|{cycle}"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def duration(length: timedelta) -> str:
    """ISO 8601, as xAPI writes durations: PT1H2M3S."""
    seconds = max(0, round(length.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return f"PT{text}{seconds}S" if seconds or not text else f"PT{text}"


def score_result(score: int, *, success: bool, took: timedelta | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "score": {"scaled": round(score / 100, 4), "raw": score, "min": 0, "max": 100},
        "success": success,
    }
    if took is not None:
        result["duration"] = duration(took)
    return result


def actor(learner: Learner, style: Style) -> dict[str, Any]:
    agent: dict[str, Any] = {"objectType": "Agent"}
    if learner.name:
        agent["name"] = learner.name
    if style.actor == "account" and learner.employee_id:
        agent["account"] = {"homePage": style.account_home_page, "name": learner.employee_id}
    elif learner.email:
        agent["mbox"] = f"mailto:{learner.email}"
    else:  # neither an email nor (for an mbox tenant) an employee id: still one stable name
        agent["account"] = {"homePage": style.account_home_page, "name": learner.employee_id or "unknown"}
    return agent


def build(moment: Moment, style: Style) -> dict[str, Any]:
    public = style.public_url
    course = moment.course
    version = version_iri(public, course)
    names = {locale: title for locale, title in sorted(course.titles.items()) if title}
    target: dict[str, Any] = {
        "objectType": "Activity",
        "id": version,
        "definition": {"name": names, "type": COURSE_TYPE},
    }
    categories = [{"id": CMI5_CATEGORY}]
    if moment.verb == "attested":
        target = {
            "objectType": "Activity",
            "id": f"{version}/attestation",
            "definition": {
                "name": {locale: f"{title}: policy attestation" for locale, title in names.items()}
            },
        }
        categories = []
    elif moment.verb in ("passed", "completed", "satisfied", "waived"):
        categories.append({"id": MOVEON_CATEGORY})
    context: dict[str, Any] = {
        "registration": registration(public, moment.tenant_id, moment.enrolment_id, moment.cycle),
        "platform": moment.lms or PLATFORM,
        "contextActivities": {"parent": [{"id": course_iri(public, course.slug), "objectType": "Activity"}]},
        "extensions": {
            f"{public}/xapi/extensions/policy-version": course.number,
            f"{public}/xapi/extensions/content-hash": course.content_hash,
        },
    }
    if categories:
        context["contextActivities"]["category"] = categories
    if moment.learner.locale:
        context["language"] = moment.learner.locale
    statement: dict[str, Any] = {
        "id": statement_id(public, moment),
        "actor": actor(moment.learner, style),
        "verb": {"id": verb_iri(moment.verb, public), "display": {"en-US": moment.verb}},
        "object": target,
        "context": context,
        "timestamp": iso(moment.at),
    }
    if moment.result:
        statement["result"] = moment.result
    return statement
