"""Small helpers for the browser tests: sign-in cookie, screenshots, layout and axe-core checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from courses.models import CourseVersion
from quizzes.models import QuizAttempt
from quizzes.published_banks import bank_for_version
from tests.live_server import learner_session_cookie
from training_app.extensions import db

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 320, "height": 640}
ORIENTATION = "social-media-orientation"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
BLOCKING_IMPACTS = ("serious", "critical")
_axe = Axe()


def launch_chromium(playwright: Playwright, *extra_args: str) -> Browser:
    """Debian's Chromium (Playwright's own builds cannot be downloaded here)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/system-packages.sh --test)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args])


def sign_in_learner(context: BrowserContext, app: Flask, base_url: str, user_id: int) -> None:
    """Give the browser the session cookie a successful LTI launch leaves."""
    name = app.config["SESSION_COOKIE_NAME"]
    value = learner_session_cookie(app, user_id)
    context.add_cookies([{"name": name, "value": value, "url": base_url}])


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def assert_fits_width(page: Page, width: int) -> None:
    """Nothing sticks out sideways: the page needs no horizontal scrolling at `width` CSS pixels."""
    scroll_width = page_width(page)
    if scroll_width > width:
        wide = page.evaluate(
            """(width) => [...document.querySelectorAll('body *')]
                .filter(el => el.getBoundingClientRect().right > width)
                .slice(0, 8).map(el => el.outerHTML.slice(0, 120))""",
            width,
        )
        raise AssertionError(f"{page.url} is {scroll_width}px wide at {width}px; too wide: {wide}")


def serious_violations(page: Page) -> list[dict[str, Any]]:
    results = _axe.run(page)
    return [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['html'][:160]}")
            lines.append(f"      {summary}")
    return "\n".join(lines)


def accessibility_problems(page: Page, label: str) -> str | None:
    """axe-core's serious and critical violations on the page as it is now, readable; None if none."""
    violations = serious_violations(page)
    if not violations:
        return None
    return f"{label} ({page.url}):\n{describe(violations)}"


def correct_answers(app: Flask, attempt_id: int) -> dict[str, list[str]]:
    """The right option ids per question field (`q-<id>`), looked up on the server."""
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id)
        assert attempt is not None, f"no attempt {attempt_id}"
        bank = bank_for_version(db.session.get(CourseVersion, attempt.course_version_id))
        return {f"q-{d['id']}": sorted(bank.question(d["id"]).correct_ids) for d in attempt.questions}


def choose_answers(page: Page, answers: dict[str, list[str]]) -> None:
    """Click the label of every chosen option, as a learner does."""
    for name, option_ids in answers.items():
        for option_id in option_ids:
            field = page.locator(f'input[name="{name}"][value="{option_id}"]')
            page.locator(f'label[for="{field.get_attribute("id")}"]').click()
            assert field.is_checked(), f"clicking the label did not choose {name}={option_id}"
