"""Questions and banks built in memory, and hypothesis strategies for them (no files, no database)."""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

import yaml
from hypothesis import settings
from hypothesis import strategies as st

from quizzes.bank_loader import load_bank
from quizzes.bank_model import SCORINGS, Bank, Option, Question, frozen_map

# No deadline: a slow CI machine must not turn a correct property into a flaky failure.
quiz_settings = settings(max_examples=150, deadline=None)

TAGS = ("privacy", "media", "crisis", "ism")
CONTENT = Path(__file__).resolve().parents[2] / "courses" / "content"


def course_folders() -> list[Path]:
    return sorted(path.parent for path in CONTENT.glob("*/course.yaml"))


def read_course(folder: Path) -> dict:
    return yaml.safe_load((folder / "course.yaml").read_text(encoding="utf-8"))


@cache
def real_banks() -> dict[str, Bank]:
    """The banks in courses/content by id, each checked against the lessons of its course."""
    found = {}
    for folder in course_folders():
        course = read_course(folder)
        path = folder / "quiz.yaml"
        lessons = {lesson["slug"] for lesson in course["lessons"]}
        found[course["quiz"]] = load_bank(path, lessons, default_locale=course["default_locale"])
    return found


def choice_question(
    question_id: str = "q1",
    *,
    correct: str = "a",
    options: str = "abcd",
    select: str = "single",
    scoring: str = "all_or_nothing",
    tags: tuple[str, ...] = (),
) -> Question:
    """A single/multiple question; `correct` lists the correct option ids as letters."""
    return Question(
        id=question_id,
        type="single" if select == "single" else "multiple",
        lesson="intro",
        tags=tags,
        prompt=f"Prompt of {question_id}?",
        scenario=None,
        options=tuple(Option(letter, f"Option {letter}", letter in correct) for letter in options),
        explanation=f"Explanation of {question_id}.",
        scoring=scoring,
        select=select,
    )


def true_false_question(
    question_id: str = "tf", *, answer: bool = True, tags: tuple[str, ...] = ()
) -> Question:
    return Question(
        id=question_id,
        type="true_false",
        lesson="intro",
        tags=tags,
        prompt="A statement.",
        scenario=None,
        options=(Option("true", "True", answer), Option("false", "False", not answer)),
        explanation="Why.",
    )


def bank_of(
    questions: list[Question] | tuple[Question, ...], draw: int | None = None, **kwargs: object
) -> Bank:
    return Bank(
        id="sample",
        title="Sample",
        draw=draw if draw is not None else len(questions),
        questions=tuple(questions),
        titles=frozen_map({"en": "Sample"}),
        **kwargs,  # type: ignore[arg-type]
    )


@st.composite
def choice_questions(
    draw: st.DrawFn, question_id: str = "q", select: str | None = None, scoring: str | None = None
) -> Question:
    letters = string.ascii_lowercase[: draw(st.integers(3, 5))]
    select = select or draw(st.sampled_from(("single", "multiple")))
    if select == "single":
        correct = draw(st.sampled_from(letters))
        scoring = "all_or_nothing"
    else:
        order = draw(st.permutations(letters))
        correct = "".join(order[: draw(st.integers(2, len(letters) - 1))])
        scoring = scoring or draw(st.sampled_from(SCORINGS))
    tags = tuple(draw(st.lists(st.sampled_from(TAGS), max_size=3, unique=True)))
    return choice_question(
        question_id, correct=correct, options=letters, select=select, scoring=scoring, tags=tags
    )


@st.composite
def questions(draw: st.DrawFn, question_id: str = "q") -> Question:
    if draw(st.booleans()) and draw(st.booleans()):
        tags = tuple(draw(st.lists(st.sampled_from(TAGS), max_size=3, unique=True)))
        return true_false_question(question_id, answer=draw(st.booleans()), tags=tags)
    return draw(choice_questions(question_id))


@st.composite
def banks(draw: st.DrawFn, max_questions: int = 12) -> Bank:
    """A bank the loader would accept: draw within the bank, tag minimums that can be met."""
    count = draw(st.integers(1, max_questions))
    items = [draw(questions(f"q{index:02d}")) for index in range(count)]
    size = draw(st.integers(1, count))
    minimums: dict[str, int] = {}
    budget = size
    for tag in draw(st.lists(st.sampled_from(TAGS), unique=True)):
        tagged = sum(1 for question in items if tag in question.tags)
        if tagged and budget:
            minimums[tag] = draw(st.integers(1, min(tagged, budget)))
            budget -= minimums[tag]
    return bank_of(items, draw=size, draw_by_tag=frozen_map(minimums))


@st.composite
def selections(draw: st.DrawFn, question: Question) -> frozenset[str]:
    """A non-empty selection the question accepts (one option for single-select questions)."""
    if question.select == "single":
        return frozenset({draw(st.sampled_from(question.option_ids))})
    return frozenset(draw(st.sets(st.sampled_from(question.option_ids), min_size=1)))
