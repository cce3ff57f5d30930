"""Demo data: a workforce of a few hundred employees from an HR file, with managers and leavers,
their assignments from the tenant's rules, and a story for each that puts them in every status,
with dates that make sense together (hired, then assigned, then attested, then completed; the
policy version published before any of it)."""

from __future__ import annotations

import random
import unicodedata
from datetime import date, datetime, timedelta

from sqlalchemy import select, update

from assignments import scheduler
from assignments.services import waive
from courses import publishing
from courses import services as learning
from courses.models import Attestation, Completion, CourseVersion, Enrolment, LessonProgress
from people import services as people
from training_app.db import utcnow
from training_app.demo import DemoContext
from training_app.extensions import db
from training_app.models import User

FIRST = [
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farah",
    "Gustavo",
    "Hana",
    "Ivan",
    "Jamal",
    "Keiko",
    "Lars",
    "Mónica",
    "Nadia",
    "Omar",
    "Pilar",
    "Quentin",
    "Rosa",
    "Sanjay",
    "Tomás",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Alvarez",
    "Brown",
    "Chen",
    "Diallo",
    "Eriksson",
    "Fischer",
    "García",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalczyk",
    "López",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quispe",
    "Rossi",
    "Singh",
    "Tanaka",
]
DEPARTMENTS = [
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "Operations",
    "Customer Care",
    "Legal",
    "People",
]
WORKFORCE = {"acme": 240, "globex": 60}
ASSIGNED_BEFORE_DONE = timedelta(days=21)  # a completed story: assigned three weeks before it was done
STORY = "demo-story"  # marks the completions the stories made, so a second load tells none
HEADER = "employee_id,email,full_name,department,manager_email,hire_date,locale,end_date\n"


def load_workforce(context: DemoContext) -> None:
    rng = random.Random(2027)
    today = context.today
    _publish_in_the_past(today)
    files = {slug: _hr_file(slug, size, today, rng) for slug, size in WORKFORCE.items()}
    if _stories_told():
        context.lines.append("Assignment stories: already told by an earlier `demo load`.")
    else:
        for slug, text in files.items():  # everyone as they were hired: leavers too got their training
            hired = people.import_employees(
                context.tenants[slug], _without_end_dates(text), dry_run=False, actor="demo"
            )
            context.lines.append(
                f"Employees of {context.tenants[slug].name}: {len(hired.plan.created)} hired."
            )
        scheduler.run_tick(utcnow())
        stories = _tell_stories(rng, today)
        told = ", ".join(f"{what} {count}" for what, count in sorted(stories.items()))
        context.lines.append(f"Assignment stories: {told}.")
    for slug, text in files.items():  # then the leavers leave: their assignments end
        now = people.import_employees(context.tenants[slug], text.encode(), dry_run=False, actor="demo")
        context.lines.append(f"Leavers of {context.tenants[slug].name}: {len(now.plan.ended)} ended.")
    scheduler.run_tick(utcnow())  # refreshers for the certificates that now expire soon


def _hr_file(slug: str, size: int, today: date, rng: random.Random) -> str:
    rows, managers = [], {}
    for department in DEPARTMENTS:
        number = len(rows) + 1
        name = f"{FIRST[number % len(FIRST)]} {LAST[(number * 7) % len(LAST)]}"
        email = f"{_local(name)}.{number}@{slug}.example"
        managers[department] = email
        hired = today - timedelta(days=900 + 37 * number)
        rows.append(f"{slug.upper()}{number:04d},{email},{name},{department},,{hired},en,")
    while len(rows) < size:
        number = len(rows) + 1
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        department = DEPARTMENTS[number % len(DEPARTMENTS)]
        new_hire = rng.random() < 0.25
        hired = today - timedelta(days=rng.randint(3, 75) if new_hire else rng.randint(400, 2000))
        locale = "es" if rng.random() < 0.25 else "en"
        left = today - timedelta(days=rng.randint(5, 60)) if not new_hire and rng.random() < 0.03 else ""
        email = f"{_local(name)}.{number}@{slug}.example"
        rows.append(
            f"{slug.upper()}{number:04d},{email},{name},{department},{managers[department]},{hired},{locale},{left}"
        )
    return HEADER + "\n".join(rows) + "\n"


def _without_end_dates(text: str) -> bytes:
    header, *rows = text.splitlines()
    return "\n".join([header, *(row.rsplit(",", 1)[0] + "," for row in rows)]).encode()


def _stories_told() -> bool:
    return db.session.scalar(select(Completion.id).where(Completion.source_ref == STORY).limit(1)) is not None


def _local(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return ".".join(part for part in ascii_name.replace("'", "").split())


def _publish_in_the_past(today: date) -> None:
    """The demo's first versions date from before anyone in it completed them."""
    long_ago = datetime.combine(today - timedelta(days=3 * 365), datetime.min.time()).astimezone()
    db.session.execute(
        update(CourseVersion)
        .where(CourseVersion.number == 1, CourseVersion.published_at > long_ago)
        .values(published_at=long_ago)
    )


def _tell_stories(rng: random.Random, today: date) -> dict[str, int]:
    """Per orientation assignment of an imported employee: completed at some time in the last
    400 days (so completed, expiring soon or expired), started, waived, or left as it is."""
    told: dict[str, int] = {}
    rows = db.session.execute(
        select(Enrolment, User)
        .join(User, User.id == Enrolment.user_id)
        .where(Enrolment.source == "hire_rule", Enrolment.completed_at.is_(None))
        .order_by(Enrolment.id)
    ).all()
    for enrolment, person in rows:
        tenure = (today - person.hire_date).days
        roll = rng.random()
        if tenure > 120 and roll < 0.70:
            days_ago = rng.choice([rng.randint(20, 320), rng.randint(340, 362), rng.randint(368, 390)])
            days_ago = min(days_ago, tenure - ASSIGNED_BEFORE_DONE.days - 1)  # assigned after the hire
            _complete(enrolment, person, days_ago)
            told["completed"] = told.get("completed", 0) + 1
        elif roll < 0.85:
            _start(enrolment, rng.randint(1, 4))
            told["started"] = told.get("started", 0) + 1
        elif roll < 0.88:
            waive(
                person.tenant_id, enrolment.id, reason="On long-term leave until next quarter", actor="demo"
            )
            told["waived"] = told.get("waived", 0) + 1
    return told


def _start(enrolment: Enrolment, lessons: int) -> None:
    _, version = publishing.course_by_slug(enrolment.course.slug)
    for lesson in version.lessons[:lessons]:
        learning.complete_lesson(enrolment, lesson.slug)


def _complete(enrolment: Enrolment, person: User, days_ago: int) -> None:
    """Lessons, attestation and a passed result, as the learner would, then moved into the past."""
    _, version = publishing.course_by_slug(enrolment.course.slug)
    for lesson in version.lessons:
        learning.complete_lesson(enrolment, lesson.slug)
    attestation = learning.attest(
        enrolment,
        person,
        confirmed=True,
        typed_name=person.name,
        locale_preference=person.locale,
        ip_address="192.0.2.20",
        user_agent="Demo data",
    )
    learning.record_result(
        learning.cycle_of(enrolment.id),
        passed=True,
        score=rng_score(enrolment.id),
        source_ref=STORY,
        actor="demo",
        version=version,
        attestation_id=attestation.id,
    )
    done = utcnow() - timedelta(days=days_ago)
    assigned = done - ASSIGNED_BEFORE_DONE
    expires = done + timedelta(days=version.manifest.get("recertify_every_days") or 365)
    db.session.execute(
        update(Enrolment)
        .where(Enrolment.id == enrolment.id)
        .values(
            enrolled_at=assigned,
            assigned_at=assigned,
            started_at=assigned + timedelta(days=2),
            completed_at=done,
            expires_at=expires,
            due_at=assigned + timedelta(days=30),
        )
    )
    db.session.execute(
        update(LessonProgress)
        .where(LessonProgress.enrolment_id == enrolment.id)
        .values(completed_at=done - timedelta(days=3))
    )
    db.session.execute(
        update(Attestation)
        .where(Attestation.id == attestation.id)
        .values(attested_at=done - timedelta(hours=2))
    )
    db.session.execute(
        update(Completion)
        .where(Completion.enrolment_id == enrolment.id)
        .values(completed_at=done, expires_at=expires)
    )
    db.session.expire_all()


def rng_score(seed: int) -> int:
    return 80 + (seed * 7) % 21
