"""Headless Chromium (Debian's, through the sync Playwright API) against the app on a real port.

One browser per test session and pytest worker; each test gets fresh contexts (cookies, storage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from courses.services import enrol
from tests import factories
from tests.browser.support import DESKTOP, ORIENTATION, launch_chromium, sign_in_learner
from tests.live_server import serve
from training_app.extensions import db

ContextFactory = Callable[..., BrowserContext]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    expect.set_options(timeout=10_000)  # as long as an action may wait: a loaded CI machine is slow
    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[ContextFactory]:
    """Make browser contexts (desktop viewport, English) that are closed after the test."""
    made: list[BrowserContext] = []

    def make(**options: object) -> BrowserContext:
        context = browser.new_context(**{"viewport": DESKTOP, "locale": "en-US", **options})
        context.set_default_timeout(10_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def open_as_learner(app: Flask, live_url: str, new_context: ContextFactory) -> Callable[[int], Page]:
    """A new page in a new context that carries the learner's session cookie."""

    def open_page(user_id: int) -> Page:
        context = new_context()
        sign_in_learner(context, app, live_url, user_id)
        return context.new_page()

    return open_page


@pytest.fixture
def learners(app: Flask, published: None) -> dict[str, int]:
    """Courses published; in acme, Ada (English) and María (Spanish) enrolled in the orientation."""
    with app.app_context():
        acme = factories.tenant("acme")
        factories.staff(acme, "hr@acme.example")
        ada = factories.learner(acme, "Ada Lovelace")
        maria = factories.learner(acme, "María José Fernández", locale="es", department="Marketing")
        for person in (ada, maria):
            enrol(person, ORIENTATION, source="hr")
        db.session.commit()
        return {"ada": ada.id, "maria": maria.id}
