"""Load a question bank: quiz.yaml plus every quiz.<locale>.yaml beside it (courses/content/README.md).

marshmallow schemas check shapes and types, `quizzes.question_types` checks the rules of each
question type, and this module checks the rules across questions (unique ids, lessons, draw) and
the translations. Every problem names the file, the field and its line. One problem raises
ContentError; several found in the same pass raise ContentErrors (both are DomainError, 422).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from courses.errors import ContentError, ContentErrors
from quizzes.bank_model import (
    REVIEW_MODES,
    SCORINGS,
    SELECTS,
    Bank,
    Option,
    Question,
    QuestionText,
    frozen_map,
)
from quizzes.question_types import QUESTION_TYPES, ErrorAt, question_type

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

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
LOCALE = re.compile(r"^[a-z]{2}$")

Path_ = tuple[str | int, ...]  # a field inside a YAML document: ("questions", 3, "options", 1, "id")


# --- schemas (shapes and types only; the rules come after) ----------------------------------------


def not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be empty")


def known_question_type(value: str) -> None:
    if value not in QUESTION_TYPES:
        raise ValidationError(f"unknown type {value!r}; must be one of: {', '.join(QUESTION_TYPES)}")


class StrictBoolean(fields.Field):
    """Only YAML true/false: marshmallow's Boolean would also take "yes", 1 or "0"."""

    default_error_messages = {"invalid": "must be true or false"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _text(**kwargs: Any) -> fields.String:
    return fields.String(validate=not_blank, **kwargs)


def _count(minimum: int, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=minimum), **kwargs)


def _identifier(pattern: re.Pattern[str], example: str) -> fields.String:
    return fields.String(required=True, validate=validate.Regexp(pattern, error=f"must look like {example}"))


def _slug(example: str) -> fields.String:
    return fields.String(validate=validate.Regexp(SLUG, error=f"must look like {example}"))


class _StrictSchema(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "unknown field; check the spelling against courses/content/README.md"}


class OptionSchema(_StrictSchema):
    id = _identifier(ITEM_ID, "a, b or c (letters, digits, - and _)")
    text = _text(required=True)
    correct = StrictBoolean(load_default=False)


class QuestionSchema(_StrictSchema):
    id = _identifier(ITEM_ID, "o01 (letters, digits, - and _)")
    type = fields.String(required=True, validate=known_question_type)
    lesson = _identifier(SLUG, "policy-summary (a lesson slug)")
    tags = fields.List(_slug("privacy (lowercase letters, digits and dashes)"), load_default=list)
    prompt = _text(required=True)
    scenario = _text(load_default=None)
    options = fields.List(fields.Nested(OptionSchema), load_default=None)
    answer = StrictBoolean(load_default=None)
    explanation = _text(required=True)
    scoring = fields.String(validate=validate.OneOf(SCORINGS), load_default=None)
    select = fields.String(validate=validate.OneOf(SELECTS), load_default=None)


class BankSchema(_StrictSchema):
    id = _identifier(SLUG, "orientation (lowercase letters, digits and dashes)")
    title = _text(required=True)
    draw = _count(1, required=True)
    draw_by_tag = fields.Dict(
        keys=_slug("privacy (a tag: lowercase letters, digits and dashes)"),
        values=_count(1),
        load_default=dict,
    )
    max_attempts = _count(1, required=True)
    cooldown_minutes = _count(0, load_default=0)
    time_limit_minutes = _count(1, load_default=None)
    review = fields.String(validate=validate.OneOf(REVIEW_MODES), load_default="after_each")
    questions = fields.List(fields.Nested(QuestionSchema), required=True, validate=validate.Length(min=1))


class QuestionTranslationSchema(_StrictSchema):
    prompt = _text(load_default=None)
    scenario = _text(load_default=None)
    options = fields.Dict(keys=fields.String(), values=_text(), load_default=None)
    explanation = _text(load_default=None)


class TranslationSchema(_StrictSchema):
    title = _text(required=True)
    questions = fields.Dict(
        keys=fields.String(), values=fields.Nested(QuestionTranslationSchema), required=True
    )


# --- YAML with line numbers -----------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[str, int] = {}
        for key_node, _value in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in first_line:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key_node.value!r} (first on line {first_line[key_node.value]})",
                    problem_mark=key_node.start_mark,
                )
            first_line[key_node.value] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class _Source:
    """One parsed YAML file: the data, and the node tree to find the line of any field."""

    file: Path | str
    data: Any
    root: yaml.Node | None

    def error(self, path: Path_, problem: str) -> ContentError:
        return ContentError(self.file, self.where(path), problem)

    def error_at(self, *prefix: str | int) -> ErrorAt:
        def build(*path: str | int, problem: str) -> ContentError:
            return self.error((*prefix, *path), problem)

        return build

    def where(self, path: Path_) -> str | None:
        if not path:
            return None
        line = self.line(path)
        field = _describe(path, self.data)
        return f"{field} (line {line})" if line else field

    def line(self, path: Path_) -> int | None:
        """The line of the field (its key), or of the deepest part of its path that exists."""
        node, line = self.root, None
        for step in path:
            found = _child_node(node, step)
            if found is None:
                break
            start, node = found
            line = start.start_mark.line + 1
        return line


def _child_node(node: yaml.Node | None, step: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(where the child starts: its key in a mapping, and the child's value node)."""
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return node.value[step], node.value[step]
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                return key_node, value_node
    return None


def _describe(path: Path_, data: Any) -> str:
    """("questions", 3, "options") -> "questions[3] (o04).options", naming the question by its id."""
    text = ""
    for index, step in enumerate(path):
        if isinstance(step, int) and isinstance(data, list):
            text += f"[{step}]"
            data = data[step] if step < len(data) else None
            if index > 0 and path[index - 1] == "questions" and isinstance(data, dict):
                question_id = data.get("id")
                text += f" ({question_id})" if isinstance(question_id, str) else ""
        else:
            text += f".{step}" if text else str(step)
            data = data.get(step) if isinstance(data, dict) else None
    return text


def _parse_yaml(text: str, file: Path | str) -> _Source:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(file, exc) from None
    finally:
        loader.dispose()
    return _Source(file, data, root)


def _yaml_error(file: Path | str, exc: yaml.YAMLError) -> ContentError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
    problem = getattr(exc, "problem", None) or str(exc)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark and context_mark is not mark:
        problem += f" ({context} on line {context_mark.line + 1})"
    return ContentError(file, where, f"invalid YAML: {problem}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(path, None, "file is missing") from None
    except UnicodeDecodeError as exc:
        raise ContentError(path, None, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _validated(source: _Source, schema: Schema, what: str) -> dict[str, Any]:
    """The data loaded by `schema`, or ContentError(s) for every shape problem, in line order."""
    if not isinstance(source.data, dict):
        raise ContentError(source.file, None, f"must be a YAML mapping of fields ({what})")
    try:
        return schema.load(source.data)
    except ValidationError as exc:
        problems = sorted(_flatten(exc.messages), key=lambda item: source.line(item[0]) or 0)
        raise _combined([source.error(path, problem) for path, problem in problems]) from None


def _flatten(messages: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    """marshmallow's nested messages -> (("questions", 3, "prompt"), "Missing data for required field.")."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            # "_schema" is the object itself; "key"/"value" say which half of a Dict entry failed
            step = () if key in ("_schema", "key", "value") else (key,)
            yield from _flatten(value, (*path, *step))
    elif isinstance(messages, list) and all(isinstance(message, str) for message in messages):
        yield path, " ".join(messages)
    elif isinstance(messages, list):
        for message in messages:
            yield from _flatten(message, path)
    else:
        yield path, str(messages)


def _combined(errors: list[ContentError]) -> ContentError | ContentErrors:
    return errors[0] if len(errors) == 1 else ContentErrors(errors)


# --- the bank -------------------------------------------------------------------------------------


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
        translations[locale] = _read_text(translation_path)
    return parse_bank(
        _read_text(path),
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
    source = _parse_yaml(text, file)
    data = _validated(source, BankSchema(), "id: ..., title: ..., questions: ...")
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
        raise _combined(errors)
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
    data: dict[str, Any], source: _Source, known_lessons: set[str] | None
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


def _check_draw(data: dict[str, Any], source: _Source) -> list[ContentError]:
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


# --- translations ---------------------------------------------------------------------------------


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
    source = _parse_yaml(text, file)
    data = _validated(source, TranslationSchema(), "title: ..., questions: ...")
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
        raise _combined(errors)
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


# --- courses --------------------------------------------------------------------------------------


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
