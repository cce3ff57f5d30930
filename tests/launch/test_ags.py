"""Grades back to the LMS (AGS) through the outbox, against the emulated Moodle over real HTTP."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import jwt
import pytest
from sqlalchemy import func, select, update

from lti import ags
from lti.models import AccessToken
from tests.launch.conftest import ORIENTATION, learner, learner_claims
from tests.launch.steps import pass_course, ready_for_quiz, take_quiz
from tests.lti_platform import Context, LineItem, LiveServer, Platform
from tests.lti_platform import ResourceLink as LmsLink
from tests.lti_platform.constants import MEDIA_SCORE, SCOPE_SCORE
from training_app import outbox
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import OutboxMessage

CONTEXT = Context()


@pytest.fixture
def tool_jwks(client, driver, registered) -> dict:
    """The platform checks client assertions against the tool's JWKS (the test client cannot be
    called back over HTTP, so the platform is given what GET /lti/jwks serves)."""
    jwks = client.get("/lti/jwks").get_json()
    registered.require_tool().jwks = jwks
    return jwks


def graded_item(platform: Platform, link: LmsLink | None = None) -> LineItem:
    link = link or LmsLink()
    return platform.ags.create(CONTEXT.id, link.title, 100, resource_link_id=link.id)


def run_worker(app) -> int:
    with app.app_context():
        return outbox.run_worker(once=True)


def make_due(app) -> None:
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_try_at=utcnow()))
        db.session.commit()


def score_messages(app) -> list[OutboxMessage]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == ags.KIND).order_by(OutboxMessage.id)
            )
        )


def launch_and_pass(app, client, driver, platform: Platform, *, right: int = 9, **claims) -> None:
    user = claims.setdefault("user", learner())
    result = driver.launch(learner_claims(platform, **claims))
    assert result.status == 200, result.text
    pass_course(app, client, right=right, name=user.name)


def assert_is_iso_timestamp(value: str) -> None:
    assert datetime.fromisoformat(value).tzinfo is not None, value


# --- the journey --------------------------------------------------------------------------------


def test_a_passed_quiz_sends_one_score_to_the_launch_line_item(app, client, driver, registered, tool_jwks):
    item = graded_item(registered)
    launch_and_pass(app, client, driver, registered, lineitem=item)
    assert [m.status for m in score_messages(app)] == ["pending"]

    assert run_worker(app) == 1
    [score] = registered.ags.scores
    assert score.accepted and score.lineitem_id == item.id
    assert score.content_type == MEDIA_SCORE
    body = score.body
    assert body["userId"] == "u-ada"
    assert (body["scoreGiven"], body["scoreMaximum"]) == (90, 100)
    assert (body["activityProgress"], body["gradingProgress"]) == ("Completed", "FullyGraded")
    assert_is_iso_timestamp(body["timestamp"])

    [token_request] = registered.tokens.records
    assert token_request.status == 200 and SCOPE_SCORE in token_request.granted_scopes
    assertion = token_request.form["client_assertion"]
    assert jwt.get_unverified_header(assertion)["kid"] in {key["kid"] for key in tool_jwks["keys"]}
    [score_request] = registered.requests_to("scores")
    assert score_request.headers["authorization"] == f"Bearer {only(registered.tokens.tokens)}"
    assert score_request.query == {"type_id": "1"}  # Moodle's query string kept on the scores URL

    assert [m.status for m in score_messages(app)] == ["delivered"]
    assert run_worker(app) == 0 and len(registered.ags.scores) == 1


def only(values) -> str:
    [value] = list(values)
    return value


def test_failing_the_last_attempt_sends_the_fail_score(app, client, driver, registered, tool_jwks):
    item = graded_item(registered)
    assert driver.launch(learner_claims(registered, lineitem=item)).status == 200
    ready_for_quiz(app, client)
    for _ in range(2):
        take_quiz(app, client, right=2)
    assert score_messages(app) == []  # attempts left: no result yet
    take_quiz(app, client, right=2)
    assert run_worker(app) == 1
    [score] = registered.ags.accepted_scores(item)
    assert (score.body["scoreGiven"], score.body["scoreMaximum"]) == (20, 100)
    assert score.body["gradingProgress"] == "FullyGraded"


def test_a_launch_without_ags_queues_no_score(app, client, driver, registered, tool_jwks):
    launch_and_pass(app, client, driver, registered, ags=False)
    assert score_messages(app) == []
    run_worker(app)
    assert registered.ags.scores == [] and registered.token_requests == 0


# --- retries, tokens, dead letters ----------------------------------------------------------------


def test_server_errors_are_retried_until_the_lms_accepts(app, client, driver, registered, tool_jwks):
    item = graded_item(registered)
    registered.fail("scores", 500, times=2)
    launch_and_pass(app, client, driver, registered, lineitem=item)

    assert run_worker(app) == 0
    [message] = score_messages(app)
    assert message.status == "pending" and message.attempts == 1
    assert "answered 500" in message.last_error and message.next_try_at > message.created_at
    for _ in range(2):
        make_due(app)
        run_worker(app)
    [message] = score_messages(app)
    assert message.status == "delivered" and message.attempts == 3 and message.last_error is None
    assert [s.status for s in registered.ags.scores] == [500, 500, 200]
    assert len(registered.ags.accepted_scores(item)) == 1
    assert registered.token_requests == 1  # the token is reused across attempts


def test_an_expired_token_is_refreshed_once_within_the_same_attempt(
    app, client, driver, registered, tool_jwks
):
    item = graded_item(registered)
    registered.fail_token_expired("scores")
    launch_and_pass(app, client, driver, registered, lineitem=item)
    assert run_worker(app) == 1
    [message] = score_messages(app)
    assert message.status == "delivered" and message.attempts == 1
    assert [s.status for s in registered.ags.scores] == [401, 200]
    assert registered.token_requests == 2
    first, second = (r.headers["authorization"] for r in registered.requests_to("scores"))
    assert first != second


def two_learners_pass(app, client, driver, platform: Platform, item: LineItem) -> None:
    for sub, given in (("u-ada", "Ada"), ("u-bob", "Bob")):
        launch_and_pass(app, client, driver, platform, lineitem=item, user=learner(sub, given, "Tester"))


def test_access_tokens_are_cached_across_deliveries(app, client, driver, registered, tool_jwks):
    item = graded_item(registered)
    two_learners_pass(app, client, driver, registered, item)
    assert run_worker(app) == 2
    assert len(registered.ags.accepted_scores(item)) == 2
    assert registered.token_requests == 1


def test_an_expired_cached_token_is_replaced(app, client, driver, registered, tool_jwks):
    item = graded_item(registered)
    launch_and_pass(app, client, driver, registered, lineitem=item)
    assert run_worker(app) == 1 and registered.token_requests == 1
    with app.app_context():  # an hour later: the cached token has run out
        db.session.execute(update(AccessToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    launch_and_pass(app, client, driver, registered, lineitem=item, user=learner("u-bob", "Bob", "Tester"))
    assert run_worker(app) == 1
    assert registered.token_requests == 2 and len(registered.ags.accepted_scores(item)) == 2
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AccessToken)) == 1  # the old one is gone


def test_short_lived_tokens_are_not_reused(app, client, driver, registered, tool_jwks):
    registered.tokens.lifetime = 5  # shorter than the tool's safety margin
    item = graded_item(registered)
    two_learners_pass(app, client, driver, registered, item)
    assert run_worker(app) == 2
    assert registered.token_requests == 2 and len(registered.ags.accepted_scores(item)) == 2


def test_a_refused_score_goes_to_dead_letter_with_the_lms_answer(app, client, driver, registered, tool_jwks):
    registered.fail("scores", 400, body={"error": "user 42 is not gradable in this course"})
    launch_and_pass(app, client, driver, registered, lineitem=graded_item(registered))
    assert run_worker(app) == 0
    [message] = score_messages(app)
    assert message.status == "dead" and message.attempts == 1
    assert "answered 400" in message.last_error and "user 42 is not gradable" in message.last_error
    make_due(app)
    assert run_worker(app) == 0 and len(registered.ags.scores) == 1  # never retried


def test_too_many_requests_is_retried(app, client, driver, registered, tool_jwks):
    item = graded_item(registered)
    registered.fail("scores", 429, headers={"Retry-After": "1"})
    launch_and_pass(app, client, driver, registered, lineitem=item)
    assert run_worker(app) == 0
    [message] = score_messages(app)
    assert message.status == "pending" and "answered 429" in message.last_error
    make_due(app)
    assert run_worker(app) == 1 and len(registered.ags.accepted_scores(item)) == 1


def test_a_timeout_is_retried_and_a_repeat_the_lms_already_has_counts_as_delivered(
    app, client, driver, registered, tool_jwks, monkeypatch
):
    """The LMS stores the score but answers too late; the retry gets Moodle's 409 (same timestamp)."""
    item = graded_item(registered)
    post_score = registered.ags.post_score

    def slow_once(request, **params):
        if len(registered.ags.scores) == 0:
            time.sleep(1.5)
        return post_score(request, **params)

    monkeypatch.setitem(registered._handlers, "scores", slow_once)
    app.config["OUTBOX_HTTP_TIMEOUT"] = 0.5
    launch_and_pass(app, client, driver, registered, lineitem=item)
    assert run_worker(app) == 0
    [message] = score_messages(app)
    assert message.status == "pending" and "timed out" in message.last_error
    wait_for(lambda: len(registered.ags.scores) == 1)
    make_due(app)
    assert run_worker(app) == 1
    assert [s.status for s in registered.ags.scores] == [200, 409]
    assert len(registered.ags.accepted_scores(item)) == 1


def wait_for(condition, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# --- line items ------------------------------------------------------------------------------------


def test_without_a_line_item_the_tool_creates_one_and_then_reuses_it(
    app, client, driver, registered, tool_jwks
):
    container_only = registered.ags_claim(CONTEXT.id, None)
    assert "lineitem" not in container_only and "?type_id=1" in container_only["lineitems"]
    launch_and_pass(app, client, driver, registered, ags=container_only)
    assert run_worker(app) == 1
    [item] = registered.ags.lineitems.values()
    assert (item.score_maximum, item.label, item.resource_id, item.tag) == (
        100,
        "Social media policy orientation",
        ORIENTATION,
        "postwise",
    )
    assert item.resource_link_id == LmsLink().id
    [score] = registered.ags.scores
    assert score.accepted and score.lineitem_id == item.id and score.body["scoreGiven"] == 90
    ags_calls = [r for r in registered.requests if r.endpoint in ("lineitems", "lineitem", "scores")]
    assert ags_calls and all(r.query.get("type_id") == "1" for r in ags_calls)

    launch_and_pass(
        app, client, driver, registered, ags=container_only, user=learner("u-bob", "Bob", "Tester")
    )
    assert run_worker(app) == 1
    assert len(registered.ags.lineitems) == 1  # found, not created again
    assert len(registered.ags.accepted_scores(item)) == 2


def test_another_tools_line_item_in_the_course_is_never_used(
    app, client, driver, registered, tool_jwks, monkeypatch
):
    """A platform that ignores the list filters must not make us grade someone else's column."""
    other = registered.ags.create(CONTEXT.id, "Essay", 20, resource_link_id="another-link", tag="essay")
    lineitems = registered._handlers["lineitems"]

    def ignoring_filters(request, context_id):
        request.query = {k: v for k, v in request.query.items() if k in ("type_id", "page", "limit")}
        return lineitems(request, context_id=context_id)

    monkeypatch.setitem(registered._handlers, "lineitems", ignoring_filters)
    launch_and_pass(app, client, driver, registered, ags=registered.ags_claim(CONTEXT.id, None))
    assert run_worker(app) == 1
    assert registered.ags.accepted_scores(other) == []
    [ours] = [i for i in registered.ags.lineitems.values() if i.id != other.id]
    assert ours.resource_id == ORIENTATION and len(registered.ags.accepted_scores(ours)) == 1


def test_a_launch_whose_line_item_cannot_be_created_goes_to_dead_letter(
    app, client, driver, registered, tool_jwks
):
    read_only = registered.ags_claim(
        CONTEXT.id,
        None,
        scopes=[
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
            SCOPE_SCORE,
        ],
    )
    launch_and_pass(app, client, driver, registered, ags=read_only)
    assert run_worker(app) == 0
    [message] = score_messages(app)
    assert message.status == "dead" and "does not let us create one" in message.last_error


def test_the_scores_url_keeps_the_line_item_query():
    moodle = "https://lms.example/mod/lti/services.php/2/lineitems/5/lineitem?type_id=3"
    assert (
        ags.scores_url(moodle)
        == "https://lms.example/mod/lti/services.php/2/lineitems/5/lineitem/scores?type_id=3"
    )
    assert ags.scores_url("https://canvas.example/api/lti/courses/1/line_items/7/") == (
        "https://canvas.example/api/lti/courses/1/line_items/7/scores"
    )


def test_the_moodle_emulator_refuses_a_scores_url_without_its_query(registered):
    """The check the tool must pass is real: the same POST without ?type_id is refused."""
    import requests

    item = graded_item(registered)
    url = registered.ags.lineitem_url(item).split("?")[0] + "/scores"
    response = requests.post(url, json={}, headers={"Content-Type": MEDIA_SCORE}, timeout=5)
    assert response.status_code == 403 and "type_id" in response.text


def test_canvas_answers_with_a_result_url_and_the_score_is_delivered(app, client, tool_canvas):
    platform, driver = tool_canvas
    item = platform.ags.create(CONTEXT.id, "Orientation", 100, resource_link_id=LmsLink().id)
    claims = learner_claims(platform, lineitem=item)
    login = driver.login(claims, params={"lti_storage_target": None})  # a browser with cookies
    assert driver.post_launch(driver.authorize(login)).status == 200
    pass_course(app, client)
    assert run_worker(app) == 1
    [score] = platform.ags.accepted_scores(item)
    assert score.body["scoreGiven"] == 90 and score.body["scoreMaximum"] == 100
    assert [m.status for m in score_messages(app)] == ["delivered"]


@pytest.fixture
def tool_canvas(app, client, published):
    from tests import factories
    from tests.launch.conftest import register_platform
    from tests.lti_platform import LaunchDriver

    with Platform(flavour="canvas") as canvas:
        with app.app_context():
            register_platform(factories.tenant("acme"), canvas)
            db.session.commit()
        driver = LaunchDriver(canvas, client)
        canvas.require_tool().jwks = client.get("/lti/jwks").get_json()
        yield canvas, driver


def test_the_lms_fetches_the_tool_jwks_over_http_while_the_worker_delivers(app, client, driver, registered):
    """As in production: the token endpoint reads the tool's keys from the running web server while
    the worker waits for the token (on SQLite the worker must not hold the write lock then)."""
    item = graded_item(registered)
    launch_and_pass(app, client, driver, registered, lineitem=item)
    with LiveServer(app) as live:
        registered.require_tool().jwks_url = f"{live.url}/lti/jwks"
        assert run_worker(app) == 1
    assert registered.tool_jwks_fetches == 1
    assert len(registered.ags.accepted_scores(item)) == 1
