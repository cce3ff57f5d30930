"""The question bank as immutable data: what `quizzes.bank_loader.load_bank` returns.

Kept apart from the loader so the question types, drawing and grading can use it without a cycle;
`quizzes.bank_loader` re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TypeVar

REVIEW_MODES = ("after_each", "after_pass")
SCORINGS = ("all_or_nothing", "partial")
SELECTS = ("single", "multiple")

K = TypeVar("K")
V = TypeVar("V")


def frozen_map(items: Mapping[K, V] | None = None) -> Mapping[K, V]:
    """A read-only view of a copy, so a frozen dataclass cannot be changed through its mappings."""
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True)
class Option:
    id: str
    text: str
    correct: bool = False


@dataclass(frozen=True)
class QuestionText:
    """The learner-facing texts of a question in one locale."""

    locale: str
    prompt: str
    scenario: str | None
    option_texts: Mapping[str, str]  # option id -> text, in the bank's option order
    explanation: str


@dataclass(frozen=True)
class Question:
    id: str
    type: str  # a name registered in quizzes.question_types
    lesson: str
    tags: tuple[str, ...]
    prompt: str
    scenario: str | None
    options: tuple[Option, ...]  # true_false: generated `true` / `false` options
    explanation: str
    scoring: str = "all_or_nothing"  # all_or_nothing | partial; always all_or_nothing for single select
    select: str = "single"  # single | multiple: how many options a learner may choose
    translations: Mapping[str, QuestionText] = field(default_factory=frozen_map)  # non-default locales
    locale: str = "en"  # the locale of the texts above

    # Cached: grading reads them for every question of every submit, and a question never changes.
    @cached_property
    def option_ids(self) -> tuple[str, ...]:
        return tuple(option.id for option in self.options)

    @cached_property
    def correct_ids(self) -> frozenset[str]:
        return frozenset(option.id for option in self.options if option.correct)

    def localized(self, locale: str | None) -> QuestionText:
        """The texts in `locale`, or in the bank's default locale when there is no translation."""
        if locale and locale in self.translations:
            return self.translations[locale]
        return QuestionText(
            locale=self.locale,
            prompt=self.prompt,
            scenario=self.scenario,
            option_texts=frozen_map({option.id: option.text for option in self.options}),
            explanation=self.explanation,
        )


@dataclass(frozen=True)
class Bank:
    id: str
    title: str
    draw: int  # questions per attempt
    questions: tuple[Question, ...]
    draw_by_tag: Mapping[str, int] = field(default_factory=frozen_map)  # tag -> minimum, in file order
    max_attempts: int = 3
    cooldown_minutes: int = 0
    time_limit_minutes: int | None = None
    review: str = "after_each"  # after_each | after_pass
    titles: Mapping[str, str] = field(default_factory=frozen_map)  # locale -> title, default locale included
    locale: str = "en"  # the locale of quiz.yaml itself

    @cached_property
    def _by_id(self) -> Mapping[str, Question]:
        return frozen_map({question.id: question for question in self.questions})

    @property
    def locales(self) -> tuple[str, ...]:
        return (self.locale, *sorted(loc for loc in self.titles if loc != self.locale))

    def question(self, question_id: str) -> Question:
        """The question with this id; KeyError if the bank has none."""
        return self._by_id[question_id]

    def has_question(self, question_id: str) -> bool:
        return question_id in self._by_id

    def localized_title(self, locale: str | None) -> str:
        return self.titles.get(locale or self.locale) or self.title
