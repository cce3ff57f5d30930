"""Small helpers shared by the tests."""

from __future__ import annotations

import html
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_from(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    if not match:
        raise AssertionError("no csrf_token field in the page")
    return match.group(1) or match.group(2)


class FormClient(FlaskClient):
    """A test client that submits forms the way a browser does: with the page's CSRF token."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app, app.response_class, use_cookies=True)

    def submit(self, page_url: str, data: dict[str, Any], action: str | None = None, **kwargs: Any):
        page = self.get(page_url)
        assert page.status_code == 200, f"GET {page_url} answered {page.status_code}"
        form = dict(data)
        form.setdefault("csrf_token", csrf_from(page.get_data(as_text=True)))
        return self.post(action or page_url, data=form, **kwargs)

    def csrf_token(self) -> str:
        """A valid token for this client's session (taken from the sign-in page's form)."""
        return csrf_from(self.get("/login").get_data(as_text=True))

    def post_form(self, url: str, data: dict[str, Any], **kwargs: Any):
        """POST as a page's form would, when the test does not need that page."""
        return self.post(url, data={"csrf_token": self.csrf_token(), **data}, **kwargs)

    def login(self, email: str, password: str):
        return self.submit("/login", {"email": email, "password": password})


def text_of(response) -> str:
    """The body with HTML entities decoded, to look for the words a person reads."""
    return html.unescape(response.get_data(as_text=True))


def sign_in_learner(client: FlaskClient, user_id: int) -> None:
    """What a successful LTI launch leaves in the session (Flask-Login's user id)."""
    with client.session_transaction() as session:
        session["_user_id"] = f"learner:{user_id}"
        session["_fresh"] = True
