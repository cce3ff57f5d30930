"""What every request meets at the edge: ids and page numbers out of range are 404s, a sign-in's
`next` only ever leads back into the site, control and text-direction characters are refused with a
clear message, response headers keep pages private and forms on this site, and the sign-in limit is
shared by every process."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.helpers import FormClient, sign_in_learner, text_of
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import StaffAccount


@pytest.fixture
def people(app):
    with app.app_context():
        return {k: getattr(v, "id", v) for k, v in factories.two_tenants_with_staff().items()}


@pytest.fixture
def hr(client, people) -> FormClient:
    client.login("hr@acme.example", factories.PASSWORD)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/console/learners/2147483648",
        "/console/learners/9223372036854775808",
        "/console/learners/99999999999999999999999999",
        "/console/certificates/18446744073709551616.pdf",
        "/console/audit?page=100000000000000000000",
        "/console/audit?page=0",
        "/console/audit?page=-1",
        "/console/audit?page=two",
        "/console/learners?page=100000000000000000000",
    ],
)
def test_out_of_range_ids_and_pages_are_404(hr, path):
    assert hr.get(path).status_code == 404


def test_the_largest_id_is_still_a_clear_404(hr):
    response = hr.get("/console/learners/2147483647")
    assert response.status_code == 404 and "There is no such learner" in text_of(response)


@pytest.mark.parametrize(
    "next_value",
    [
        "/console/\r\nLocation: https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/console/",
        "/console/\x00",
    ],
)
def test_sign_in_with_a_dangerous_next_lands_on_the_console(client, people, next_value):
    page = client.get("/login", query_string={"next": next_value})
    response = client.submit(
        "/login",
        {"email": "hr@acme.example", "password": factories.PASSWORD},
        action=page.request.full_path if page.status_code == 200 else "/login",
    )
    if page.status_code == 400:  # a NUL in the query string is refused before the form shows
        return
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"


def test_a_safe_next_is_followed(client, people):
    client.get("/login", query_string={"next": "/console/certificates?status=valid"})
    response = client.submit(
        "/login",
        {"email": "hr@acme.example", "password": factories.PASSWORD},
        action="/login?next=/console/certificates%3Fstatus%3Dvalid",
    )
    assert response.headers["Location"] == "/console/certificates?status=valid"


@pytest.mark.parametrize(
    ("name", "code_point"),
    [
        ("Eve\x00il", "U+0000"),
        ("Evil \u202egnp.exe", "U+202E"),
        ("Bell\x07", "U+0007"),
        ("A\u2066B", "U+2066"),
    ],
)
def test_control_and_direction_characters_in_a_form_are_refused_and_nothing_is_written(
    app, hr, name, code_point
):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(StaffAccount))
    response = hr.submit("/console/staff", {"email": "new@acme.example", "name": name, "role": "auditor"})
    assert response.status_code == 400
    assert f"name contains a control or text-direction character ({code_point})" in text_of(response)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffAccount)) == before


def test_line_breaks_and_right_to_left_names_are_fine(app, hr):
    response = hr.submit(
        "/console/staff", {"email": "leila@acme.example", "name": "ليلى عبد الله", "role": "auditor"}
    )
    assert response.status_code == 201


def test_a_control_character_in_a_query_string_is_refused(hr):
    response = hr.get("/console/learners", query_string={"department": "Sales\x00"})
    assert response.status_code == 400 and "department contains" in text_of(response)


def test_console_pages_and_learner_pages_are_not_stored_by_caches(app, hr, people):
    created = hr.submit("/console/staff", {"email": "new@acme.example", "name": "New", "role": "auditor"})
    assert created.status_code == 201  # the page that shows a one-time password
    assert created.headers["Cache-Control"] == "private, no-store"
    for path in ("/console/", "/console/learners", "/console/audit", "/console/staff"):
        assert hr.get(path).headers["Cache-Control"] == "private, no-store", path
    with app.app_context():
        ada_id = factories.learner(find_tenant("acme"), "Ada Lovelace").id
        db.session.commit()
    learner = FormClient(app)
    sign_in_learner(learner, ada_id)
    assert learner.get("/courses/social-media-orientation/").headers["Cache-Control"] == "private, no-store"
    anonymous = FormClient(app)
    assert "no-store" not in anonymous.get("/verify").headers.get("Cache-Control", "")


def test_forms_post_to_this_site_only_and_powerful_features_are_off(hr):
    headers = hr.get("/console/").headers
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert csp["form-action"] == "'self'"
    assert "camera=()" in headers["Permissions-Policy"] and "geolocation=()" in headers["Permissions-Policy"]


def test_hsts_includes_subdomains_when_configured(make_app, people):
    app = make_app(
        CONFIG="production", PUBLIC_URL="https://training.acme.example", HSTS_INCLUDE_SUBDOMAINS=True
    )
    response = app.test_client().get("/healthz", base_url="https://training.acme.example")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_the_sign_in_limit_is_shared_by_every_process(app, people, make_app):
    """Two app instances on one database (two gunicorn workers, or two hosts) count together."""
    other = make_app()
    clients = [FormClient(app), FormClient(other)]
    for attempt in range(5):
        assert clients[attempt % 2].login("hr@acme.example", "wrong password!").status_code == 401
    for client in clients:
        blocked = client.login("hr@acme.example", "wrong password!")
        assert blocked.status_code == 429 and "Too many failed sign-in attempts" in text_of(blocked)
