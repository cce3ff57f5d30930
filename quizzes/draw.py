"""Draw the questions of one attempt from a bank.

1. For each `draw_by_tag` minimum, in file order: count the questions already drawn that carry the
   tag, and draw the shortfall at random from the not-yet-drawn questions with that tag. A question
   is drawn once, even if it has several tags, and counts toward the minimum of each of its tags.
2. Fill up to `draw` at random from the questions not drawn yet.
3. Shuffle the question order, and the option order of each question (true_false keeps True, False).

The loader guarantees this always succeeds: every tag has enough questions and the minimums add up
to at most `draw`. The result is plain data (ids only) for the attempt to store as JSON, and the
same `random.Random` seed always gives the same draw.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from quizzes.bank_model import Bank, Question

FIXED_OPTION_ORDER_TYPES = frozenset({"true_false"})


class DrawnQuestion(NamedTuple):
    question_id: str
    option_order: tuple[str, ...]

    @classmethod
    def from_json(cls, item: Sequence[Any]) -> DrawnQuestion:
        """From the stored form: json.dumps turns a DrawnQuestion into [id, [option ids]]."""
        question_id, option_order = item
        return cls(str(question_id), tuple(str(option_id) for option_id in option_order))


def drawn_from_json(items: Iterable[Sequence[Any]]) -> list[DrawnQuestion]:
    return [DrawnQuestion.from_json(item) for item in items]


def draw_questions(bank: Bank, rng: random.Random) -> list[DrawnQuestion]:
    chosen = _satisfy_tag_minimums(bank, rng)
    chosen_ids = {question.id for question in chosen}
    rest = [question for question in bank.questions if question.id not in chosen_ids]
    chosen += rng.sample(rest, bank.draw - len(chosen))
    rng.shuffle(chosen)
    return [DrawnQuestion(question.id, _option_order(question, rng)) for question in chosen]


def _satisfy_tag_minimums(bank: Bank, rng: random.Random) -> list[Question]:
    chosen: list[Question] = []
    for tag, minimum in bank.draw_by_tag.items():
        already = sum(1 for question in chosen if tag in question.tags)
        if already >= minimum:
            continue
        chosen_ids = {question.id for question in chosen}
        candidates = [q for q in bank.questions if tag in q.tags and q.id not in chosen_ids]
        chosen += rng.sample(candidates, minimum - already)
    return chosen


def _option_order(question: Question, rng: random.Random) -> tuple[str, ...]:
    order = list(question.option_ids)
    if question.type not in FIXED_OPTION_ORDER_TYPES:
        rng.shuffle(order)
    return tuple(order)
