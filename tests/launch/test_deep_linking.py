"""Deep linking: the instructor picks a course, the LMS gets a signed content item, learners launch it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from courses import publishing
from tests.helpers import csrf_from, text_of
from tests.launch.conftest import ORIENTATION, landed_on, learner
from tests.lti_platform import Context, Platform
from tests.lti_platform import ResourceLink as LmsLink
from tests.lti_platform.claims import User as LtiUser
from tests.lti_platform.constants import CLAIM_DEPLOYMENT_ID, CLAIM_DL_DATA, roles_for
from tests.lti_platform.html_forms import Form, parse_forms
from training_app.extensions import db
from training_app.models import AuditEvent

REFRESHER = "social-media-refresher"
CONTEXT = Context()


@pytest.fixture
def tool_jwks(client, driver, registered) -> None:
    """The LMS checks the response JWT against the tool's JWKS (served by GET /lti/jwks)."""
    registered.require_tool().jwks = client.get("/lti/jwks").get_json()


def instructor() -> LtiUser:
    return LtiUser.named("u-ines", "Ines", "Teacher")


def open_picker(driver, platform: Platform, **settings) -> dict:
    claims = platform.deep_linking_claims(instructor(), roles_for("moodle", "instructor"), **settings)
    result = driver.launch(claims)
    assert result.status == 303, result.text
    assert result.response.location.endswith("/lti/deep-linking")
    return claims


def choose(client, *courses: str):
    page = client.get("/lti/deep-linking")
    assert page.status_code == 200
    data = {"course": list(courses), "csrf_token": csrf_from(text_of(page))}
    return client.post("/lti/deep-linking", data=data)


def response_form(response) -> Form:
    assert response.status_code == 200, text_of(response)
    [form] = [form for form in parse_forms(response.get_data(as_text=True)) if "JWT" in form.fields]
    return form


def return_to_lms(driver, form: Form):
    """What the auto-submitting page does in the browser: POST the JWT to the LMS."""
    return driver.browser.post(form.action, data=form.fields, timeout=10)


def test_the_picker_lists_the_published_courses(app, client, driver, registered, tool_jwks):
    open_picker(driver, registered)
    page = text_of(client.get("/lti/deep-linking"))
    with app.app_context():
        published = publishing.published_courses()
        assert len(published) == 3
        for course, version in published:
            assert course.title in page and version.label in page
            assert f"{version.manifest['estimated_minutes']} min" in page
    assert "Orientation ·" in page and "Refresher ·" in page
    assert 'type="checkbox" name="course"' in page  # the LMS accepts several items


def test_the_round_trip_creates_a_link_that_opens_the_chosen_course(
    app, client, driver, registered, tool_jwks
):
    claims = open_picker(driver, registered)
    form = response_form(choose(client, REFRESHER))
    assert form.action == registered.deep_link_return_url

    back = return_to_lms(driver, form)
    assert back.status_code == 200, back.text
    returned = registered.deep_linking.returns[-1]
    assert returned.ok, returned.error
    assert returned.claims["aud"] == registered.issuer and returned.claims["iss"] == registered.client_id
    assert returned.claims[CLAIM_DEPLOYMENT_ID] == registered.deployment_id
    assert (
        returned.claims[CLAIM_DL_DATA]
        == claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"]["data"]
    )
    [item] = returned.content_items
    assert item["type"] == "ltiResourceLink" and item["title"] == "Annual social media policy refresher"
    assert item["custom"] == {"course": REFRESHER}
    assert item["lineItem"] == {
        "scoreMaximum": 100,
        "label": "Annual social media policy refresher",
        "resourceId": REFRESHER,
        "tag": "postwise",
    }
    assert item["url"] == registered.require_tool().launch_url
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "lti.deep_link_created"))
        assert event.data == {"courses": [REFRESHER]}

    # The LMS makes the link and its gradebook column from the item; a learner opens it.
    link = LmsLink(id="dl-link-7", title=item["title"])
    column = registered.ags.create(
        CONTEXT.id,
        item["lineItem"]["label"],
        item["lineItem"]["scoreMaximum"],
        resource_link_id=link.id,
        resource_id=item["lineItem"]["resourceId"],
        tag=item["lineItem"]["tag"],
    )
    launch = registered.resource_link_claims(
        learner(),
        roles_for("moodle", "learner"),
        resource_link=link,
        custom=item["custom"],
        lineitem=column,
        ags=True,
    )
    opened = driver.launch(launch)
    assert opened.status == 200 and landed_on(opened.text) == f"/courses/{REFRESHER}/"
    assert "Annual social media policy refresher" in opened.text


def test_two_courses_when_the_lms_accepts_several(client, driver, registered, tool_jwks):
    open_picker(driver, registered, accept_multiple=True)
    back = return_to_lms(driver, response_form(choose(client, ORIENTATION, REFRESHER)))
    assert back.status_code == 200
    items = registered.deep_linking.returns[-1].content_items
    assert [item["custom"]["course"] for item in items] == [ORIENTATION, REFRESHER]


def test_the_response_can_be_used_once(client, driver, registered, tool_jwks):
    open_picker(driver, registered)
    page = client.get("/lti/deep-linking")
    data = {"course": ORIENTATION, "csrf_token": csrf_from(text_of(page))}
    assert client.post("/lti/deep-linking", data=data).status_code == 200
    again = client.post("/lti/deep-linking", data=data)
    assert again.status_code in (401, 410) and "open" in text_of(again).lower()


def test_a_learner_cannot_deep_link(client, driver, registered):
    claims = registered.deep_linking_claims(learner(), roles_for("moodle", "learner"))
    result = driver.launch(claims)
    assert result.status == 403
    assert "Only instructors and administrators can choose content" in result.text
    assert client.get("/lti/deep-linking").status_code == 401  # no session: open it from the LMS


def test_a_learners_session_cannot_open_the_picker(client, driver, registered):
    from tests.launch.conftest import learner_claims

    assert driver.launch(learner_claims(registered)).status == 200
    response = client.get("/lti/deep-linking")
    assert response.status_code == 403 and "Only instructors" in text_of(response)


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        ((), "Choose at least one of the listed courses."),
        (("no-such-course",), "Choose at least one of the listed courses."),
    ],
)
def test_choosing_nothing_or_an_unknown_course_is_refused(
    client, driver, registered, tool_jwks, chosen, message
):
    open_picker(driver, registered)
    refused = choose(client, *chosen)
    assert refused.status_code == 422 and message in text_of(refused)
    assert registered.deep_linking.returns == []
    back = return_to_lms(driver, response_form(choose(client, ORIENTATION)))  # the picker still works
    assert back.status_code == 200


def test_two_courses_when_the_lms_accepts_one_are_refused(client, driver, registered, tool_jwks):
    open_picker(driver, registered, accept_multiple=False)
    page = text_of(client.get("/lti/deep-linking"))
    assert 'type="radio" name="course"' in page
    refused = choose(client, ORIENTATION, REFRESHER)
    assert refused.status_code == 422 and "accepts one course at a time" in text_of(refused)
    assert registered.deep_linking.returns == []
