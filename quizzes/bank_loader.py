"""Load a question bank: quiz.yaml plus every quiz.<locale>.yaml beside it (courses/content/README.md).

marshmallow schemas check shapes and types, `quizzes.question_types` checks the rules of each
question type, and this module checks the rules across questions (unique ids, lessons, draw) and
the translations. Every problem names the file, the field and its line. One problem raises
ContentError; several found in the same pass raise ContentErrors (both are DomainError, 422).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from courses.errors import ContentError, ContentErrors
from quizzes.bank_model import (
    Bank,
    Option,
    Question,
    QuestionText,
    frozen_map,
)
from quizzes.question_types import question_type
from quizzes.schemas import LOCALE, BankSchema, TranslationSchema
from quizzes.yaml_source import Source, combined, parse_yaml, read_text, validated

if TYPE_CHECKING:
    from courses.content import CourseContent


__all__ = [
    "Bank",
    "Option",
    "Question",
    "QuestionText",
    "load_bank",
    "parse_bank",
    "validate_course_quiz",
]


def load_bank(path: Path, known_lessons: set[str] | None = None, *, default_locale: str = "en") -> Bank:
    """Load and validate quiz.yaml and its translations quiz.<locale>.yaml in the same folder.

    `known_lessons`: the lesson slugs every question's `lesson` must be one of (None: not checked).
    `default_locale`: the locale quiz.yaml is written in.
    """
    translations = {}
    for locale, translation_path in _translation_files(path):
        if not LOCALE.match(locale):
            raise ContentError(
                translation_path,
                None,
                f"a translation is named {path.stem}.<locale>{path.suffix}, e.g. quiz.es.yaml",
            )
        translations[locale] = read_text(translation_path)
    return parse_bank(
        read_text(path),
        path,
        translations=translations,
        known_lessons=known_lessons,
        default_locale=default_locale,
    )


def parse_bank(
    text: str,
    file: Path | str = "quiz.yaml",
    *,
    translations: Mapping[str, str] | None = None,
    known_lessons: set[str] | None = None,
    default_locale: str = "en",
) -> Bank:
    """Like `load_bank`, from texts (e.g. the files a published course version stored).

    `translations`: locale -> text of quiz.<locale>.yaml. `file` names the files in errors.
    """
    source = parse_yaml(text, file)
    data = validated(source, BankSchema(), "id: ..., title: ..., questions: ...")
    errors = _check_draw(data, source) + _check_questions(data, source, known_lessons)
    questions = tuple(_question(raw, default_locale) for raw in data["questions"])
    titles = {default_locale: data["title"].strip()}
    translated: dict[str, dict[str, QuestionText]] = {question.id: {} for question in questions}
    for locale, translation_text in sorted((translations or {}).items()):
        translation_file = _translation_file(file, locale)
        try:
            title, texts = _translation(translation_text, translation_file, locale, default_locale, questions)
        except (ContentError, ContentErrors) as exc:
            errors += exc.items if isinstance(exc, ContentErrors) else [exc]
            continue
        titles[locale] = title
        for question_id, question_text in texts.items():
            translated[question_id][locale] = question_text
    if errors:
        raise combined(errors)
    return Bank(
        id=data["id"],
        title=titles[default_locale],
        titles=frozen_map(titles),
        draw=data["draw"],
        draw_by_tag=frozen_map(data["draw_by_tag"]),
        max_attempts=data["max_attempts"],
        cooldown_minutes=data["cooldown_minutes"],
        time_limit_minutes=data["time_limit_minutes"],
        review=data["review"],
        questions=tuple(dataclasses.replace(q, translations=frozen_map(translated[q.id])) for q in questions),
        locale=default_locale,
    )


def _check_questions(
    data: dict[str, Any], source: Source, known_lessons: set[str] | None
) -> list[ContentError]:
    errors = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(data["questions"]):
        error_at = source.error_at("questions", index)
        if raw["id"] in first_index:
            first = first_index[raw["id"]]
            errors.append(
                error_at("id", problem=f"duplicate question id {raw['id']!r} (also questions[{first}])")
            )
        first_index.setdefault(raw["id"], index)
        errors += question_type(raw["type"]).validate(raw, error_at)
        if known_lessons is not None and raw["lesson"] not in known_lessons:
            known = ", ".join(sorted(known_lessons)) or "none"
            errors.append(
                error_at("lesson", problem=f"unknown lesson {raw['lesson']!r}; the lessons are: {known}")
            )
    return errors


def _check_draw(data: dict[str, Any], source: Source) -> list[ContentError]:
    errors = []
    questions = data["questions"]
    if data["draw"] > len(questions):
        problem = f"draw is {data['draw']} but the bank has only {len(questions)} questions"
        errors.append(source.error(("draw",), problem))
    for tag, minimum in data["draw_by_tag"].items():
        tagged = sum(1 for raw in questions if tag in raw["tags"])
        if tagged < minimum:
            problem = (
                f"asks for {minimum} questions tagged {tag!r} but only {tagged} question(s) have that tag"
            )
            errors.append(source.error(("draw_by_tag", tag), problem))
    total = sum(data["draw_by_tag"].values())
    if total > data["draw"]:
        problem = f"the minimums add up to {total}, more than draw ({data['draw']})"
        errors.append(source.error(("draw_by_tag",), problem))
    return errors


def _question(raw: dict[str, Any], locale: str) -> Question:
    kind = question_type(raw["type"])
    select = kind.select(raw)
    return Question(
        id=raw["id"],
        type=raw["type"],
        lesson=raw["lesson"],
        tags=tuple(dict.fromkeys(raw["tags"])),
        prompt=raw["prompt"].strip(),
        scenario=raw["scenario"].strip() if raw["scenario"] is not None else None,
        options=kind.options(raw, locale),
        explanation=raw["explanation"].strip(),
        scoring=kind.scoring(raw) if select == "multiple" else "all_or_nothing",
        select=select,
        locale=locale,
    )


def _translation_files(path: Path) -> list[tuple[str, Path]]:
    pattern = f"{path.stem}.*{path.suffix}"
    return [
        (found.name[len(path.stem) + 1 : -len(path.suffix)], found)
        for found in sorted(path.parent.glob(pattern))
    ]


def _translation_file(file: Path | str, locale: str) -> Path | str:
    path = Path(file)
    name = f"{path.stem}.{locale}{path.suffix}"
    return path.with_name(name) if isinstance(file, Path) else str(path.with_name(name))


def _translation(
    text: str, file: Path | str, locale: str, default_locale: str, questions: tuple[Question, ...]
) -> tuple[str, dict[str, QuestionText]]:
    """The title and the question texts of one translation file, or ContentError(s)."""
    if locale == default_locale:
        raise ContentError(file, None, f"quiz.yaml itself is in {default_locale}; remove this file")
    source = parse_yaml(text, file)
    data = validated(source, TranslationSchema(), "title: ..., questions: ...")
    by_id = {question.id: question for question in questions}
    errors = [
        source.error(("questions", question_id), f"there is no question {question_id} in the bank")
        for question_id in data["questions"]
        if question_id not in by_id
    ]
    missing = [question.id for question in questions if question.id not in data["questions"]]
    if missing:
        problem = f"missing translation of question(s) {', '.join(missing)}; every question needs one"
        errors.append(source.error(("questions",), problem))
    for question_id, raw in data["questions"].items():
        if question_id in by_id:
            question = by_id[question_id]
            error_at = source.error_at("questions", question_id)
            errors += question_type(question.type).validate_translation(question, raw, error_at)
    if errors:
        raise combined(errors)
    texts = {
        question.id: _question_text(question, data["questions"][question.id], locale)
        for question in questions
    }
    return data["title"].strip(), texts


def _question_text(question: Question, raw: dict[str, Any], locale: str) -> QuestionText:
    return QuestionText(
        locale=locale,
        prompt=raw["prompt"].strip(),
        scenario=raw["scenario"].strip() if raw["scenario"] is not None else None,
        option_texts=question_type(question.type).translated_option_texts(question, raw, locale),
        explanation=raw["explanation"].strip(),
    )


def validate_course_quiz(content: CourseContent) -> None:
    """For courses.content.register_validator: the course's bank, checked against its lessons and locales."""
    path = content.folder / "quiz.yaml"  # the course loader has checked that its id is content.quiz
    lessons = {lesson.slug for lesson in content.lessons}
    bank = load_bank(path, lessons, default_locale=content.default_locale)
    for locale in content.locales:
        if locale not in bank.locales:
            problem = (
                f"missing: course {content.slug} is offered in {locale!r}, so its quiz needs this translation"
            )
            raise ContentError(_translation_file(path, locale), None, problem)
