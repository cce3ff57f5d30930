"""The instructor's course report: every LMS member (NRPS, paged and cached) and their progress."""

from __future__ import annotations

import re

import pytest
import requests

from lti import oauth
from tests.helpers import text_of
from tests.launch.conftest import ORIENTATION, learner, learner_claims
from tests.launch.steps import lesson_slugs, pass_course
from tests.lti_platform import Context, LiveServer, Member, Platform
from tests.lti_platform.claims import User as LtiUser
from tests.lti_platform.constants import ROLE_INSTRUCTOR, ROLE_LEARNER, roles_for
from training_app.db import utcnow

CONTEXT = Context()
NEVER_LAUNCHED = ("Cy Young", "Di Prince", "Ed Norton")


@pytest.fixture
def tool_jwks(client, driver, registered) -> None:
    registered.require_tool().jwks = client.get("/lti/jwks").get_json()


@pytest.fixture
def course_members(registered) -> Platform:
    """Five active learners, one who left, and the instructor; two members a page."""
    registered.nrps.page_size = 2
    learners = [("u-ada", "Ada Lovelace"), ("u-bob", "Bob Tester")]
    learners += [(f"u-{name.split()[0].lower()}", name) for name in NEVER_LAUNCHED]
    members = [Member(sub, name=name, email=f"{sub[2:]}@acme.example") for sub, name in learners]
    members.append(Member("u-fay", name="Fay Gone", status="Inactive"))
    members.append(Member("u-ines", roles=(ROLE_INSTRUCTOR,), name="Ines Teacher"))
    registered.nrps.add(CONTEXT.id, *members)
    return registered


def instructor_claims(platform: Platform, roles: list[str] | None = None):
    return platform.resource_link_claims(
        LtiUser.named("u-ines", "Ines", "Teacher"),
        roles or roles_for("moodle", "instructor"),
        custom={"course": ORIENTATION},
        ags=True,
        nrps=True,
    )


def nrps_calls(platform: Platform) -> int:
    return len(platform.requests_to("memberships"))


def row_of(page: str, name: str) -> str:
    [row] = [row for row in page.split("<tr>") if name in row]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))


def card(page: str, title: str) -> int:
    match = re.search(rf"<h2>{title}</h2><p class=\"stat\">(\d+)</p>", page)
    assert match, f"no {title} card"
    return int(match.group(1))


@pytest.fixture
def two_learners_launched(app, client, driver, course_members, tool_jwks) -> None:
    """Ada passed with 90; Bob (hired years ago, so overdue) opened the first lesson."""
    assert driver.launch(learner_claims(course_members)).status == 200
    pass_course(app, client)
    bob = learner("u-bob", "Bob", "Tester")
    claims = learner_claims(course_members, user=bob, custom={"hire_date": "2020-01-01"})
    assert driver.launch(claims).status == 200
    first = lesson_slugs(app, ORIENTATION)[0]
    assert client.get(f"/courses/{ORIENTATION}/lessons/{first}").status_code == 200


def test_the_report_lists_every_learner_of_the_lms_course(
    app, client, driver, course_members, two_learners_launched
):
    launched = driver.launch(instructor_claims(course_members))
    assert launched.status == 303 and launched.response.location.endswith("/lti/report")
    response = client.get("/lti/report")
    assert response.status_code == 200
    page = text_of(response)
    assert nrps_calls(course_members) == 4  # 7 members, 2 a page: every Link rel="next" followed

    assert "Social media policy" in page and "Social media policy orientation" in page
    for name in NEVER_LAUNCHED:
        assert "Never launched" in row_of(page, name)
    ada = row_of(page, "Ada Lovelace")
    assert "Completed" in ada and " 90 " in ada and "Overdue" not in ada
    bob = row_of(page, "Bob Tester")
    assert "Overdue" in bob and "2020-01-31" in bob  # started, but past due: the one status rule
    assert utcnow().date().isoformat() in bob  # when Bob started
    assert "Fay Gone" not in page and "Ines Teacher" not in page  # left the course; not a learner
    assert (card(page, "Completed"), card(page, "Overdue"), card(page, "Never launched")) == (1, 1, 3)
    assert "<h2>In progress</h2>" not in page and "<h2>Not started</h2>" not in page


def test_the_summary_counts_the_rows_it_sits_above(
    app, client, driver, course_members, two_learners_launched
):
    """Each card's number is the number of rows showing that status, and every row is counted once."""
    driver.launch(instructor_claims(course_members))
    page = text_of(client.get("/lti/report"))
    cards = dict(re.findall(r"<h2>([^<]+)</h2><p class=\"stat\">(\d+)</p>", page))
    badges = re.findall(r'<span class="badge[^"]*">([^<]+)</span>', page.split("<tbody>")[1])
    assert {title: int(count) for title, count in cards.items()} == {b: badges.count(b) for b in set(badges)}
    assert sum(int(count) for count in cards.values()) == len(badges) == 5


def test_the_roster_is_cached_then_refetched_when_the_cache_is_off(
    app, client, driver, course_members, tool_jwks
):
    driver.launch(instructor_claims(course_members))
    assert client.get("/lti/report").status_code == 200
    assert nrps_calls(course_members) == 4
    assert client.get("/lti/report").status_code == 200
    assert nrps_calls(course_members) == 4  # within LTI_ROSTER_CACHE_SECONDS: not asked again
    app.config["LTI_ROSTER_CACHE_SECONDS"] = 0
    assert client.get("/lti/report").status_code == 200
    assert nrps_calls(course_members) == 8
    assert course_members.token_requests == 1  # the NRPS token is cached too


def test_a_learner_cannot_open_the_report(client, driver, course_members, tool_jwks):
    assert driver.launch(learner_claims(course_members)).status == 200
    response = client.get("/lti/report")
    assert response.status_code == 403 and "Only instructors and administrators" in text_of(response)
    assert nrps_calls(course_members) == 0


def test_the_report_without_a_launch_is_refused(client, registered):
    assert client.get("/lti/report").status_code == 403


def test_when_the_lms_roster_fails_the_report_still_shows_who_launched(
    client, driver, course_members, two_learners_launched
):
    course_members.fail("memberships", 500)
    driver.launch(instructor_claims(course_members))
    response = client.get("/lti/report")
    assert response.status_code == 200
    page = text_of(response)
    assert "The member list could not be fetched from your LMS just now." in page
    assert "Ada Lovelace" in page and "Bob Tester" in page
    assert "Cy Young" not in page


def test_when_a_refresh_fails_the_last_roster_is_shown_with_a_notice(
    app, client, driver, course_members, tool_jwks
):
    driver.launch(instructor_claims(course_members))
    assert "Cy Young" in text_of(client.get("/lti/report"))
    app.config["LTI_ROSTER_CACHE_SECONDS"] = 0
    course_members.fail("memberships", 503)
    page = text_of(client.get("/lti/report"))
    assert "could not be fetched" in page and "Cy Young" in page


def test_a_launch_without_nrps_says_the_lms_offered_no_member_list(client, driver, course_members, tool_jwks):
    claims = course_members.resource_link_claims(
        LtiUser.named("u-ines", "Ines", "Teacher"),
        [ROLE_INSTRUCTOR],
        custom={"course": ORIENTATION},
    )
    driver.launch(claims)
    response = client.get("/lti/report")
    assert response.status_code == 200
    assert "did not offer its member list" in text_of(response)
    assert nrps_calls(course_members) == 0


def test_a_learner_role_among_others_is_listed(app, client, driver, course_members, tool_jwks):
    """Canvas lists roles as full URIs next to institution roles."""
    course_members.nrps.add(
        CONTEXT.id,
        Member(
            "u-gus", roles=("http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student", ROLE_LEARNER)
        ),
    )
    driver.launch(instructor_claims(course_members))
    page = text_of(client.get("/lti/report"))
    assert "Never launched" in row_of(page, "u-gus")  # no name shared: the LMS user id is shown


def test_the_lms_can_fetch_the_tool_jwks_while_the_report_waits_for_the_roster(
    client, driver, course_members
):
    """As in production: the LMS token endpoint reads our keys from the web server during the call."""
    driver.launch(instructor_claims(course_members))
    with LiveServer(client.application) as live:
        course_members.require_tool().jwks_url = f"{live.url}/lti/jwks"
        page = text_of(client.get("/lti/report"))
    assert course_members.tool_jwks_fetches == 1
    assert "could not be fetched" not in page and "Cy Young" in page


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://lms.example/m?page=2>; rel="next"', "https://lms.example/m?page=2"),
        (
            '<https://c.example/m?page=1>; rel="current",<https://c.example/m?page=2>; rel="next",'
            '<https://c.example/m?page=1>; rel="first"',
            "https://c.example/m?page=2",
        ),
        ('<https://lms.example/m?page=2>; type="x"; rel=next', "https://lms.example/m?page=2"),
        ('<https://lms.example/m?page=1>; rel="prev"', None),
        ("", None),
    ],
)
def test_the_next_page_is_read_from_the_link_header(header, expected):
    response = requests.Response()
    response.headers["Link"] = header
    assert oauth.next_page(response) == expected
