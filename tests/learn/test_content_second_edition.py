"""The built-in courses' second edition (issue #17): every course complete in every locale, each
topic of the issue taught by a lesson and tested by a tag that every draw covers, and publishing
the edition as material asks learners to sign again while their first-edition records stay."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from assignments.rules import rules_of
from assignments.scheduler import reassign_after_policy_changes
from certificates.models import Certificate
from courses import content, publishing
from courses import services as learning
from courses.errors import ContentError, StepNotReady
from courses.models import Attestation, Completion, CourseVersion, Enrolment
from quizzes.bank_loader import load_bank
from quizzes.draw import draw_questions
from tests import factories
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import Tenant, User

ORIENTATION = "social-media-orientation"
REFRESHER = "social-media-refresher"
LEADERS = "leaders-on-social-media"
LOCALES = ("en", "es")
KEY_POINTS = {"en": "## Key points", "es": "## Puntos clave"}

# Each topic of the issue: the course and lesson that teach it, words the lesson uses in each
# locale, and the bank tag whose questions test it.
TOPICS = [
    # topic, course, lesson, {locale: words the lesson uses}, tag
    ("Protected concerted activity and the savings clause", ORIENTATION, "using-internal-social-media",
     {"en": "Section 7", "es": "Sección 7"}, "rights"),
    ("Reporting to authorities, no permission or notice", ORIENTATION, "when-things-go-wrong",
     {"en": "21F-17", "es": "21F-17"}, "whistleblowing"),
    ("Endorsements: material connection, clear and conspicuous", ORIENTATION, "brand-ambassador",
     {"en": "16 CFR Part 255", "es": "16 CFR Parte 255"}, "endorsements"),
    ("Phishing and social engineering on social networks", ORIENTATION, "when-things-go-wrong",
     {"en": "QR code", "es": "código QR"}, "phishing"),
    ("Official versus personal accounts", ORIENTATION, "who-runs-our-social-media",
     {"en": "password manager", "es": "gestor de contraseñas"}, "accounts"),
    ("Privacy: personal data, photos, consent, GDPR", ORIENTATION, "brand-ambassador",
     {"en": "GDPR", "es": "RGPD"}, "privacy"),
    ("Harassment and discrimination as conduct rules", ORIENTATION, "using-internal-social-media",
     {"en": "discrimination", "es": "discriminación"}, "harassment"),
    ("Securities: material non-public information", ORIENTATION, "brand-ambassador",
     {"en": "material non-public information", "es": "información privilegiada"}, "securities"),
    ("Protected concerted activity and the savings clause", REFRESHER, "what-changed",
     {"en": "Section 7", "es": "Sección 7"}, "rights"),
    ("Reporting to authorities, no permission or notice", REFRESHER, "what-changed",
     {"en": "21F-17", "es": "21F-17"}, "whistleblowing"),
    ("Endorsements: material connection, clear and conspicuous", REFRESHER, "what-changed",
     {"en": "16 CFR Part 255", "es": "16 CFR Parte 255"}, "endorsements"),
    ("Phishing and social engineering on social networks", REFRESHER, "protecting-people-and-information",
     {"en": "fake recruiters", "es": "falsos reclutadores"}, "phishing"),
    ("Official versus personal accounts", REFRESHER, "what-changed",
     {"en": "password manager", "es": "gestor de contraseñas"}, "accounts"),
    ("Privacy: personal data, photos, consent, GDPR", REFRESHER, "protecting-people-and-information",
     {"en": "GDPR", "es": "RGPD"}, "privacy"),
    ("Harassment and discrimination as conduct rules", REFRESHER, "protecting-people-and-information",
     {"en": "discrimination", "es": "discriminación"}, "harassment"),
    ("Securities: material non-public information", REFRESHER, "protecting-people-and-information",
     {"en": "Material non-public information", "es": "información privilegiada"}, "securities"),
    ("Managers: what they must not do and must do", LEADERS, "what-managers-must-and-must-not-do",
     {"en": "retaliate", "es": "represalias"}, "manager-conduct"),
]  # fmt: skip


TOPIC_IDS = [f"{slug}:{tag}" for _, slug, _, _, tag in TOPICS]


def course_folder(slug: str, root: Path = content.CONTENT_ROOT) -> Path:
    return root / slug


# --- every course in every locale ---------------------------------------------------------------


def locale_gaps(folder: Path, locales: tuple[str, ...] = LOCALES) -> list[str]:
    """What the folder lacks for the locales, read from the files themselves (not the loader)."""
    course = yaml.safe_load((folder / "course.yaml").read_text(encoding="utf-8"))
    bank = yaml.safe_load((folder / "quiz.yaml").read_text(encoding="utf-8"))
    gaps = [f"course.yaml: locales lack {loc}" for loc in locales if loc not in course["locales"]]
    for locale in locales:
        gaps += _course_text_gaps(course, locale)
        gaps += _lesson_gaps(folder, course, locale)
        if locale != course["default_locale"]:
            gaps += _bank_gaps(folder, bank, locale)
    return gaps


def _course_text_gaps(course: dict, locale: str) -> list[str]:
    if locale == course["default_locale"]:
        return []
    translation = (course.get("translations") or {}).get(locale) or {}
    fields = ("title", "summary", "attestation_statement")
    return [
        f"course.yaml: translations.{locale}.{name} is missing or untranslated"
        for name in fields
        if not str(translation.get(name) or "").strip() or translation.get(name) == course[name]
    ]


def _lesson_gaps(folder: Path, course: dict, locale: str) -> list[str]:
    gaps = []
    for lesson in course["lessons"]:
        path = folder / "lessons" / locale / f"{lesson['slug']}.md"
        if not path.exists():
            gaps.append(f"lessons/{locale}/{lesson['slug']}.md is missing")
            continue
        text = path.read_text(encoding="utf-8")
        if not text.startswith("# ") or KEY_POINTS[locale] not in text:
            gaps.append(f"lessons/{locale}/{lesson['slug']}.md lacks its title or {KEY_POINTS[locale]}")
    return gaps


def _bank_gaps(folder: Path, bank: dict, locale: str) -> list[str]:
    path = folder / f"quiz.{locale}.yaml"
    if not path.exists():
        return [f"quiz.{locale}.yaml is missing"]
    translated = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    gaps = []
    for question in bank["questions"]:
        qid, text = question["id"], translated.get(question["id"])
        if text is None:
            gaps.append(f"quiz.{locale}.yaml: no question {qid}")
            continue
        option_ids = {option["id"] for option in question.get("options") or []}
        if set(text.get("options") or {}) != option_ids:
            found = sorted(text.get("options") or {})
            gaps.append(f"quiz.{locale}.yaml: {qid} options {found} != {sorted(option_ids)}")
        parts = ["prompt", "explanation"] + (["scenario"] if question.get("scenario") else [])
        gaps += [f"quiz.{locale}.yaml: {qid} has no {part}" for part in parts if not text.get(part)]
        same = [part for part in parts if text.get(part) == question[part]]
        gaps += [f"quiz.{locale}.yaml: {qid}.{part} is untranslated" for part in same]
    extra = sorted(set(translated) - {question["id"] for question in bank["questions"]})
    return gaps + [f"quiz.{locale}.yaml: {qid} is not in the bank" for qid in extra]


@pytest.mark.parametrize("slug", [ORIENTATION, REFRESHER, LEADERS])
def test_every_course_has_every_lesson_its_attestation_and_its_bank_in_english_and_spanish(slug):
    assert locale_gaps(course_folder(slug)) == []
    loaded = content.load_course(course_folder(slug))  # and the loader agrees
    assert loaded.locales == LOCALES and all(set(lesson.texts) == set(LOCALES) for lesson in loaded.lessons)
    bank = load_bank(course_folder(slug) / "quiz.yaml", default_locale="en")
    for question in bank.questions:
        spanish = question.localized("es")
        assert spanish.locale == "es" and set(spanish.option_texts) == set(question.option_ids)


@pytest.mark.parametrize(
    ("break_it", "gap"),
    [
        (lambda f: (f / "lessons" / "es" / "scenarios.md").unlink(), "lessons/es/scenarios.md is missing"),
        (lambda f: (f / "quiz.es.yaml").unlink(), "quiz.es.yaml is missing"),
        (lambda f: _edit(f / "quiz.es.yaml", "  r08:\n", "  r08x:\n"), "quiz.es.yaml: no question r08"),
        (lambda f: _edit(f / "quiz.es.yaml", '      a: "Poner', '      z: "Poner'), "r08 options ['b', 'c',"),
        (lambda f: _edit(f / "course.yaml", "    attestation_statement: >-\n", "    unused: >-\n"),
         "translations.es.attestation_statement is missing"),
    ],
)  # fmt: skip
def test_an_incomplete_locale_is_found(tmp_path, break_it, gap):
    folder = tmp_path / REFRESHER
    shutil.copytree(course_folder(REFRESHER), folder)
    break_it(folder)
    assert any(gap in found for found in locale_gaps(folder)), locale_gaps(folder)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- each topic: a lesson teaches it, a tag tests it, every draw covers it -----------------------


@pytest.mark.parametrize(("topic", "slug", "lesson", "words", "tag"), TOPICS, ids=TOPIC_IDS)
def test_each_topic_is_taught_by_a_lesson_and_tested_in_every_draw(topic, slug, lesson, words, tag):
    course = content.load_course(course_folder(slug))
    taught = {item.slug: item for item in course.lessons}
    assert lesson in taught, f"{topic}: no lesson {lesson} in {slug}"
    for locale in LOCALES:
        assert words[locale] in taught[lesson].texts[locale].markdown, f"{topic}: {slug}/{locale}/{lesson}"
    bank = load_bank(course_folder(slug) / "quiz.yaml", default_locale="en")
    tagged = [question for question in bank.questions if tag in question.tags]
    assert len(tagged) >= 2, f"{topic}: {slug} has {len(tagged)} question(s) tagged {tag}"
    assert any(question.lesson == lesson for question in tagged), f"{topic}: no {tag} question on {lesson}"
    assert bank.draw_by_tag.get(tag, 0) >= 1, f"{topic}: draws of {slug} need not cover {tag}"
    for seed in range(40):
        drawn = {item.question_id for item in draw_questions(bank, random.Random(seed))}
        assert drawn & {question.id for question in tagged}, f"{topic}: seed {seed} drew no {tag} question"


def test_the_leaders_bank_has_twenty_questions_at_least_half_of_them_scenarios():
    bank = load_bank(course_folder(LEADERS) / "quiz.yaml", default_locale="en")
    scenarios = [question for question in bank.questions if question.type == "scenario"]
    assert len(bank.questions) >= 20 and 2 * len(scenarios) >= len(bank.questions)


def test_the_rewritten_keys_follow_the_lawful_rules():
    orientation = load_bank(course_folder(ORIENTATION) / "quiz.yaml", default_locale="en")
    refresher = load_bank(course_folder(REFRESHER) / "quiz.yaml", default_locale="en")

    def correct(bank, qid: str) -> list[str]:
        return [option.text for option in bank.question(qid).options if option.correct]

    assert not any("manager" in text for text in correct(orientation, "o31"))  # a typo needs no approval
    assert any(text.startswith("Liking") for text in correct(refresher, "r08"))  # Three D, "Triple Play"
    assert not any("on-call pay" in text for text in correct(refresher, "r20"))  # pay is not confidential
    assert any(text.startswith("Nothing more") for text in correct(refresher, "r17"))  # no employer to name
    lesson = (course_folder(ORIENTATION) / "lessons" / "en" / "when-things-go-wrong.md").read_text()
    assert "You don't need anyone's approval to fix your own typo" in lesson


# --- publishing the second edition ------------------------------------------------------------------


def first_edition(content_copy: Path) -> None:
    """The copy as its first edition: the same folders, course.yaml saying edition 1."""
    _edit(content_copy / ORIENTATION / "course.yaml", "edition: 2", "edition: 1")


def second_edition(content_copy: Path) -> None:
    shutil.copy(course_folder(ORIENTATION) / "course.yaml", content_copy / ORIENTATION / "course.yaml")


def signed_and_passed(user: User, version: CourseVersion, *, passed: bool) -> Enrolment:
    enrolment = learning.enrol(user, ORIENTATION, source="hr")
    for lesson in version.lessons:
        learning.complete_lesson(enrolment, lesson.slug)
    attestation = learning.attest(
        enrolment, user, confirmed=True, typed_name=user.name, locale_preference=user.locale,
        ip_address="127.0.0.1", user_agent="pytest",
    )  # fmt: skip
    if passed:
        learning.record_result(
            learning.cycle_of(enrolment.id), passed=True, score=90, source_ref="test", actor="test",
            version=version, attestation_id=attestation.id,
        )  # fmt: skip
    return enrolment


def test_the_second_edition_published_as_material_asks_for_a_new_signature_and_keeps_the_first(
    app, content_copy
):
    first_edition(content_copy)
    with app.app_context():
        acme = factories.tenant("acme")
        ada, bea = factories.learner(acme, "Ada Lovelace"), factories.learner(acme, "Bea Ortiz", locale="es")
        first = publishing.publish(ORIENTATION, material=True, actor="test", root=content_copy).version
        passed = signed_and_passed(ada, first, passed=True)
        signed = signed_and_passed(bea, first, passed=False)
        db.session.commit()
        records = _records(passed.id) + _records(signed.id)
        assert [row[1] for row in records] == [first.id] * 4  # ada: attestation, completion, certificate

    second_edition(content_copy)
    with app.app_context():
        with pytest.raises(ContentError, match=r"edition 2 is new .* publish it with --material"):
            publishing.publish(ORIENTATION, material=False, actor="test", root=content_copy)
        db.session.rollback()
        second = publishing.publish(ORIENTATION, material=True, actor="test", root=content_copy).version
        db.session.commit()
        assert (second.number, second.material, second.manifest["edition"]) == (2, True, 2)
        assert first.manifest["edition"] == 1 and second.content_hash != first.content_hash

    with app.app_context():  # the learner who had signed the first edition signs again before the quiz
        signed = db.session.get(Enrolment, signed.id)
        assert learning.current_attestation(signed, publishing.course_by_slug(ORIENTATION)[1]) is None
        with pytest.raises(StepNotReady, match="Sign the policy attestation"):
            learning.ready_for_quiz(signed)

    with app.app_context():  # the one who had passed is assigned the new edition, to sign and pass again
        tenant = db.session.get(Tenant, acme.id)
        assert reassign_after_policy_changes(tenant, rules_of(tenant), utcnow()) == 1
        passed = db.session.get(Enrolment, passed.id)
        assert passed.cycle == 2 and passed.completed_at is None
        assert learning.current_attestation(passed, publishing.course_by_slug(ORIENTATION)[1]) is None
        db.session.commit()

    with app.app_context():  # every first-edition record is still there, unchanged
        assert _records(passed.id) + _records(signed.id) == records


def _records(enrolment_id: int) -> list[tuple[str, int, str]]:
    """The enrolment's attestations, completions and certificates: (kind, version id, content hash)."""
    rows = []
    for model, kind in ((Attestation, "attestation"), (Completion, "completion")):
        found = db.session.scalars(select(model).where(model.enrolment_id == enrolment_id).order_by(model.id))
        rows += [(kind, row.course_version_id, row.content_hash) for row in found]
    certificates = db.session.scalars(
        select(Certificate)
        .join(Completion, Completion.id == Certificate.completion_id)
        .where(Completion.enrolment_id == enrolment_id)
        .order_by(Certificate.id)
    )
    return rows + [("certificate", row.course_version_id, row.content_hash) for row in certificates]


def test_a_lower_edition_is_refused(app, content_copy):
    with app.app_context():
        publishing.publish(ORIENTATION, material=True, actor="test", root=content_copy)
        db.session.commit()
    first_edition(content_copy)
    with app.app_context(), pytest.raises(ContentError, match="is 1, but v1 already published edition 2"):
        publishing.publish(ORIENTATION, material=True, actor="test", root=content_copy)
