"""Grade a submitted attempt and build the feedback for the review page.

Each drawn question is worth 1 point: the fraction its question type gives the selected options
(see quizzes.question_types; option order plays no part). An unanswered question earns 0.

Score, with S the points earned and N the number of questions, in exact fractions:

    score = floor(100 * S / N + 1/2)      (round half up)
    score = min(score, 99) when S < N     (100 only when every question is fully right)

so 79.5% shows as 80 and passes a pass mark of 80, while 99.6% shows as 99. The results hold floats
(JSON-ready for the attempt row); the score is computed from the exact fractions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from quizzes.bank_model import Bank, Question
from quizzes.draw import DrawnQuestion
from quizzes.question_types import InvalidAnswer, check_answer, question_type


@dataclass(frozen=True)
class QuestionResult:
    question_id: str
    number: int  # position in the attempt, from 1
    fraction: float  # in [0, 1]; also the points earned, as each question is worth 1
    selected_ids: tuple[str, ...]  # in the order the learner saw the options
    correct_ids: tuple[str, ...]  # same order
    explanation: str

    @property
    def points(self) -> float:
        return self.fraction

    @property
    def answered(self) -> bool:
        return bool(self.selected_ids)

    @property
    def fully_correct(self) -> bool:
        return self.fraction == 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "number": self.number,
            "fraction": self.fraction,
            "selected_ids": list(self.selected_ids),
            "correct_ids": list(self.correct_ids),
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class GradeResult:
    score: int  # 0-100, see the module docstring
    points: float  # sum of the question fractions
    max_points: int  # number of questions
    questions: tuple[QuestionResult, ...]  # in attempt order

    @property
    def perfect(self) -> bool:
        return all(question.fully_correct for question in self.questions)

    def passed(self, pass_mark: int) -> bool:
        return passed(self.score, pass_mark)

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "points": self.points,
            "max_points": self.max_points,
            "questions": [question.as_dict() for question in self.questions],
        }


def grade(
    bank: Bank,
    drawn: Sequence[DrawnQuestion],
    answers: Mapping[str, Collection[str]],
    *,
    locale: str | None = None,
) -> GradeResult:
    """Grade `answers` (question id -> selected option ids) for the questions `drawn` for the attempt.

    Missing or empty answers earn 0. Answers naming a question that was not drawn, or an option
    the question does not have, raise InvalidAnswer. `locale` picks the explanations' language.
    """
    if not drawn:
        raise ValueError("an attempt has at least one question")
    drawn_ids = {item.question_id for item in drawn}
    for question_id in answers:
        if question_id not in drawn_ids:
            message = f"Question {question_id!r} is not part of this attempt."
            raise InvalidAnswer(message, errors={question_id: message})
    graded = [
        _grade_one(bank, item, answers.get(item.question_id) or (), number, locale)
        for number, item in enumerate(drawn, start=1)
    ]
    points = exact_sum([fraction for fraction, _result in graded])  # exact, for the score
    return GradeResult(
        score=percent_score(points, len(graded)),
        points=float(points),
        max_points=len(graded),
        questions=tuple(result for _fraction, result in graded),
    )


def score_checked(
    bank: Bank, drawn: Sequence[DrawnQuestion], checked: Mapping[str, Collection[str]]
) -> tuple[int, dict[str, float]]:
    """The score and each drawn question's fraction, as `grade` gives them, for answers already
    checked with `check_answer`: the graded submit needs no feedback texts (the result page builds
    them from the stored answers)."""
    fractions = {
        item.question_id: question_fraction(bank.question(item.question_id), checked.get(item.question_id))
        for item in drawn
    }
    score = percent_score(exact_sum(fractions.values()), len(fractions))
    return score, {question_id: float(fraction) for question_id, fraction in fractions.items()}


def exact_sum(fractions: Collection[Fraction]) -> Fraction | int:
    """Most questions earn 0 or 1: an integer sum then, the exact fraction otherwise."""
    if all(fraction.denominator == 1 for fraction in fractions):
        return sum(fraction.numerator for fraction in fractions)
    return sum(fractions, Fraction(0))


def question_fraction(question: Question, selected: Collection[str] | None) -> Fraction:
    return question_type(question.type).grade(question, selected) if selected else _NO_CREDIT


_NO_CREDIT = Fraction(0)


def _grade_one(
    bank: Bank, item: DrawnQuestion, answer: Collection[str], number: int, locale: str | None
) -> tuple[Fraction, QuestionResult]:
    if not bank.has_question(item.question_id):
        raise ValueError(f"question {item.question_id!r} of the attempt is not in bank {bank.id!r}")
    question = bank.question(item.question_id)
    selected = check_answer(question, answer, number=number) if answer else frozenset()
    fraction = question_fraction(question, selected)
    return fraction, QuestionResult(
        question_id=question.id,
        number=number,
        fraction=float(fraction),
        selected_ids=_in_order(selected, item.option_order),
        correct_ids=_in_order(question.correct_ids, item.option_order),
        explanation=question.localized(locale).explanation,
    )


def _in_order(option_ids: Collection[str], order: Sequence[str]) -> tuple[str, ...]:
    position = {option_id: index for index, option_id in enumerate(order)}
    return tuple(sorted(option_ids, key=lambda option_id: (position.get(option_id, len(order)), option_id)))


def percent_score(points: Fraction | int, max_points: int) -> int:
    """The 0-100 score for `points` out of `max_points` (rounding in the module docstring)."""
    if max_points <= 0 or not 0 <= points <= max_points:
        raise ValueError(f"points {points} out of {max_points} is not a valid result")
    # floor(100 * n/d / m + 1/2) in integers (Fraction arithmetic costs ~14 operations per submit)
    n, d = points.numerator, points.denominator
    score = (200 * n + d * max_points) // (2 * d * max_points)
    return score if points == max_points else min(score, 99)


def passed(score: int, pass_mark: int) -> bool:
    """Whether `score` (0-100) reaches `pass_mark` (percent, 0-100)."""
    if not 0 <= pass_mark <= 100:
        raise ValueError(f"pass mark {pass_mark} is not a percentage")
    return score >= pass_mark
