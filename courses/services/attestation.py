"""The policy attestation: its page, the signature (typed name) and whether it still counts.

Services take plain values and an explicit user; they flush and never commit.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from flask_babel import gettext, ngettext
from sqlalchemy import select

from courses import hooks
from courses.errors import StepNotReady
from courses.models import Attestation, CourseVersion, Enrolment
from courses.publishing import (
    course_by_slug,
    latest_material_number,
)
from courses.services.course_overview import completed_lessons, content_locale, course_text, lesson_title
from training_app import audit
from training_app.db import utcnow
from training_app.errors import ValidationFailed
from training_app.extensions import db
from training_app.models import User


@dataclass(frozen=True)
class AttestationPage:
    version: CourseVersion
    locale: str
    course_title: str
    policy_title: str
    policy_html: str
    statement: str
    expected_name: str
    current: Attestation | None


def attestation_page(enrolment: Enrolment, user: User, locale_preference: str | None) -> AttestationPage:
    _, version = course_by_slug(enrolment.course.slug)
    _require_lessons_done(enrolment, version)
    locale = content_locale(version, locale_preference)
    policy = next(lesson for lesson in version.lessons if lesson.slug == version.manifest["policy_lesson"])
    text = policy.texts.get(locale) or policy.texts[version.manifest["default_locale"]]
    return AttestationPage(
        version=version,
        locale=locale,
        course_title=course_text(version, "title", locale),
        policy_title=text["title"],
        policy_html=text["html"],
        statement=course_text(version, "attestation_statement", locale),
        expected_name=user.name,
        current=current_attestation(enrolment, version),
    )


def attest(
    enrolment: Enrolment,
    user: User,
    *,
    confirmed: bool,
    typed_name: str,
    locale_preference: str | None,
    ip_address: str | None,
    user_agent: str | None,
) -> Attestation:
    page = attestation_page(enrolment, user, locale_preference)
    errors = {}
    if not confirmed:
        errors["confirm"] = gettext("Tick the box to confirm that you have read and will follow the policy.")
    name_problem = check_typed_name(typed_name, user.name)
    if name_problem:
        errors["typed_name"] = name_problem
    if errors:
        raise ValidationFailed(" ".join(errors.values()), errors=errors)
    attestation = Attestation(
        tenant_id=enrolment.tenant_id,
        user_id=user.id,
        enrolment_id=enrolment.id,
        cycle=enrolment.cycle,
        course_version_id=page.version.id,
        content_hash=page.version.content_hash,
        policy_text_hash=hashlib.sha256(page.policy_html.encode()).hexdigest(),
        statement=page.statement,
        typed_name=" ".join(typed_name.split()),
        locale=page.locale,
        attested_at=utcnow(),
        ip_address=ip_address,
        user_agent=(user_agent or "")[:500] or None,
    )
    db.session.add(attestation)
    db.session.flush()
    audit.record_event(
        enrolment.tenant_id,
        f"learner:{user.id}",
        "attestation.signed",
        subject=("attestation", attestation.id),
        data={
            "course": enrolment.course.slug,
            "version": page.version.number,
            "cycle": enrolment.cycle,
            "content_hash": page.version.content_hash,
            "locale": page.locale,
        },
        ip_address=ip_address,
    )
    if enrolment.source != "preview":  # a staff preview is sent nowhere (see record_result)
        hooks.run_attestation_hooks(attestation)
    return attestation


def check_typed_name(typed: str, expected: str) -> str | None:
    typed_clean = normalise_name(typed)
    if len(typed_clean) < 2:
        return gettext("Type your full name to sign.")
    if len(typed) > 200:
        return gettext("That name is too long (200 characters at most).")
    if expected.strip() and typed_clean != normalise_name(expected):
        return gettext(
            "The name you typed does not match the name your company's system has for you "
            "(“%(name)s”). Type your full name exactly as shown.",
            name=expected,
        )
    return None


def normalise_name(name: str) -> str:
    """Compare names ignoring case, accents' composition, punctuation spacing and extra spaces."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", name)).strip().casefold()


def current_attestation(enrolment: Enrolment, version: CourseVersion) -> Attestation | None:
    """The attestation of this cycle, unless a material version was published after it."""
    attestation = db.session.scalar(
        select(Attestation)
        .where(Attestation.enrolment_id == enrolment.id, Attestation.cycle == enrolment.cycle)
        .order_by(Attestation.attested_at.desc())
        .limit(1)
    )
    if attestation is None:
        return None
    needed = latest_material_number(enrolment.course_id, version.number)
    return attestation if attestation.course_version.number >= needed else None


def _require_lessons_done(enrolment: Enrolment, version: CourseVersion) -> None:
    done = completed_lessons(enrolment)
    missing = [lesson for lesson in version.lessons if lesson.slug not in done]
    if missing:
        learner = db.session.get(User, enrolment.user_id)
        locale = content_locale(version, learner.locale if learner else None)
        raise StepNotReady(
            ngettext(
                "Finish the lessons first: %(num)d to go, starting with “%(lesson)s”.",
                "Finish the lessons first: %(num)d to go, starting with “%(lesson)s”.",
                len(missing),
                lesson=lesson_title(missing[0], locale),
            ),
            errors={"next_lesson": missing[0].slug},
        )


def ready_for_quiz(enrolment: Enrolment) -> tuple[CourseVersion, Attestation]:
    """What the quiz needs before it may start: every lesson done and a current attestation."""
    _, version = course_by_slug(enrolment.course.slug)
    _require_lessons_done(enrolment, version)
    attestation = current_attestation(enrolment, version)
    if attestation is None:
        raise StepNotReady(
            gettext("Sign the policy attestation before the quiz."), errors={"next_step": "attestation"}
        )
    return version, attestation
