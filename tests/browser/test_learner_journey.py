"""Issues 3 and 4 in a real browser: overview -> every lesson -> attestation -> quiz -> completed.

The learner carries the session cookie a launch leaves; everything else is clicks and keys.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from courses import publishing
from courses import services as learning
from courses.models import Completion, Enrolment
from tests.browser.support import (
    DESKTOP,
    ORIENTATION,
    PHONE,
    assert_fits_width,
    choose_answers,
    correct_answers,
    screenshot,
)
from training_app.extensions import db

COURSE_TITLE = "Social media policy orientation"
LESSONS = 6
OVERVIEW = f"/courses/{ORIENTATION}/"


def shoot_both_widths(page: Page, name: str) -> None:
    """A full-page screenshot at desktop width, then at 320 px, where nothing may scroll sideways."""
    screenshot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    assert_fits_width(page, PHONE["width"])
    screenshot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)


def attempt_id_of(page: Page) -> int:
    match = re.search(r"/quiz/attempts/(\d+)$", page.url)
    assert match, f"not on an attempt page: {page.url}"
    return int(match.group(1))


@pytest.mark.browser
def test_a_learner_completes_the_orientation_by_clicking_through(
    app, backend, learners, live_url, open_as_learner
):
    page = open_as_learner(learners["ada"])
    page.goto(live_url + OVERVIEW)
    expect(page.get_by_role("heading", level=1)).to_have_text(COURSE_TITLE)
    expect(page.get_by_text(f"0 of {LESSONS} lessons done")).to_be_visible()
    page.get_by_role("link", name="Start the course").click()

    for number in range(1, LESSONS + 1):
        expect(page.locator("article .eyebrow")).to_contain_text(f"Lesson {number} of {LESSONS}")
        if number == 1:
            shoot_both_widths(page, f"lesson-1-{backend}")
        last = number == LESSONS
        page.get_by_role("button", name="Continue to the attestation" if last else "Next lesson").click()

    expect(page).to_have_url(re.compile(r"/attestation$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Policy attestation")
    shoot_both_widths(page, f"attestation-{backend}")
    page.get_by_role("checkbox").check()
    page.get_by_label("Type your full name to sign").fill("Ada Lovelace")
    page.get_by_role("button", name="Sign the attestation").click()

    expect(page).to_have_url(re.compile(rf"/quiz/{ORIENTATION}/$"))
    page.get_by_role("button", name="Start attempt 1").click()
    expect(page).to_have_url(re.compile(r"/quiz/attempts/\d+$"))
    shoot_both_widths(page, f"quiz-attempt-{backend}")
    expect(page.locator('form.quiz-form input[type="hidden"][name="drawn"]')).to_have_count(1)
    choose_answers(page, correct_answers(app, attempt_id_of(page)))
    page.get_by_role("button", name="Submit my answers").click()

    expect(page.get_by_role("status").filter(has_text="You passed")).to_contain_text(
        "You passed with 100/100."
    )
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    shoot_both_widths(page, f"quiz-result-{backend}")

    page.get_by_role("link", name="Back to the course").click()
    expect(page).to_have_url(live_url + OVERVIEW)
    expect(page.locator(".meta-row")).to_contain_text("Completed")
    expect(page.get_by_role("status")).to_contain_text("You completed this course on")
    expect(page.get_by_text(f"{LESSONS} of {LESSONS} lessons done")).to_be_visible()
    with app.app_context():
        completion = db.session.scalar(select(Completion).where(Completion.user_id == learners["ada"]))
        assert completion is not None and completion.status == "completed" and completion.score == 100


def complete_all_lessons(enrolment: Enrolment) -> None:
    for lesson in publishing.course_by_slug(ORIENTATION)[1].lessons:
        learning.complete_lesson(enrolment, lesson.slug)


def focused(page: Page) -> str:
    """What has the keyboard focus: `tag#id.class`."""
    return page.evaluate(
        "(() => { const el = document.activeElement;"
        " return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')"
        " + (el.className ? '.' + String(el.className).split(' ').join('.') : ''); })()"
    )


@pytest.mark.browser
def test_the_attestation_can_be_signed_with_the_keyboard_alone(app, learners, live_url, open_as_learner):
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == learners["ada"]))
        complete_all_lessons(enrolment)
        db.session.commit()
    page = open_as_learner(learners["ada"])
    page.goto(f"{live_url}/courses/{ORIENTATION}/attestation")

    page.keyboard.press("Tab")
    assert focused(page) == "a.skip-link", "the skip link must be the first thing Tab reaches"
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, "a focused skip link must be on screen"
    page.keyboard.press("Enter")
    assert focused(page).startswith("main#main"), "the skip link must move the focus to the main content"

    path = []
    for _ in range(6):
        page.keyboard.press("Tab")
        path.append(focused(page))
        if path[-1].startswith("input#confirm"):
            break
    assert path[-1].startswith("input#confirm"), f"Tab never reached the checkbox: {path}"
    page.keyboard.press("Space")
    expect(page.locator("#confirm")).to_be_checked()
    page.keyboard.press("Tab")
    assert focused(page).startswith("input#typed_name")
    page.keyboard.type("Ada Lovelace")
    page.keyboard.press("Enter")

    # The browser keeps the skip link's #main through the redirects.
    expect(page).to_have_url(re.compile(rf"/quiz/{ORIENTATION}/(#main)?$"))
    page.goto(live_url + OVERVIEW)
    expect(page.get_by_text(re.compile(r"Signed \d{4}-\d{2}-\d{2}"))).to_be_visible()
