"""The question bank's marshmallow schemas: shapes and types only (quizzes.bank_loader checks the
rules across questions and translations).
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from quizzes.bank_model import (
    REVIEW_MODES,
    SCORINGS,
    SELECTS,
)
from quizzes.question_types import QUESTION_TYPES

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
LOCALE = re.compile(r"^[a-z]{2}$")


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
