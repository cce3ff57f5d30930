import shutil
from types import SimpleNamespace

import pytest
import yaml

from courses.errors import ContentError, ContentErrors
from quizzes.bank_loader import load_bank, parse_bank, validate_course_quiz
from tests.quiz.builders import CONTENT, course_folders, read_course, real_banks

LESSONS = {"intro", "rules"}

BANK = """\
id: sample
title: Sample quiz
draw: 3
draw_by_tag:
  privacy: 1
max_attempts: 3
cooldown_minutes: 0
time_limit_minutes: 10
review: after_each
questions:
  - id: q1
    type: single
    lesson: intro
    tags: [privacy]
    prompt: Which one?
    options:
      - {id: a, text: "Right", correct: true}
      - {id: b, text: "Wrong"}
      - {id: c, text: "Also wrong"}
    explanation: Because one.
  - id: q2
    type: multiple
    scoring: partial
    lesson: intro
    tags: [privacy, media]
    prompt: Which ones?
    options:
      - {id: a, text: "Right", correct: true}
      - {id: b, text: "Also right", correct: true}
      - {id: c, text: "Wrong"}
      - {id: d, text: "Also wrong"}
    explanation: Because two.
  - id: q3
    type: true_false
    lesson: rules
    tags: [media]
    prompt: The sky is blue.
    answer: true
    explanation: It is.
  - id: q4
    type: scenario
    lesson: rules
    scenario: Something happens.
    prompt: What now?
    select: single
    options:
      - {id: a, text: "Act", correct: true}
      - {id: b, text: "Wait"}
      - {id: c, text: "Ignore"}
    explanation: Acting helps.
"""

SPANISH = """\
title: Cuestionario de ejemplo
questions:
  q1:
    prompt: ¿Cuál?
    options: {a: Correcta, b: Incorrecta, c: También incorrecta}
    explanation: Por una razón.
  q2:
    prompt: ¿Cuáles?
    options: {a: Correcta, b: También correcta, c: Incorrecta, d: También incorrecta}
    explanation: Por dos razones.
  q3:
    prompt: El cielo es azul.
    explanation: Lo es.
  q4:
    scenario: Algo pasa.
    prompt: ¿Y ahora?
    options: {a: Actuar, b: Esperar, c: Ignorar}
    explanation: Actuar ayuda.
"""


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def line_of(text: str, snippet: str) -> int:
    """The line on which the first `snippet` ends (a snippet may span lines to be unique)."""
    return text[: text.index(snippet) + len(snippet)].count("\n") + 1


def write(folder, bank: str = BANK, **translations: str):
    (folder / "quiz.yaml").write_text(bank, encoding="utf-8")
    for locale, text in translations.items():
        (folder / f"quiz.{locale}.yaml").write_text(text, encoding="utf-8")
    return folder / "quiz.yaml"


def load_error(path, known_lessons=LESSONS) -> str:
    with pytest.raises((ContentError, ContentErrors)) as caught:
        load_bank(path, known_lessons)
    assert caught.value.status == 422
    return caught.value.message


# --- a valid bank -------------------------------------------------------------------------------


def test_a_valid_bank_loads_into_immutable_dataclasses(tmp_path):
    bank = load_bank(write(tmp_path, es=SPANISH), LESSONS)
    assert (bank.id, bank.title, bank.draw, dict(bank.draw_by_tag)) == (
        "sample",
        "Sample quiz",
        3,
        {"privacy": 1},
    )
    assert (bank.max_attempts, bank.cooldown_minutes, bank.time_limit_minutes, bank.review) == (
        3,
        0,
        10,
        "after_each",
    )
    assert bank.locales == ("en", "es")
    assert bank.localized_title("es") == "Cuestionario de ejemplo"
    assert bank.localized_title("fr") == "Sample quiz"
    q1, q2, q3, q4 = bank.questions
    assert (q1.type, q1.select, q1.scoring, q1.tags, q1.correct_ids) == (
        "single",
        "single",
        "all_or_nothing",
        ("privacy",),
        {"a"},
    )
    assert (q2.select, q2.scoring, q2.correct_ids) == ("multiple", "partial", {"a", "b"})
    assert [(o.id, o.text, o.correct) for o in q3.options] == [
        ("true", "True", True),
        ("false", "False", False),
    ]
    assert (q4.scenario, q4.select, q4.scoring) == ("Something happens.", "single", "all_or_nothing")
    with pytest.raises(AttributeError):
        q1.prompt = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        bank.draw_by_tag["media"] = 1  # type: ignore[index]


def test_localized_texts_fall_back_to_the_default_locale(tmp_path):
    bank = load_bank(write(tmp_path, es=SPANISH), LESSONS)
    q3, q4 = bank.question("q3"), bank.question("q4")
    assert dict(q3.localized("es").option_texts) == {"true": "Verdadero", "false": "Falso"}
    assert (q4.localized("es").scenario, q4.localized("es").option_texts["b"]) == ("Algo pasa.", "Esperar")
    assert q4.localized("es").explanation == "Actuar ayuda."
    english = q4.localized("de")
    assert (english.locale, english.prompt, english.option_texts["b"]) == ("en", "What now?", "Wait")
    assert q4.localized(None).prompt == "What now?"


def test_defaults_for_optional_fields(tmp_path):
    text = BANK
    for line in (
        "draw_by_tag:\n  privacy: 1\n",
        "cooldown_minutes: 0\n",
        "time_limit_minutes: 10\n",
        "review: after_each\n",
        "    scoring: partial\n",
    ):
        text = edit(text, line, "")
    bank = load_bank(write(tmp_path, text))
    assert (dict(bank.draw_by_tag), bank.cooldown_minutes, bank.time_limit_minutes) == ({}, 0, None)
    assert (bank.review, bank.question("q2").scoring, bank.question("q4").tags) == (
        "after_each",
        "all_or_nothing",
        (),
    )


def test_parse_bank_reads_texts_without_files():
    bank = parse_bank(BANK, "stored/quiz.yaml", translations={"es": SPANISH}, known_lessons=LESSONS)
    assert bank.question("q1").localized("es").prompt == "¿Cuál?"
    with pytest.raises(ContentError, match=r"stored/quiz\.es\.yaml: questions\.q9"):
        parse_bank(BANK, "stored/quiz.yaml", translations={"es": SPANISH + "  q9:\n    prompt: x\n"})


# --- every error names the file and the field or line -------------------------------------------

# name: (old text, new text, the field with the snippet on its line - or None for a YAML syntax
# error, where the line and column are checked -, and a fragment of the problem)
BROKEN_BANKS = {
    "bad yaml": ("title: Sample quiz", "title: Sample quiz\n  draw: [3", None, "  draw: [3", "invalid YAML"),
    "duplicate yaml key": (
        "max_attempts: 3",
        "max_attempts: 3\nmax_attempts: 4",
        None,
        "max_attempts: 4",
        "duplicate key 'max_attempts' (first on line 6)",
    ),
    "missing field": (
        "    explanation: Because one.\n",
        "",
        "questions[0] (q1).explanation",
        "questions:\n  - id: q1",
        "Missing data for required field",
    ),
    "wrong type": ("draw: 3", "draw: three", "draw", "draw: three", "Not a valid integer"),
    "wrong type of correct": (
        '{id: b, text: "Wrong"}',
        '{id: b, text: "Wrong", correct: "yes"}',
        "questions[0] (q1).options[1].correct",
        'correct: "yes"',
        "must be true or false",
    ),
    "unknown field": (
        "    answer: true\n",
        "    answer: true\n    anwser: false\n",
        "questions[2] (q3).anwser",
        "anwser",
        "unknown field",
    ),
    "blank prompt": (
        "prompt: Which one?",
        "prompt: '  '",
        "questions[0] (q1).prompt",
        "prompt: '  '",
        "must not be empty",
    ),
    "unknown type": (
        "type: true_false",
        "type: essay",
        "questions[2] (q3).type",
        "type: essay",
        "unknown type 'essay'",
    ),
    "duplicate question id": (
        "  - id: q4",
        "  - id: q1",
        "questions[3] (q1).id",
        "It is.\n  - id: q1",
        "duplicate question id 'q1' (also questions[0])",
    ),
    "duplicate option id": (
        '{id: c, text: "Also wrong"}',
        '{id: b, text: "Also wrong"}',
        "questions[0] (q1).options[2].id",
        "Also wrong",
        "duplicate option id 'b' in question q1",
    ),
    "no correct answer": (
        '{id: a, text: "Right", correct: true}\n      - {id: b, text: "Wrong"}',
        '{id: a, text: "Right"}\n      - {id: b, text: "Wrong"}',
        "questions[0] (q1).options",
        "    options:",
        "no option is marked correct",
    ),
    "two correct on single": (
        '{id: b, text: "Wrong"}',
        '{id: b, text: "Wrong", correct: true}',
        "questions[0] (q1).options",
        "    options:",
        "2 options are marked correct (a, b)",
    ),
    "one correct on multiple": (
        '{id: b, text: "Also right", correct: true}',
        '{id: b, text: "Also right"}',
        "questions[1] (q2).options",
        "Which ones?\n    options:",
        "a multiple-answer question needs at least 2",
    ),
    "all correct on multiple": (
        '{id: c, text: "Wrong"}\n      - {id: d, text: "Also wrong"}',
        '{id: c, text: "Wrong", correct: true}\n      - {id: d, text: "Also wrong", correct: true}',
        "questions[1] (q2).options",
        "Which ones?\n    options:",
        "every option is marked correct; at least one must be wrong",
    ),
    "too few options": (
        '      - {id: c, text: "Ignore"}\n',
        "",
        "questions[3] (q4).options",
        "What now?\n    select: single\n    options:",
        "has 2 options; a question has 3 to 5",
    ),
    "partial on single": (
        "    select: single",
        "    select: single\n    scoring: partial",
        "questions[3] (q4).scoring",
        "single\n    scoring: partial",
        "partial scoring needs several correct options",
    ),
    "select on single type": (
        "    type: single",
        "    type: single\n    select: multiple",
        "questions[0] (q1).select",
        "select: multiple",
        "only for scenario questions",
    ),
    "true_false with options": (
        "    answer: true\n",
        "    answer: true\n    options: []\n",
        "questions[2] (q3).options",
        "options: []",
        "true_false questions have no options",
    ),
    "true_false without answer": (
        "    answer: true\n",
        "",
        "questions[2] (q3).answer",
        "  - id: q3",
        "needs `answer: true` or `answer: false`",
    ),
    "scenario without select": (
        "    select: single\n",
        "",
        "questions[3] (q4).select",
        "  - id: q4",
        "a scenario question needs `select: single` or `select: multiple`",
    ),
    "scenario without text": (
        "    scenario: Something happens.\n",
        "",
        "questions[3] (q4).scenario",
        "  - id: q4",
        "needs the `scenario` text",
    ),
    "unknown lesson": (
        "    lesson: rules\n    tags: [media]",
        "    lesson: outro\n    tags: [media]",
        "questions[2] (q3).lesson",
        "lesson: outro",
        "unknown lesson 'outro'; the lessons are: intro, rules",
    ),
    "draw larger than the bank": (
        "draw: 3",
        "draw: 5",
        "draw",
        "draw: 5",
        "draw is 5 but the bank has only 4",
    ),
    "tag with too few questions": (
        "  privacy: 1",
        "  privacy: 3",
        "draw_by_tag.privacy",
        "privacy: 3",
        "asks for 3 questions tagged 'privacy' but only 2 question(s) have that tag",
    ),
    "tag minimums above draw": (
        "  privacy: 1",
        "  privacy: 2\n  media: 2",
        "draw_by_tag",
        "draw_by_tag:",
        "the minimums add up to 4, more than draw (3)",
    ),
    "tag minimum below 1": (
        "  privacy: 1",
        "  privacy: 0",
        "draw_by_tag.privacy",
        "privacy: 0",
        "greater than or equal to 1",
    ),
    "tag with spaces": (
        "tags: [privacy, media]",
        "tags: [privacy, Social Media]",
        "questions[1] (q2).tags[1]",
        "Social Media",
        "must look like privacy",
    ),
    "review mode": (
        "review: after_each",
        "review: after_all",
        "review",
        "review: after_all",
        "Must be one of: after_each, after_pass",
    ),
}


@pytest.mark.parametrize("case", BROKEN_BANKS.values(), ids=BROKEN_BANKS.keys())
def test_a_broken_bank_names_the_file_field_and_line(tmp_path, case):
    old, new, field, snippet, problem = case
    text = edit(BANK, old, new)
    message = load_error(write(tmp_path, text))
    location = (
        f"{field} (line {line_of(text, snippet)})" if field else f"line {line_of(text, snippet)}, column"
    )
    assert f"{tmp_path / 'quiz.yaml'}: {location}" in message
    assert problem in message


def test_a_missing_top_level_field(tmp_path):
    message = load_error(write(tmp_path, edit(BANK, "max_attempts: 3\n", "")))
    assert f"{tmp_path / 'quiz.yaml'}: max_attempts: Missing data for required field." in message


def test_several_problems_are_reported_together(tmp_path):
    text = edit(BANK, "draw: 3", "draw: 5")
    text = edit(text, "    lesson: rules\n    tags: [media]", "    lesson: outro\n    tags: [media]")
    with pytest.raises(ContentErrors) as caught:
        load_bank(write(tmp_path, text), LESSONS)
    assert [(error.where.split(" (")[0], error.file) for error in caught.value.items] == [
        ("draw", str(tmp_path / "quiz.yaml")),
        ("questions[2]", str(tmp_path / "quiz.yaml")),
    ]
    assert "questions[2] (q3).lesson" in caught.value.message


def test_lessons_are_not_checked_without_known_lessons(tmp_path):
    text = edit(BANK, "    lesson: rules\n    tags: [media]", "    lesson: outro\n    tags: [media]")
    assert load_bank(write(tmp_path, text)).question("q3").lesson == "outro"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "must be a YAML mapping"),
        ("- id: q1\n", "must be a YAML mapping"),
        ("a: 1\n---\nb: 2\n", "invalid YAML"),
    ],
)
def test_a_file_that_is_not_a_bank(tmp_path, content, problem):
    assert problem in load_error(write(tmp_path, content))


def test_a_missing_file(tmp_path):
    assert "quiz.yaml: file is missing" in load_error(tmp_path / "quiz.yaml")


# --- translations -------------------------------------------------------------------------------

BROKEN_TRANSLATIONS = {
    "unknown question": (
        "  q4:\n",
        "  q9:\n    prompt: x\n    explanation: y\n  q4:\n",
        "questions.q9",
        "  q9:",
        "there is no question q9 in the bank",
    ),
    "unknown option": (
        "{a: Actuar, b: Esperar, c: Ignorar}",
        "{a: Actuar, b: Esperar, c: Ignorar, z: Zeta}",
        "questions.q4.options.z",
        "z: Zeta",
        "question q4 has no option 'z'",
    ),
    "missing question": (
        "  q3:\n    prompt: El cielo es azul.\n    explanation: Lo es.\n",
        "",
        "questions",
        "questions:",
        "missing translation of question(s) q3; every question needs one",
    ),
    "missing option": (
        "{a: Actuar, b: Esperar, c: Ignorar}",
        "{a: Actuar, b: Esperar}",
        "questions.q4.options",
        "Actuar",
        "missing translation of option(s) c",
    ),
    "missing explanation": (
        "    explanation: Actuar ayuda.\n",
        "",
        "questions.q4.explanation",
        "  q4:",
        "missing: question q4 has a explanation",
    ),
    "missing scenario": (
        "    scenario: Algo pasa.\n",
        "",
        "questions.q4.scenario",
        "  q4:",
        "missing: question q4 has a scenario",
    ),
    "scenario on a question without one": (
        "    prompt: ¿Cuál?\n",
        "    prompt: ¿Cuál?\n    scenario: Hmm.\n",
        "questions.q1.scenario",
        "scenario: Hmm.",
        "has no scenario to translate",
    ),
    "options on true_false": (
        "    prompt: El cielo es azul.\n",
        "    prompt: El cielo es azul.\n    options: {a: Sí}\n",
        "questions.q3.options",
        "options: {a: Sí}",
        "no options to translate",
    ),
    "unknown field": (
        "    explanation: Lo es.\n",
        "    explanation: Lo es.\n    answer: true\n",
        "questions.q3.answer",
        "answer: true",
        "unknown field",
    ),
    "bad yaml": (
        "  q3:\n",
        "  q3:\n\tprompt: tab\n",
        None,
        "\tprompt",
        "invalid YAML: found character '\\t' that cannot start any token",
    ),
    "duplicate question key": (
        "  q4:\n",
        "  q1:\n    prompt: a\n    explanation: b\n  q4:\n",
        None,
        "explanation: Lo es.\n  q1",
        "duplicate key 'q1' (first on line 3)",
    ),
}


@pytest.mark.parametrize("case", BROKEN_TRANSLATIONS.values(), ids=BROKEN_TRANSLATIONS.keys())
def test_a_broken_translation_names_its_file_field_and_line(tmp_path, case):
    old, new, field, snippet, problem = case
    text = edit(SPANISH, old, new)
    message = load_error(write(tmp_path, es=text))
    location = (
        f"{field} (line {line_of(text, snippet)})" if field else f"line {line_of(text, snippet)}, column"
    )
    assert f"{tmp_path / 'quiz.es.yaml'}: {location}" in message
    assert problem in message


def test_a_translation_without_a_title(tmp_path):
    message = load_error(write(tmp_path, es=edit(SPANISH, "title: Cuestionario de ejemplo\n", "")))
    assert f"{tmp_path / 'quiz.es.yaml'}: title: Missing data for required field." in message


def test_a_translation_file_needs_a_locale_in_its_name(tmp_path):
    write(tmp_path, **{"spanish": SPANISH})
    assert "quiz.spanish.yaml: a translation is named quiz.<locale>.yaml" in load_error(
        tmp_path / "quiz.yaml"
    )


def test_a_translation_in_the_default_locale_is_refused(tmp_path):
    write(tmp_path, en=SPANISH)
    assert "quiz.en.yaml: quiz.yaml itself is in en" in load_error(tmp_path / "quiz.yaml")


# --- the real banks ------------------------------------------------------------------------------


def test_the_real_banks_load_against_their_courses_lessons():
    banks = real_banks()
    assert set(banks) == {"orientation", "refresher", "leaders"}
    orientation, refresher, leaders = banks["orientation"], banks["refresher"], banks["leaders"]
    assert len(orientation.questions) >= 30 and orientation.draw == 10
    assert len(refresher.questions) >= 30 and refresher.draw == 10
    assert {question.type for question in refresher.questions} == {"scenario"}
    assert len(leaders.questions) >= 20 and leaders.draw == 8


def test_every_question_of_the_spanish_translation_exists_and_is_translated():
    path = CONTENT / "social-media-orientation" / "quiz.es.yaml"
    translated = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    bank = real_banks()["orientation"]
    assert set(translated) == {question.id for question in bank.questions}
    for question in bank.questions:
        spanish = question.localized("es")
        assert spanish.locale == "es" and spanish.prompt != question.prompt
        assert set(spanish.option_texts) == set(question.option_ids)
        if question.type == "true_false":
            assert dict(spanish.option_texts) == {"true": "Verdadero", "false": "Falso"}


def test_every_course_validates_its_quiz():
    for folder in course_folders():
        course = read_course(folder)
        validate_course_quiz(_course_content(folder, course))


def test_a_course_offered_in_a_locale_its_quiz_lacks_is_refused(tmp_path):
    folder = tmp_path / "social-media-refresher"
    shutil.copytree(CONTENT / folder.name, folder)
    (folder / "quiz.es.yaml").unlink()
    content = _course_content(folder, read_course(folder))
    with pytest.raises(
        ContentError, match=r"social-media-refresher/quiz\.es\.yaml: missing: course .* in 'es'"
    ):
        validate_course_quiz(content)


def test_a_course_whose_lessons_the_quiz_does_not_match_is_refused():
    folder = CONTENT / "social-media-refresher"
    course = read_course(folder)
    content = _course_content(folder, {**course, "lessons": course["lessons"][:1]})
    with pytest.raises(
        ContentErrors, match=r"questions\[7\] \(r08\)\.lesson \(line \d+\): unknown lesson 'scenarios'"
    ):
        validate_course_quiz(content)


def _course_content(folder, course):
    """The parts of courses.content.CourseContent that validate_course_quiz reads."""
    return SimpleNamespace(
        slug=folder.name,
        folder=folder,
        quiz=course["quiz"],
        default_locale=course["default_locale"],
        locales=tuple(course["locales"]),
        lessons=tuple(SimpleNamespace(slug=lesson["slug"]) for lesson in course["lessons"]),
    )
