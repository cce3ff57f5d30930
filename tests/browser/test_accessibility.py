"""axe-core (bundled by axe-playwright-python, offline) on every learner page and the staff console.

A page passes when axe finds nothing of impact "serious" or "critical"; a failure lists every
such problem with the element and axe's advice, for all pages at once.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.support import ORIENTATION, accessibility_problems, choose_answers, correct_answers
from training_app import demo
from training_app.extensions import db
from training_app.models import User

COURSE = f"/courses/{ORIENTATION}"


class AxeAudit:
    """Collects what axe finds on each page, to report all pages in one failure."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.pages: list[str] = []

    def check(self, page: Page, label: str) -> None:
        page.wait_for_load_state()
        self.pages.append(label)
        found = accessibility_problems(page, label)
        if found:
            self.problems.append(found)

    def assert_clean(self) -> None:
        assert not self.problems, "axe-core found serious or critical problems:\n\n" + "\n\n".join(
            self.problems
        )


@pytest.mark.browser
def test_every_learner_page_passes_axe(app, learners, live_url, open_as_learner):
    audit = AxeAudit()
    page = open_as_learner(learners["ada"])
    page.goto(f"{live_url}{COURSE}/")
    audit.check(page, "overview, not started")

    page.get_by_role("link", name="Start the course").click()
    number = 1
    while "/lessons/" in page.url:
        expect(page.locator("article .eyebrow")).to_contain_text(f"Lesson {number} of")
        audit.check(page, f"lesson {number} ({page.url.rsplit('/', 1)[1]})")
        page.locator(".lesson-nav button").click()
        page.wait_for_url(re.compile(r"/(lessons/[^/]+|attestation)$"))
        number += 1
    assert number == 7, "the orientation has six lessons, the last one the policy summary"

    audit.check(page, "attestation")
    page.get_by_role("button", name="Sign the attestation").click()
    expect(page.get_by_role("alert")).to_contain_text("Please fix the following")
    audit.check(page, "attestation with errors (nothing ticked or typed)")
    page.get_by_role("checkbox").check()
    page.get_by_label("Type your full name to sign").fill("Grace Hopper")
    page.get_by_role("button", name="Sign the attestation").click()
    expect(page.get_by_role("alert")).to_contain_text("does not match")
    audit.check(page, "attestation with errors (wrong name)")
    page.get_by_label("Type your full name to sign").fill("Ada Lovelace")
    page.get_by_role("button", name="Sign the attestation").click()

    expect(page.get_by_role("button", name="Start attempt 1")).to_be_visible()
    audit.check(page, "quiz start page")
    page.get_by_role("button", name="Start attempt 1").click()
    page.wait_for_url(re.compile(r"/quiz/attempts/\d+$"))
    audit.check(page, "open quiz attempt")
    answers = correct_answers(app, int(page.url.rsplit("/", 1)[1]))
    first, *rest = answers
    choose_answers(page, {name: answers[name] for name in rest})
    page.get_by_role("button", name="Submit my answers").click()
    expect(page.get_by_role("alert")).to_contain_text("Answer every question")
    audit.check(page, "quiz attempt with an unanswered question")
    choose_answers(page, {first: answers[first]})
    page.get_by_role("button", name="Submit my answers").click()
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    audit.check(page, "quiz result with review")
    page.goto(f"{live_url}/quiz/{ORIENTATION}/")
    audit.check(page, "quiz start page, passed, with the attempt history")
    page.goto(f"{live_url}{COURSE}/")
    audit.check(page, "overview, completed")

    spanish = open_as_learner(learners["maria"])
    spanish.goto(f"{live_url}{COURSE}/")
    expect(spanish.locator("html")).to_have_attribute("lang", "es")
    audit.check(spanish, "overview in Spanish")
    spanish.locator(".actions a.button").first.click()
    expect(spanish).to_have_url(re.compile(r"/lessons/"))
    audit.check(spanish, "first lesson in Spanish")
    audit.assert_clean()


@pytest.mark.browser
def test_every_staff_console_page_passes_axe(app, live_url, new_context):
    with app.app_context():
        demo.load()
        db.session.commit()
        learner_id = db.session.scalar(select(User.id).where(User.name == "María José Fernández"))
    audit = AxeAudit()
    page = new_context().new_page()
    page.goto(f"{live_url}/login")
    audit.check(page, "staff sign-in")
    page.get_by_label("Email").fill("hr@acme.example")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit.check(page, "staff sign-in with an error")
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/$"))
    for path, label in [
        ("/console/", "console overview"),
        ("/console/learners", "learners"),
        ("/console/learners?status=overdue", "learners, filtered"),
        (f"/console/learners/{learner_id}", "learner detail"),
        ("/console/courses", "courses"),
        ("/console/audit", "audit log"),
        ("/console/staff", "staff"),
    ]:
        response = page.goto(live_url + path)
        assert response is not None and response.status == 200, (
            f"{path} answered {response and response.status}"
        )
        audit.check(page, label)
    audit.assert_clean()
