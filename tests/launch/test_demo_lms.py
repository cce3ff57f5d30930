"""The built-in demo LMS ("Try it as a learner"): a real, signed LTI 1.3 launch from /demo/try or
`flask demo launch`, the learner's whole path, and the grade arriving in the demo LMS's gradebook
through the outbox. The browser is the Flask test client, following the real redirects and forms;
the tool's calls to the demo LMS (its JWKS, token and score endpoints) go over real HTTP to the
same app served on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from demo_lms import launches
from demo_lms import platform as demo_platform
from lti.models import Platform
from tests import factories
from tests.conftest import KEY_POOL
from tests.helpers import FormClient, text_of
from tests.launch.conftest import ORIENTATION
from tests.launch.steps import ready_for_quiz, take_quiz
from tests.lti_platform import LiveServer
from tests.lti_platform.html_forms import Form, parse_forms
from training_app import outbox
from training_app.demo import DEMO_ISSUER
from training_app.extensions import db
from training_app.models import PersonIdentity, User

MARIA = "maria.jose.fernandez@acme.example"
LIAM = "liam.o.connor@acme.example"


class Browser(FormClient):
    """The test client as a browser on the served app's address (cookies are kept per host)."""

    def __init__(self, app, base_url: str) -> None:
        super().__init__(app)
        self.base_url = base_url

    def open(self, *args, **kwargs):
        if args and isinstance(args[0], str) and args[0].startswith("/"):
            kwargs.setdefault("base_url", self.base_url)
        return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def pooled_demo_key(monkeypatch) -> None:
    monkeypatch.setattr(demo_platform, "new_private_key", KEY_POOL.take)


@pytest.fixture
def live(app) -> Iterator[str]:
    """The app on 127.0.0.1, and its public address: the demo LMS is registered at it."""
    with LiveServer(app) as server:
        app.config["PUBLIC_URL"] = server.url
        yield server.url


@pytest.fixture
def acme(app, published) -> None:
    """What `flask demo load` leaves for the demo LMS: acme, its HR admin and two demo learners."""
    with app.app_context():
        tenant = factories.tenant("acme")
        factories.staff(tenant, "hr@acme.example")
        for name, email, locale, employee_id in [
            ("María José Fernández", MARIA, "es", "E10001"),
            ("Liam O'Connor", LIAM, "en", "E10002"),
        ]:
            user = factories.learner(tenant, name, locale=locale, department="Marketing")
            user.issuer, user.subject = DEMO_ISSUER, "demo-" + email.split("@")[0].replace(".", "")
            user.email, user.employee_id = email, employee_id
        db.session.commit()


@pytest.fixture
def browser(app, live, acme) -> Browser:
    return Browser(app, live)


def start_from_page(browser: Browser, *, learner: str = MARIA, locale: str = "es", course: str = ORIENTATION):
    """Submit "Try it as a learner"; the redirect to the tool's login initiation."""
    started = browser.submit("/demo/try", {"course": course, "locale": locale, "learner": learner})
    assert started.status_code == 303, text_of(started)
    return started.headers["Location"]


def authorize(browser: Browser, login_url: str, live: str) -> Form:
    """The tool's OIDC login, then the demo LMS's answer: the form its page posts to the tool."""
    login = browser.get(login_url)
    assert login.status_code == 302, text_of(login)
    auth_url = login.headers["Location"]
    assert auth_url.startswith(f"{live}/demo/lms/auth?"), auth_url
    answer = browser.get(auth_url)
    assert answer.status_code == 200, text_of(answer)
    return launch_form(text_of(answer), live)


def launch_form(page: str, live: str) -> Form:
    [form] = [form for form in parse_forms(page) if form.action == f"{live}/lti/launch"]
    return form


def launch(browser: Browser, live: str, **choice) -> tuple[Form, str]:
    form = authorize(browser, start_from_page(browser, **choice), live)
    assert "id_token" in form.fields, form.fields
    launched = browser.post(form.action, data=form.fields)
    assert launched.status_code == 200, text_of(launched)
    return form, text_of(launched)


def id_token_claims(form: Form) -> dict:
    payload = form.fields["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def deliver_outbox(app) -> int:
    with app.app_context():
        return outbox.run_worker(once=True)


# --- the whole path ---------------------------------------------------------------------------------


def test_a_demo_launch_in_spanish_walks_the_learner_path_and_the_grade_reaches_the_gradebook(
    app, live, browser
):
    page = text_of(browser.get("/demo/try"))
    assert "Try it as a learner" in page
    assert "María José Fernández" in page and "Liam O'Connor" in page

    login_url = start_from_page(browser, learner=MARIA, locale="es")
    login = urlsplit(login_url)
    assert login.path == "/lti/login"
    sent = {name: values[0] for name, values in parse_qs(login.query).items()}
    assert sent["iss"] == launches.ISSUER and sent["client_id"] == launches.CLIENT_ID
    assert sent["target_link_uri"] == f"{live}/lti/launch" and sent["lti_message_hint"]

    form = authorize(browser, login_url, live)
    claims = id_token_claims(form)
    assert claims["https://purl.imsglobal.org/spec/lti/claim/custom"]["course"] == ORIENTATION
    assert claims["https://purl.imsglobal.org/spec/lti/claim/launch_presentation"]["locale"] == "es"
    ags = claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]
    assert ags["lineitem"] == f"{live}/demo/lms/lineitems/{ORIENTATION}"

    overview = browser.post(form.action, data=form.fields)
    assert overview.status_code == 200, text_of(overview)
    assert 'lang="es"' in overview.get_data(as_text=True)

    ready_for_quiz(app, browser, ORIENTATION, name="María José Fernández")
    result = take_quiz(app, browser, right=9)
    assert "90/100" in result

    gradebook = text_of(browser.get("/demo/lms/gradebook"))  # in María's language, like her pages
    assert "Todavía no hay calificaciones" in gradebook and "90\xa0/\xa0100" not in gradebook
    assert deliver_outbox(app) >= 1
    gradebook = text_of(browser.get("/demo/lms/gradebook"))
    assert "María José Fernández" in gradebook and MARIA in gradebook
    assert "90\xa0/\xa0100" in gradebook
    assert "Completed" in gradebook and "FullyGraded" in gradebook

    with app.app_context():  # HR's demo learner, matched by employee id: one person, one history
        maria = db.session.scalar(select(User).where(User.email == MARIA))
        assert maria.issuer == DEMO_ISSUER
        identity = db.session.scalar(select(PersonIdentity).where(PersonIdentity.user_id == maria.id))
        assert (identity.issuer, identity.subject) == (launches.ISSUER, maria.subject)


def test_a_new_learner_in_english(app, live, browser):
    form, overview = launch(browser, live, learner=launches.NEW_LEARNER, locale="en")
    claims = id_token_claims(form)
    assert claims["name"] == "Alex Rivera" and claims["sub"].startswith("demo-lms-new-")
    assert "Social media policy orientation" in overview and 'lang="en"' in overview
    with app.app_context():
        created = db.session.scalar(select(User).where(User.subject == claims["sub"]))
        assert (created.issuer, created.email, created.locale) == (launches.ISSUER, claims["email"], "en")


def test_the_registration_is_made_on_first_use_and_follows_the_servers_address(app, live, browser):
    with app.app_context():
        assert db.session.scalar(select(Platform).where(Platform.issuer == launches.ISSUER)) is None
    launch(browser, live)
    launch(browser, live, learner=LIAM, locale="en")
    with app.app_context():
        [registered] = db.session.scalars(select(Platform).where(Platform.issuer == launches.ISSUER))
        assert registered.key_set_url == f"{live}/demo/lms/jwks"
        assert registered.deployment_ids == [launches.DEPLOYMENT_ID]
        registered.key_set_url = "http://127.0.0.1:1/old-address/jwks"
        db.session.commit()
    launch(browser, live, learner=LIAM, locale="en")
    with app.app_context():
        assert db.session.scalar(select(Platform.key_set_url).where(Platform.issuer == launches.ISSUER)) == (
            f"{live}/demo/lms/jwks"
        )


# --- refused like any launch ------------------------------------------------------------------------


def test_a_replayed_demo_launch_is_refused(app, live, browser):
    form, _overview = launch(browser, live)
    again = browser.post(form.action, data=form.fields)
    assert again.status_code == 401 and "Este acceso ya se usó" in text_of(again)  # María's language


def test_a_tampered_demo_launch_is_refused(app, live, browser):
    form = authorize(browser, start_from_page(browser), live)
    header, _payload, signature = form.fields["id_token"].split(".")
    claims = id_token_claims(form)
    claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = [
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
    ]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    refused = browser.post(form.action, data={**form.fields, "id_token": f"{header}.{forged}.{signature}"})
    assert refused.status_code == 401 and "could not verify" in text_of(refused), text_of(refused)
    with app.app_context():  # nobody signed in, nothing written for the learner
        assert db.session.scalar(select(User).where(User.issuer == launches.ISSUER)) is None
        assert db.session.scalar(select(PersonIdentity)) is None


def test_the_demo_lms_answers_a_used_launch_with_an_error_to_the_tool(app, live, browser):
    login_url = start_from_page(browser)
    auth_url = browser.get(login_url).headers["Location"]
    assert "id_token" in launch_form(text_of(browser.get(auth_url)), live).fields
    second = launch_form(text_of(browser.get(auth_url)), live)
    assert second.fields["error"] == "invalid_request"
    assert "already used" in second.fields["error_description"]
    shown = browser.post(second.action, data=second.fields)
    assert shown.status_code == 400 and "Your LMS could not complete the sign-in" in text_of(shown)


def test_the_demo_lms_refuses_an_unknown_redirect_uri(browser):
    start_from_page(browser)
    refused = browser.get(
        "/demo/lms/auth?client_id=postwise-demo-lms&redirect_uri=https://evil.example/launch&state=s&nonce=n"
    )
    assert refused.status_code == 400 and "redirect_uri" in text_of(refused)


def test_a_score_needs_the_demo_lms_token(app, live, browser):
    import requests

    url = f"{live}/demo/lms/lineitems/{ORIENTATION}/scores"
    headers = {"Content-Type": "application/vnd.ims.lis.v1.score+json"}
    assert requests.post(url, data="{}", headers=headers, timeout=5).status_code == 401
    forged = {**headers, "Authorization": "Bearer not-a-token"}
    assert requests.post(url, data="{}", headers=forged, timeout=5).status_code == 401
    token = requests.post(
        f"{live}/demo/lms/token",
        data={"grant_type": "client_credentials", "client_assertion_type": "x", "client_assertion": "y"},
        timeout=5,
    )
    assert token.status_code == 400 and token.json()["error"] == "invalid_request"


# --- the page's choices, the CLI, production ------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("course", "no-such-course", "no published course"),
        ("locale", "fr", "not offered"),
        ("learner", "x@y.z", "demo learners"),
    ],
)
def test_the_page_refuses_a_choice_it_does_not_offer(browser, field, value, says):
    chosen = {"course": ORIENTATION, "locale": "en", "learner": launches.NEW_LEARNER, field: value}
    refused = browser.submit("/demo/try", chosen)
    assert refused.status_code == 422 and says in text_of(refused)


def test_the_page_says_what_to_run_without_demo_data(app, live):
    page = Browser(app, live).get("/demo/try")
    assert page.status_code == 200 and "flask --app wsgi demo load" in text_of(page)


def test_the_cli_prints_a_one_time_link_that_starts_the_launch(app, live, browser):
    result = app.test_cli_runner().invoke(
        args=["demo", "launch", "--course", ORIENTATION, "--locale", "es", "--learner", MARIA]
    )
    assert result.exit_code == 0, result.output
    [link] = [word for word in result.output.split() if "/demo/lms/start/" in word]
    assert link.startswith(f"{live}/demo/lms/start/")
    assert f"{live}/demo/lms/gradebook" in result.output and "María José Fernández" in result.output

    started = browser.get(link)
    assert started.status_code == 303 and urlsplit(started.headers["Location"]).path == "/lti/login"
    form = authorize(browser, started.headers["Location"], live)
    assert id_token_claims(form)["email"] == MARIA
    assert browser.post(form.action, data=form.fields).status_code == 200

    used = browser.get(link)
    assert used.status_code == 410 and "demo launch" in text_of(used)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--course", "nope"], "use one of: "),
        (["--course", ORIENTATION, "--locale", "fr"], "use one of: en, es"),
        (["--course", ORIENTATION, "--learner", "ghost@acme.example"], MARIA),
    ],
)
def test_the_cli_says_what_to_use_for_an_unknown_choice(app, acme, args, says):
    result = app.test_cli_runner().invoke(args=["demo", "launch", *args])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert says in line


def test_production_has_no_demo_lms(make_app, acme):
    production = make_app(CONFIG="production", PUBLIC_URL="https://training.example.com")
    client = production.test_client()
    for path in ("/demo/try", "/demo/lms/gradebook", "/demo/lms/jwks", "/demo/lms/auth"):
        assert client.get(path, base_url="https://training.example.com").status_code == 404, path
    assert client.post("/demo/lms/token", base_url="https://training.example.com").status_code == 404
    for page in ("/", "/login"):
        assert "/demo/try" not in client.get(page, base_url="https://training.example.com").get_data(
            as_text=True
        )
    result = production.test_cli_runner().invoke(args=["demo", "launch", "--course", ORIENTATION])
    assert result.exit_code == 1 and "does not exist in production" in result.output


def test_development_pages_link_to_try_it_as_a_learner(client):
    for page in ("/", "/login"):
        assert 'href="/demo/try"' in client.get(page).get_data(as_text=True), page
