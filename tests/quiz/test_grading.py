import dataclasses
import json
import math
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quizzes.bank_model import QuestionText, frozen_map
from quizzes.draw import DrawnQuestion, draw_questions
from quizzes.grading import grade, passed, percent_score, score_checked
from quizzes.question_types import InvalidAnswer
from tests.quiz.builders import (
    bank_of,
    banks,
    choice_question,
    quiz_settings,
    selections,
    true_false_question,
)


@st.composite
def attempts(draw):
    """A bank, the questions drawn for an attempt and answers (some questions left unanswered)."""
    bank = draw(banks())
    drawn = draw_questions(bank, random.Random(draw(st.integers(0, 2**32))))
    answers = {}
    for item in drawn:
        if draw(st.booleans()) or draw(st.booleans()):
            answers[item.question_id] = sorted(draw(selections(bank.question(item.question_id))))
    return bank, drawn, answers


@quiz_settings
@given(attempts())
def test_the_score_is_always_between_0_and_100(attempt):
    result = grade(*attempt)
    assert 0 <= result.score <= 100
    assert all(0 <= question.fraction <= 1 for question in result.questions)


@quiz_settings
@given(attempts(), st.randoms(use_true_random=False))
def test_the_grade_does_not_depend_on_question_or_option_order(attempt, rng):
    bank, drawn, answers = attempt
    shuffled = [
        DrawnQuestion(item.question_id, tuple(rng.sample(item.option_order, len(item.option_order))))
        for item in drawn
    ]
    rng.shuffle(shuffled)
    reordered_answers = {qid: list(reversed(ids)) for qid, ids in reversed(list(answers.items()))}
    first, second = grade(bank, drawn, answers), grade(bank, shuffled, reordered_answers)
    assert first.score == second.score
    assert {q.question_id: q.fraction for q in first.questions} == {
        q.question_id: q.fraction for q in second.questions
    }


@quiz_settings
@given(attempts())
def test_100_only_when_every_question_is_fully_right(attempt):
    bank, drawn, answers = attempt
    result = grade(bank, drawn, answers)
    assert (result.score == 100) == all(q.fully_correct for q in result.questions) == result.perfect
    all_right = {item.question_id: sorted(bank.question(item.question_id).correct_ids) for item in drawn}
    assert grade(bank, drawn, all_right).score == 100


@quiz_settings
@given(attempts())
def test_the_submit_s_lean_score_is_the_graded_score(attempt):
    bank, drawn, answers = attempt
    result = grade(bank, drawn, answers)
    score, fractions = score_checked(bank, drawn, answers)
    assert score == result.score
    assert fractions == {q.question_id: q.fraction for q in result.questions}


@quiz_settings
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.fractions(0, n))))
def test_percent_score_rounds_half_up_but_only_gives_100_for_full_marks(case):
    max_points, points = case
    score = percent_score(points, max_points)
    exact = Fraction(100) * points / max_points
    assert 0 <= score <= 100
    assert (score == 100) == (points == max_points)
    assert abs(score - exact) <= Fraction(1, 2) or (score == 99 and points < max_points)
    rounded = math.floor(exact + Fraction(1, 2))  # the docstring's formula, in Fractions
    assert score == (rounded if points == max_points else min(rounded, 99))
    if points.denominator == 1:  # the submit sums whole points as an int
        assert percent_score(points.numerator, max_points) == score


@pytest.mark.parametrize(
    ("points", "max_points", "score"),
    [
        (Fraction(0), 10, 0),
        (Fraction(10), 10, 100),
        (Fraction(1, 3), 1, 33),
        (Fraction(2, 3), 1, 67),
        (Fraction(159, 20), 10, 80),  # 79.5% rounds half up
        (Fraction(797, 100), 10, 80),  # 79.7%
        (Fraction(789, 100), 10, 79),  # 78.9%
        (Fraction(199, 20), 10, 99),  # 99.5% would round to 100: capped
        (Fraction(29, 3), 10, 97),
    ],
)
def test_percent_score_examples(points, max_points, score):
    assert percent_score(points, max_points) == score


def test_percent_score_refuses_impossible_results():
    with pytest.raises(ValueError):
        percent_score(Fraction(11), 10)
    with pytest.raises(ValueError):
        percent_score(Fraction(0), 0)


def test_passed_compares_with_the_pass_mark():
    assert passed(80, 80)
    assert not passed(79, 80)
    assert passed(100, 100)
    with pytest.raises(ValueError):
        passed(90, 120)


def two_question_bank():
    multiple = choice_question("m1", correct="ab", options="abcd", select="multiple", scoring="partial")
    spanish = QuestionText(
        "es", "¿Cuál?", None, frozen_map({"true": "Verdadero", "false": "Falso"}), "Porque sí."
    )
    statement = true_false_question("t1", answer=False)
    statement = dataclasses.replace(statement, translations=frozen_map({"es": spanish}))
    return bank_of([multiple, statement])


def test_grade_gives_points_feedback_and_a_json_ready_result():
    bank = two_question_bank()
    drawn = [DrawnQuestion("t1", ("true", "false")), DrawnQuestion("m1", ("d", "b", "c", "a"))]
    result = grade(bank, drawn, {"m1": ["a", "b", "c"], "t1": ["false"]}, locale="es")
    assert result.max_points == 2
    assert result.points == 1.5
    assert result.score == 75
    assert result.passed(75) and not result.passed(80)
    first, second = result.questions
    assert (first.question_id, first.number, first.fraction, first.explanation) == (
        "t1",
        1,
        1.0,
        "Porque sí.",
    )
    assert second.selected_ids == ("b", "c", "a")  # in the order the learner saw them
    assert second.correct_ids == ("b", "a")
    assert second.fraction == 0.5 and second.points == 0.5 and not second.fully_correct
    assert json.loads(json.dumps(result.as_dict()))["questions"][1]["fraction"] == 0.5


def test_unanswered_questions_earn_nothing():
    bank = two_question_bank()
    drawn = [DrawnQuestion("t1", ("true", "false")), DrawnQuestion("m1", ("a", "b", "c", "d"))]
    result = grade(bank, drawn, {"m1": []})
    assert result.score == 0
    assert not any(q.answered for q in result.questions)
    assert result.questions[0].explanation == "Why."


def test_answers_to_questions_not_drawn_are_refused():
    bank = two_question_bank()
    with pytest.raises(InvalidAnswer, match="Question 'm1' is not part of this attempt"):
        grade(bank, [DrawnQuestion("t1", ("true", "false"))], {"m1": ["a"]})


def test_unknown_options_are_refused_not_graded():
    bank = two_question_bank()
    drawn = [DrawnQuestion("t1", ("true", "false")), DrawnQuestion("m1", ("a", "b", "c", "d"))]
    with pytest.raises(InvalidAnswer, match="Option 'z' is not one of the options of question 2"):
        grade(bank, drawn, {"m1": ["a", "z"]})


def test_a_drawn_question_missing_from_the_bank_is_a_programming_error():
    with pytest.raises(ValueError, match="'gone' of the attempt is not in bank"):
        grade(two_question_bank(), [DrawnQuestion("gone", ("a",))], {})
