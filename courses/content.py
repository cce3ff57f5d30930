"""Course content as files: load, validate, hash and render (see courses/content/README.md).

A course folder is validated as a whole; every problem is reported with the file and the field
or line to fix, and nothing is published from a folder with problems.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nh3
import yaml
from markdown_it import MarkdownIt
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from courses.errors import ContentError, ContentErrors

CONTENT_ROOT = Path(__file__).resolve().parent / "content"
SUPPORTED_LOCALES = ("en", "es", "fr", "de", "pt")
AUDIENCES = ("orientation", "refresher", "leaders")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


# --- the parsed course -------------------------------------------------------------------


@dataclass(frozen=True)
class LessonText:
    title: str
    markdown: str
    html: str


@dataclass(frozen=True)
class LessonContent:
    slug: str
    minutes: int
    texts: dict[str, LessonText]  # by locale


@dataclass(frozen=True)
class CourseContent:
    slug: str
    folder: Path
    title: str
    summary: str
    audience: str
    default_locale: str
    locales: tuple[str, ...]
    estimated_minutes: int
    quiz: str
    pass_mark: int
    recertify_every_days: int
    due_within_days_of_hire: int | None
    policy_lesson: str
    attestation_statement: str
    translations: dict[str, dict[str, str]]  # locale -> {title, summary, attestation_statement}
    lessons: tuple[LessonContent, ...]
    content_hash: str
    files: dict[str, str]  # relative path -> text, everything a version snapshots
    edition: int = 1  # the policy's edition: a new one is a change of substance (published as material)

    def text(self, field: str, locale: str) -> str:
        return self.translations.get(locale, {}).get(field) or getattr(self, field)

    def manifest(self) -> dict[str, Any]:
        """What a published version stores about the course itself (JSON-ready)."""
        return {
            "title": self.title,
            "summary": self.summary,
            "edition": self.edition,
            "audience": self.audience,
            "default_locale": self.default_locale,
            "locales": list(self.locales),
            "estimated_minutes": self.estimated_minutes,
            "quiz": self.quiz,
            "pass_mark": self.pass_mark,
            "recertify_every_days": self.recertify_every_days,
            "due_within_days_of_hire": self.due_within_days_of_hire,
            "policy_lesson": self.policy_lesson,
            "attestation_statement": self.attestation_statement,
            "translations": self.translations,
        }


# --- schema ---------------------------------------------------------------------------------


def _slug_field() -> fields.String:
    return fields.String(
        required=True,
        validate=validate.Regexp(
            SLUG, error="must be lowercase letters, digits and single dashes, e.g. policy-summary"
        ),
    )


class LessonEntrySchema(Schema):
    slug = _slug_field()
    minutes = fields.Integer(required=True, validate=validate.Range(min=1, max=120))


class TranslationSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    summary = fields.String(required=True, validate=validate.Length(min=1))
    attestation_statement = fields.String(required=True, validate=validate.Length(min=1))


class CourseSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    summary = fields.String(required=True, validate=validate.Length(min=1))
    edition = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1, max=999))
    audience = fields.String(required=True, validate=validate.OneOf(AUDIENCES))
    default_locale = fields.String(required=True)
    locales = fields.List(
        fields.String(
            validate=validate.OneOf(
                SUPPORTED_LOCALES,
                error="unsupported locale {input}; supported: " + ", ".join(SUPPORTED_LOCALES),
            )
        ),
        required=True,
        validate=validate.Length(min=1),
    )
    estimated_minutes = fields.Integer(required=True, validate=validate.Range(min=1, max=600))
    quiz = _slug_field()
    pass_mark = fields.Integer(required=True, validate=validate.Range(min=1, max=100))
    recertify_every_days = fields.Integer(required=True, validate=validate.Range(min=0, max=3650))
    due_within_days_of_hire = fields.Integer(
        required=True, allow_none=True, validate=validate.Range(min=1, max=365)
    )
    policy_lesson = _slug_field()
    attestation_statement = fields.String(required=True, validate=validate.Length(min=1))
    lessons = fields.List(fields.Nested(LessonEntrySchema), required=True, validate=validate.Length(min=1))
    translations = fields.Dict(
        keys=fields.String(), values=fields.Nested(TranslationSchema), load_default=dict
    )

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        locales = data.get("locales", [])
        if data.get("default_locale") not in locales:
            raise ValidationError(f"must be one of locales {locales}", "default_locale")
        slugs = [lesson["slug"] for lesson in data.get("lessons", [])]
        duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
        if duplicates:
            raise ValidationError(f"duplicate lesson slug {', '.join(duplicates)}", "lessons")
        if data.get("policy_lesson") not in slugs:
            raise ValidationError(f"{data.get('policy_lesson')!r} is not one of the lessons", "policy_lesson")
        for locale in data.get("translations", {}):
            if locale not in locales or locale == data.get("default_locale"):
                raise ValidationError(
                    f"{locale!r} is not a non-default locale of this course", f"translations.{locale}"
                )
        for locale in locales:
            if locale != data.get("default_locale") and locale not in data.get("translations", {}):
                raise ValidationError(
                    f"missing: the course lists locale {locale!r}", f"translations.{locale}"
                )


# --- validators other packages add (the quiz bank) --------------------------------------------

ContentValidator = Callable[[CourseContent], None]
_validators: list[ContentValidator] = []


def register_validator(validator: ContentValidator) -> None:
    """Packages that own part of a course folder (quizzes: quiz.yaml) validate it here."""
    if validator not in _validators:
        _validators.append(validator)


# --- loading ------------------------------------------------------------------------------------


def course_folders(root: Path = CONTENT_ROOT) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "course.yaml").exists())


def load_course(folder: Path) -> CourseContent:
    """Load and validate one course folder; raises ContentError naming the file and field."""
    course_file = folder / "course.yaml"
    data = _load_schema(course_file, read_yaml(course_file))
    own_quiz = quiz_id(folder / "quiz.yaml")
    if data["quiz"] != own_quiz:
        found = f"its quiz.yaml has id {own_quiz!r}" if own_quiz else "it has no quiz.yaml with an id"
        raise ContentError(course_file, "quiz", f"unknown quiz {data['quiz']!r}: {found}")
    lessons = tuple(_load_lesson(folder, entry, data["locales"]) for entry in data["lessons"])
    files = snapshot_files(folder)
    content = CourseContent(
        slug=folder.name,
        folder=folder,
        title=data["title"].strip(),
        summary=data["summary"].strip(),
        audience=data["audience"],
        default_locale=data["default_locale"],
        locales=tuple(data["locales"]),
        estimated_minutes=data["estimated_minutes"],
        quiz=data["quiz"],
        pass_mark=data["pass_mark"],
        recertify_every_days=data["recertify_every_days"],
        due_within_days_of_hire=data["due_within_days_of_hire"],
        policy_lesson=data["policy_lesson"],
        attestation_statement=data["attestation_statement"].strip(),
        translations={loc: {k: v.strip() for k, v in t.items()} for loc, t in data["translations"].items()},
        lessons=lessons,
        content_hash=hash_files(files),
        files=files,
        edition=data["edition"],
    )
    if not SLUG.match(content.slug):
        raise ContentError(
            folder, None, "the folder name is the course slug: lowercase letters, digits, dashes"
        )
    for validator in _validators:
        validator(content)
    return content


def load_all(root: Path = CONTENT_ROOT) -> tuple[list[CourseContent], list[ContentError]]:
    courses, errors = [], []
    for folder in course_folders(root):
        try:
            courses.append(load_course(folder))
        except ContentErrors as exc:
            errors.extend(exc.items)
        except ContentError as exc:
            errors.append(exc)
    return courses, errors


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(path, None, "file is missing") from None
    except UnicodeDecodeError as exc:
        raise ContentError(path, None, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContentError(path, where, f"invalid YAML: {problem}") from None


def _load_schema(path: Path, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ContentError(path, None, "must be a YAML mapping of fields (title: ..., lessons: ...)")
    try:
        return CourseSchema().load(raw)
    except ValidationError as exc:
        field, problem = first_error(exc.messages)
        raise ContentError(path, field, problem) from None


def first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    """marshmallow's nested messages -> ("lessons.2.slug", "Missing data for required field.")."""
    if isinstance(messages, dict):
        key = sorted(messages, key=str)[0]
        name = key if key != "_schema" else ""
        path = f"{prefix}.{name}".strip(".") if name != "" else prefix
        return first_error(messages[key], path)
    if isinstance(messages, list) and messages:
        if all(isinstance(m, str) for m in messages):
            return prefix or "(file)", " ".join(messages)
        return first_error(messages[0], prefix)
    return prefix or "(file)", str(messages)


def _load_lesson(folder: Path, entry: dict[str, Any], locales: list[str]) -> LessonContent:
    texts = {}
    for locale in locales:
        path = folder / "lessons" / locale / f"{entry['slug']}.md"
        if not path.exists():
            raise ContentError(
                folder / "course.yaml",
                f"lessons.{entry['slug']}",
                f"lesson file {path.relative_to(folder)} is missing",
            )
        texts[locale] = parse_lesson(path)
    return LessonContent(slug=entry["slug"], minutes=entry["minutes"], texts=texts)


def parse_lesson(path: Path) -> LessonText:
    markdown = path.read_text(encoding="utf-8")
    first_line, _, body = markdown.lstrip("\ufeff").partition("\n")
    if not first_line.startswith("# ") or not first_line[2:].strip():
        raise ContentError(path, "line 1", "a lesson starts with its title as a level-1 heading: '# Title'")
    return LessonText(title=first_line[2:].strip(), markdown=body.strip(), html=render_markdown(body))


def quiz_id(path: Path) -> str | None:
    """The id declared by a quiz bank file (its full validation belongs to the quizzes package)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # a broken bank is reported by its own validation
    return data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None


def snapshot_files(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix in (".yaml", ".yml", ".md")
    }


def hash_files(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].replace("\r\n", "\n").encode() + b"\0")
    return digest.hexdigest()


# --- Markdown -----------------------------------------------------------------------------------

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h2",
    "h3",
    "h4",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


def render_markdown(text: str) -> str:
    """CommonMark to HTML; raw HTML is not rendered and the result is sanitised (nh3)."""
    html = _markdown.render(text)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
