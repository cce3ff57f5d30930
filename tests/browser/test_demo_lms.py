"""Issue 18 in Chromium: "Try it as a learner" launches María José in Spanish from the built-in demo
LMS (its page posts the signed id_token by script, as an LMS's does), and the demo LMS's pages pass
axe-core. Screenshots in test-artifacts/screenshots/demo-lms-*.png.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.support import accessibility_problems, screenshot
from tests.launch.test_demo_lms import MARIA, acme, pooled_demo_key  # noqa: F401 (fixtures)


@pytest.fixture
def demo_url(app, live_url: str, acme) -> str:  # noqa: F811 (the imported fixture)
    app.config["PUBLIC_URL"] = live_url  # the demo LMS is registered at the address the browser opens
    return live_url


@pytest.mark.browser
def test_try_it_as_a_learner_launches_maria_in_spanish(new_context, demo_url: str):
    page = new_context().new_page()
    page.goto(f"{demo_url}/demo/try")
    problems = [accessibility_problems(page, "Try it as a learner")]
    screenshot(page, "demo-lms-try")

    page.select_option("#learner", MARIA)
    page.get_by_label("Español").check()
    page.get_by_role("button", name="Launch from the demo LMS").click()

    page.wait_for_url(f"{demo_url}/courses/social-media-orientation/**")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Orientación")
    screenshot(page, "demo-lms-launched-es")

    page.goto(f"{demo_url}/demo/lms/gradebook")
    gradebook_title = "Libro de calificaciones del LMS de demostración"  # in María's language
    expect(page.get_by_role("heading", level=1)).to_have_text(gradebook_title)
    problems.append(accessibility_problems(page, "Demo LMS gradebook"))
    screenshot(page, "demo-lms-gradebook")
    assert not [problem for problem in problems if problem], "\n".join(filter(None, problems))
