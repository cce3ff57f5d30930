"""Question types: a small registry from quiz.yaml's `type:` to the rules of that type.

Like CTFd's flag plugins, each type is a class registered under its name. A type knows how to
validate a question's YAML (after the marshmallow schema has checked the shapes), how to produce
its options, how to check a translation of it and how to grade a set of selected option ids.

Grading (`QuestionType.grade`) returns a Fraction in [0, 1]:

- single-select questions, and multiple-select ones with `scoring: all_or_nothing`: 1 for exactly
  the set of correct options, otherwise 0.
- `scoring: partial` (see `partial_credit`): each correct option selected earns 1/C, where C is the
  number of correct options; each wrong option selected costs 1/min(C, W), where W is the number of
  wrong options; the total is floored at 0. When W >= C this is (right selected - wrong selected) / C.
  When there are fewer wrong than correct options each wrong one costs 1/W instead, so that
  selecting every option always nets 0: ticking everything never earns credit.

Unknown option ids are not graded: `check_answer` rejects them (and empty answers, and several
options on a single-select question) before grading.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from fractions import Fraction
from typing import Any, ClassVar, TypeVar

from flask_babel import gettext

from courses.errors import ContentError
from quizzes.bank_model import Option, Question, frozen_map
from training_app.errors import N_, DomainError

# Builds a ContentError for a field of the question being checked, e.g. error_at("options", 2, "id",
# problem="...") -> "quiz.yaml: questions[3] (o04).options[2].id (line 57): ...". The loader supplies it.
ErrorAt = Callable[..., ContentError]

MIN_OPTIONS = 3
MAX_OPTIONS = 5

# The generated options of true_false questions, by locale; other locales fall back to English.
TRUE_FALSE_LABELS: Mapping[str, tuple[str, str]] = frozen_map(
    {
        "en": ("True", "False"),
        "es": ("Verdadero", "Falso"),
        "fr": ("Vrai", "Faux"),
        "de": ("Wahr", "Falsch"),
        "pt": ("Verdadeiro", "Falso"),
    }
)


class InvalidAnswer(DomainError):
    """A submitted answer does not fit the question (empty, unknown option, too many options)."""

    status = 422
    code = "invalid_answer"
    title = N_("Please check your answer")


# --- registry -------------------------------------------------------------------------------------

QUESTION_TYPES: dict[str, QuestionType] = {}
QuestionTypeClass = TypeVar("QuestionTypeClass", bound="type[QuestionType]")


def register(cls: QuestionTypeClass) -> QuestionTypeClass:
    """Class decorator: make a question type available under `cls.name`."""
    if cls.name in QUESTION_TYPES:
        raise ValueError(f"question type {cls.name!r} is already registered")
    QUESTION_TYPES[cls.name] = cls()
    return cls


def question_type(name: str) -> QuestionType:
    try:
        return QUESTION_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown question type {name!r}; known: {', '.join(QUESTION_TYPES)}") from None


# --- grading --------------------------------------------------------------------------------------


def partial_credit(correct: Collection[str], wrong: Collection[str], selected: Collection[str]) -> Fraction:
    """Credit for a multiple-select answer under `scoring: partial` (formula in the module docstring)."""
    right_selected = sum(1 for option_id in selected if option_id in correct)
    wrong_selected = sum(1 for option_id in selected if option_id in wrong)
    penalty = Fraction(1, min(len(correct), len(wrong))) if wrong else Fraction(0)
    return max(Fraction(0), Fraction(right_selected, len(correct)) - wrong_selected * penalty)


def all_or_nothing(correct: Collection[str], selected: Collection[str]) -> Fraction:
    return _FULL if set(selected) == set(correct) else _NONE


_FULL, _NONE = Fraction(1), Fraction(0)  # immutable: shared, not built per answer


def check_answer(
    question: Question, selected_ids: Iterable[str], *, number: int | None = None
) -> frozenset[str]:
    """The selected option ids as a set, or InvalidAnswer (422) saying what is wrong with them.

    A single string counts as one option id. `number` is the question's position in the attempt,
    used in the messages; without it the question id is.
    """
    label = str(number) if number is not None else question.id
    selected = [selected_ids] if isinstance(selected_ids, str) else list(selected_ids)
    if not selected:
        raise _invalid(question, gettext("Choose an answer for question %(label)s.", label=label))
    known = set(question.option_ids)
    for option_id in selected:
        if not isinstance(option_id, str) or option_id not in known:
            raise _invalid(
                question,
                gettext(
                    "Option %(option)s is not one of the options of question %(label)s.",
                    option=repr(option_id),
                    label=label,
                ),
            )
    chosen = frozenset(selected)
    if question.select == "single" and len(chosen) > 1:
        raise _invalid(
            question,
            gettext("Question %(label)s takes one answer; you chose %(n)d.", label=label, n=len(chosen)),
        )
    return chosen


def _invalid(question: Question, message: str) -> InvalidAnswer:
    return InvalidAnswer(message, errors={question.id: message})


# --- the types ------------------------------------------------------------------------------------


class QuestionType(ABC):
    """Base class. `raw` is one question's dict as loaded by the marshmallow schema (absent fields None)."""

    name: ClassVar[str]
    fields_not_allowed: ClassVar[Mapping[str, str]] = {}  # field -> why it does not belong

    def select(self, raw: Mapping[str, Any]) -> str:
        return "single"

    def scoring(self, raw: Mapping[str, Any]) -> str:
        return raw.get("scoring") or "all_or_nothing"

    def validate(self, raw: Mapping[str, Any], error_at: ErrorAt) -> list[ContentError]:
        return [
            error_at(field, problem=reason)
            for field, reason in self.fields_not_allowed.items()
            if raw.get(field) is not None
        ]

    @abstractmethod
    def options(self, raw: Mapping[str, Any], locale: str) -> tuple[Option, ...]:
        """The question's options (true_false makes its own)."""

    def validate_translation(
        self, question: Question, raw: Mapping[str, Any], error_at: ErrorAt
    ) -> list[ContentError]:
        errors = [
            error_at(field, problem=f"missing: question {question.id} has a {field} in the default locale")
            for field in ("prompt", "explanation")
            if raw.get(field) is None
        ]
        if question.scenario is not None and raw.get("scenario") is None:
            errors.append(error_at("scenario", problem=f"missing: question {question.id} has a scenario"))
        if question.scenario is None and raw.get("scenario") is not None:
            errors.append(
                error_at("scenario", problem=f"question {question.id} has no scenario to translate")
            )
        return errors

    @abstractmethod
    def translated_option_texts(
        self, question: Question, raw: Mapping[str, Any], locale: str
    ) -> Mapping[str, str]:
        """Option id -> text in `locale`, from a translation file's entry."""

    def grade(self, question: Question, selected: Collection[str]) -> Fraction:
        correct = question.correct_ids
        if question.select == "multiple" and question.scoring == "partial":
            return partial_credit(correct, set(question.option_ids) - correct, selected)
        return all_or_nothing(correct, selected)


class ChoiceType(QuestionType):
    """Questions with an `options` list in quiz.yaml: single, multiple and scenario."""

    def validate(self, raw: Mapping[str, Any], error_at: ErrorAt) -> list[ContentError]:
        errors = super().validate(raw, error_at)
        if raw.get("answer") is not None:
            errors.append(
                error_at("answer", problem="`answer` is only for true_false; mark options with correct: true")
            )
        options = raw.get("options")
        if options is None:
            return [*errors, error_at("options", problem=f"a {self.name} question needs a list of options")]
        errors += self._check_option_ids(options, raw["id"], error_at)
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            errors.append(
                error_at(
                    "options",
                    problem=f"has {len(options)} options; a question has {MIN_OPTIONS} to {MAX_OPTIONS}",
                )
            )
        select = self.select(raw)
        errors += self._check_correct_count(options, select, error_at)
        if select == "single" and raw.get("scoring") == "partial":
            errors.append(
                error_at(
                    "scoring",
                    problem="partial scoring needs several correct options (type or select: multiple)",
                )
            )
        return errors

    @staticmethod
    def _check_option_ids(
        options: list[Mapping[str, Any]], question_id: str, error_at: ErrorAt
    ) -> list[ContentError]:
        seen: set[str] = set()
        errors = []
        for index, option in enumerate(options):
            if option["id"] in seen:
                errors.append(
                    error_at(
                        "options",
                        index,
                        "id",
                        problem=f"duplicate option id {option['id']!r} in question {question_id}",
                    )
                )
            seen.add(option["id"])
        return errors

    @staticmethod
    def _check_correct_count(
        options: list[Mapping[str, Any]], select: str, error_at: ErrorAt
    ) -> list[ContentError]:
        correct = [option["id"] for option in options if option["correct"]]
        if not correct:
            return [
                error_at(
                    "options", problem="no option is marked correct: true; every question needs an answer"
                )
            ]
        if select == "single" and len(correct) > 1:
            problem = (
                f"{len(correct)} options are marked correct ({', '.join(correct)}); a single-answer question "
                "needs exactly one (use type: multiple, or select: multiple, for several)"
            )
            return [error_at("options", problem=problem)]
        if select == "multiple" and len(correct) < 2:
            problem = (
                "only 1 option is marked correct; a multiple-answer question needs at least 2 "
                "(use type: single, or select: single, for one)"
            )
            return [error_at("options", problem=problem)]
        if select == "multiple" and len(correct) == len(options):
            return [error_at("options", problem="every option is marked correct; at least one must be wrong")]
        return []

    def options(self, raw: Mapping[str, Any], locale: str) -> tuple[Option, ...]:
        return tuple(
            Option(id=option["id"], text=option["text"].strip(), correct=option["correct"])
            for option in raw.get("options") or ()
        )

    def validate_translation(
        self, question: Question, raw: Mapping[str, Any], error_at: ErrorAt
    ) -> list[ContentError]:
        errors = super().validate_translation(question, raw, error_at)
        texts = raw.get("options")
        if texts is None:
            return [*errors, error_at("options", problem=f"missing: question {question.id} has options")]
        errors += [
            error_at("options", option_id, problem=f"question {question.id} has no option {option_id!r}")
            for option_id in texts
            if option_id not in question.option_ids
        ]
        missing = [option_id for option_id in question.option_ids if option_id not in texts]
        if missing:
            errors.append(
                error_at("options", problem=f"missing translation of option(s) {', '.join(missing)}")
            )
        return errors

    def translated_option_texts(
        self, question: Question, raw: Mapping[str, Any], locale: str
    ) -> Mapping[str, str]:
        texts = raw.get("options") or {}
        return frozen_map(
            {option.id: texts.get(option.id, option.text).strip() for option in question.options}
        )


_ONLY_SCENARIO = "`scenario` text is only for scenario questions"
_SELECT_ONLY_SCENARIO = "`select` is only for scenario questions (the type already says how many to choose)"


@register
class SingleChoice(ChoiceType):
    name = "single"
    fields_not_allowed = {"scenario": _ONLY_SCENARIO, "select": _SELECT_ONLY_SCENARIO}


@register
class MultipleChoice(ChoiceType):
    name = "multiple"
    fields_not_allowed = {"scenario": _ONLY_SCENARIO, "select": _SELECT_ONLY_SCENARIO}

    def select(self, raw: Mapping[str, Any]) -> str:
        return "multiple"


@register
class TrueFalse(QuestionType):
    name = "true_false"
    fields_not_allowed = {
        "options": "true_false questions have no options; write `answer: true` or `answer: false`",
        "scenario": _ONLY_SCENARIO,
        "select": "true_false questions take one answer; remove `select`",
        "scoring": "true_false questions are right or wrong; remove `scoring`",
    }

    def validate(self, raw: Mapping[str, Any], error_at: ErrorAt) -> list[ContentError]:
        errors = super().validate(raw, error_at)
        if raw.get("answer") is None:
            errors.append(
                error_at("answer", problem="a true_false question needs `answer: true` or `answer: false`")
            )
        return errors

    def options(self, raw: Mapping[str, Any], locale: str) -> tuple[Option, ...]:
        true_text, false_text = true_false_labels(locale)
        answer = raw.get("answer")
        return (Option("true", true_text, answer is True), Option("false", false_text, answer is False))

    def validate_translation(
        self, question: Question, raw: Mapping[str, Any], error_at: ErrorAt
    ) -> list[ContentError]:
        errors = super().validate_translation(question, raw, error_at)
        if raw.get("options") is not None:
            errors.append(
                error_at(
                    "options",
                    problem="true_false questions have no options to translate (True/False are built in)",
                )
            )
        return errors

    def translated_option_texts(
        self, question: Question, raw: Mapping[str, Any], locale: str
    ) -> Mapping[str, str]:
        true_text, false_text = true_false_labels(locale)
        return frozen_map({"true": true_text, "false": false_text})


@register
class Scenario(ChoiceType):
    name = "scenario"

    def select(self, raw: Mapping[str, Any]) -> str:
        return raw.get("select") or "single"

    def validate(self, raw: Mapping[str, Any], error_at: ErrorAt) -> list[ContentError]:
        errors = super().validate(raw, error_at)
        if raw.get("scenario") is None:
            errors.append(error_at("scenario", problem="a scenario question needs the `scenario` text"))
        if raw.get("select") is None:
            errors.append(
                error_at("select", problem="a scenario question needs `select: single` or `select: multiple`")
            )
        return errors


def true_false_labels(locale: str | None) -> tuple[str, str]:
    return TRUE_FALSE_LABELS.get(locale or "en", TRUE_FALSE_LABELS["en"])
