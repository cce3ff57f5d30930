import json
import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from quizzes.draw import DrawnQuestion, draw_questions, drawn_from_json
from tests.quiz.builders import (
    bank_of,
    banks,
    choice_question,
    quiz_settings,
    real_banks,
    true_false_question,
)

seeds = st.integers(0, 2**64)


def check_draw(bank, drawn):
    ids = [item.question_id for item in drawn]
    assert len(ids) == bank.draw
    assert len(set(ids)) == len(ids)
    for tag, minimum in bank.draw_by_tag.items():
        assert sum(1 for qid in ids if tag in bank.question(qid).tags) >= minimum, tag
    for item in drawn:
        question = bank.question(item.question_id)
        assert sorted(item.option_order) == sorted(question.option_ids)
        if question.type == "true_false":
            assert item.option_order == ("true", "false")


@quiz_settings
@given(banks(), seeds)
def test_a_draw_respects_the_count_the_tag_minimums_and_the_options(bank, seed):
    check_draw(bank, draw_questions(bank, random.Random(seed)))


@quiz_settings
@given(seeds)
def test_draws_from_the_real_banks_respect_their_rules(seed):
    for bank in real_banks().values():
        check_draw(bank, draw_questions(bank, random.Random(seed)))


@quiz_settings
@given(banks(), seeds)
def test_the_same_seed_gives_the_same_draw(bank, seed):
    assert draw_questions(bank, random.Random(seed)) == draw_questions(bank, random.Random(seed))


def test_different_seeds_give_different_draws():
    bank = real_banks()["orientation"]
    draws = {tuple(draw_questions(bank, random.Random(seed))) for seed in range(20)}
    assert len(draws) == 20


def test_every_question_and_option_position_comes_up():
    bank = real_banks()["orientation"]
    seen, first_options = Counter(), Counter()
    for seed in range(400):
        for item in draw_questions(bank, random.Random(seed)):
            seen[item.question_id] += 1
            first_options[item.option_order[0]] += item.question_id == "o01"
    assert set(seen) == {question.id for question in bank.questions}
    assert all(first_options[letter] > 0 for letter in "abcd")


def test_a_question_with_several_tags_is_drawn_once_and_counts_toward_each_minimum():
    both = choice_question("both", tags=("privacy", "media"))
    media = [choice_question(f"m{n}", tags=("media",)) for n in range(2)]
    others = [choice_question(f"x{n}") for n in range(5)]
    bank = bank_of([both, *media, *others], draw=2, draw_by_tag={"privacy": 1, "media": 1})
    draws = [{item.question_id for item in draw_questions(bank, random.Random(seed))} for seed in range(30)]
    assert all("both" in ids and len(ids) == 2 for ids in draws)
    assert any(not ids & {"m0", "m1"} for ids in draws)  # `both` already met the media minimum


def test_the_draw_is_plain_json_data():
    bank = bank_of([choice_question("q1"), true_false_question("t1")])
    drawn = draw_questions(bank, random.Random(7))
    stored = json.loads(json.dumps(drawn))
    assert all(isinstance(item, list) for item in stored)
    assert drawn_from_json(stored) == drawn
    assert all(
        isinstance(item, DrawnQuestion) and isinstance(item.option_order, tuple)
        for item in drawn_from_json(stored)
    )
