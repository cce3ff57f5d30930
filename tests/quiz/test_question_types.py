from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quizzes.question_types import (
    QUESTION_TYPES,
    InvalidAnswer,
    check_answer,
    partial_credit,
    question_type,
    true_false_labels,
)
from tests.quiz.builders import (
    choice_question,
    choice_questions,
    quiz_settings,
    selections,
    true_false_question,
)
from training_app.errors import DomainError


def credit(question, selected) -> Fraction:
    return question_type(question.type).grade(question, frozenset(selected))


def test_the_registry_has_the_four_types_of_the_content_format():
    assert set(QUESTION_TYPES) == {"single", "multiple", "true_false", "scenario"}
    with pytest.raises(KeyError, match="unknown question type 'essay'"):
        question_type("essay")


# --- partial credit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("correct", "options", "selected", "expected"),
    [
        ("ab", "abcd", "ab", Fraction(1)),
        ("ab", "abcd", "a", Fraction(1, 2)),
        ("ab", "abcd", "abc", Fraction(1, 2)),  # (2 right - 1 wrong) / 2
        ("ab", "abcd", "ac", Fraction(0)),
        ("ab", "abcd", "abcd", Fraction(0)),
        ("ab", "abcde", "abc", Fraction(1, 2)),  # more wrong than right options: (2 - 1) / 2
        ("abc", "abcde", "abd", Fraction(1, 6)),  # 2/3 - 1/2: with 2 wrong options each costs 1/2
        ("abcd", "abcde", "abce", Fraction(0)),  # 3/4 - 1/1
        ("abcd", "abcde", "abc", Fraction(3, 4)),
    ],
)
def test_partial_credit_formula(correct, options, selected, expected):
    question = choice_question(correct=correct, options=options, select="multiple", scoring="partial")
    assert credit(question, selected) == expected


@quiz_settings
@given(st.data())
def test_partial_credit_is_at_most_full_credit_and_full_only_for_the_exact_correct_set(data):
    question = data.draw(choice_questions(select="multiple", scoring="partial"))
    selected = data.draw(selections(question))
    fraction = credit(question, selected)
    assert 0 <= fraction <= 1
    assert (fraction == 1) == (selected == question.correct_ids)


@quiz_settings
@given(choice_questions(select="multiple", scoring="partial"))
def test_selecting_every_option_never_earns_credit(question):
    assert credit(question, question.option_ids) == 0


@quiz_settings
@given(st.data())
def test_all_or_nothing_is_one_only_for_the_exact_correct_set(data):
    question = data.draw(choice_questions(scoring="all_or_nothing"))
    selected = data.draw(selections(question))
    assert credit(question, selected) == (1 if selected == question.correct_ids else 0)


@quiz_settings
@given(st.data())
def test_adding_a_wrong_option_never_increases_credit(data):
    question = data.draw(choice_questions(select="multiple"))
    wrong = sorted(set(question.option_ids) - question.correct_ids)
    selected = data.draw(st.sets(st.sampled_from(question.option_ids)))
    extra = data.draw(st.sampled_from(wrong))
    before = credit(question, selected) if selected else Fraction(0)
    assert credit(question, selected | {extra}) <= before


@quiz_settings
@given(st.data())
def test_adding_a_correct_option_never_decreases_partial_credit(data):
    question = data.draw(choice_questions(select="multiple", scoring="partial"))
    selected = data.draw(st.sets(st.sampled_from(question.option_ids)))
    extra = data.draw(st.sampled_from(sorted(question.correct_ids)))
    before = credit(question, selected) if selected else Fraction(0)
    assert credit(question, selected | {extra}) >= before


def test_partial_credit_handles_a_question_with_no_wrong_options():
    assert partial_credit({"a", "b"}, set(), {"a"}) == Fraction(1, 2)


def test_true_false_is_graded_on_the_answer():
    question = true_false_question(answer=False)
    assert credit(question, {"false"}) == 1
    assert credit(question, {"true"}) == 0


def test_true_false_labels_are_translated_and_fall_back_to_english():
    assert true_false_labels("es") == ("Verdadero", "Falso")
    assert true_false_labels("en") == ("True", "False")
    assert true_false_labels("xx") == ("True", "False")


# --- check_answer -------------------------------------------------------------------------------


def test_check_answer_returns_the_selection_as_a_set():
    question = choice_question("o04", correct="ab", select="multiple")
    assert check_answer(question, ["b", "a", "b"]) == frozenset({"a", "b"})


def test_an_empty_answer_is_refused_with_the_question_number():
    with pytest.raises(InvalidAnswer) as caught:
        check_answer(choice_question("o04"), [], number=3)
    assert caught.value.message == "Choose an answer for question 3."
    assert caught.value.status == 422
    assert isinstance(caught.value, DomainError)
    assert caught.value.errors == {"o04": "Choose an answer for question 3."}


def test_an_unknown_option_is_refused_naming_the_option_and_the_question():
    with pytest.raises(InvalidAnswer, match="Option 'z' is not one of the options of question o04"):
        check_answer(choice_question("o04"), ["a", "z"])


def test_true_false_only_accepts_true_and_false():
    with pytest.raises(InvalidAnswer, match="Option 'yes' is not one of the options"):
        check_answer(true_false_question(), ["yes"])
    with pytest.raises(InvalidAnswer, match="takes one answer"):
        check_answer(true_false_question(), ["true", "false"])


def test_several_options_on_a_single_choice_question_are_refused():
    with pytest.raises(InvalidAnswer, match="Question 2 takes one answer; you chose 2"):
        check_answer(choice_question("o04"), ["a", "b"], number=2)


def test_option_ids_must_be_strings_and_a_string_is_one_id():
    with pytest.raises(InvalidAnswer, match="Option 1 is not one of the options of question o04"):
        check_answer(choice_question("o04"), [1])  # type: ignore[list-item]
    assert check_answer(choice_question("o04"), "a") == {"a"}


def test_several_options_on_a_multiple_choice_question_are_fine():
    question = choice_question("o04", correct="ab", select="multiple")
    assert check_answer(question, ["a", "c"]) == {"a", "c"}
