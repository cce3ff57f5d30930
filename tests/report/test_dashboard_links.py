"""Issue #16: every number on the HR console's dashboard links to the filtered list behind it, and
that list holds as many assignments as the number says.

Over the demo company (`training_app.demo.load()`: ~240 people in every status, renewals, leavers,
people out of quiz attempts), then over the same company with the situations the demo does not
tell: people without a department, a course passed again in a new cycle, leavers and waived
assignments whose certificates expire within the windows. The dashboard is rendered, every link
whose text is a number (and every chart link, which carries its number in `data-count`) is
followed, and the list's total must be that number. Both databases.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from courses import publishing
from courses.models import Completion, Enrolment
from courses.services import cycle_of, record_result, start_new_cycle
from tests.helpers import text_of
from training_app import demo
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import Tenant, User

LIST = "/console/learners"
TOTAL = re.compile(r"(\d+) enrolment\(s\)")
DAY = timedelta(days=1)


class NumberLinks(HTMLParser):
    """(href, number) for every <a> whose text is a whole number or that has a data-count."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, int]] = []
        self._open: list[dict[str, str | None]] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open.append(dict(attrs))
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != "a" or not self._open:
            return
        attrs = self._open.pop()
        text = "".join(self._text).strip()
        href = attrs.get("href") or ""
        if attrs.get("data-count") is not None:
            self.links.append((href, int(attrs["data-count"] or "")))
        elif text.isdigit():
            self.links.append((href, int(text)))


def number_links(html: str) -> list[tuple[str, int]]:
    parser = NumberLinks()
    parser.feed(html)
    return parser.links


def listed(client, href: str) -> int:
    page = client.get(href)
    assert page.status_code == 200, (href, text_of(page)[:500])
    found = TOTAL.search(text_of(page))
    assert found, href
    return int(found.group(1))


def sign_in(client) -> None:
    assert client.login("hr@acme.example", demo.DEMO_PASSWORD).status_code == 302


def mismatches(client) -> tuple[list[tuple[str, int]], list[str]]:
    """The dashboard's number links, and each one whose list does not hold its number."""
    page = client.get("/console/")
    assert page.status_code == 200
    links = number_links(page.get_data(as_text=True))
    wrong = []
    for href, number in links:
        if urlsplit(href).path != LIST:
            wrong.append(f"{number} links to {href!r}, not to a list")
        elif (total := listed(client, href)) != number:
            wrong.append(f"{number} opens {href} listing {total}")
    return links, wrong


def assert_every_number_opens_its_list(client) -> list[tuple[str, int]]:
    links, wrong = mismatches(client)
    assert not wrong, "\n".join(wrong)
    filters = {name for href, _ in links for name in parse_qs(urlsplit(href).query)}
    # What the dashboard shows: statuses by course and department, the expiry windows, the
    # people out of attempts and the months of the trend all link to the list.
    assert {"course", "department", "status", "expires_from", "expires_to", "attempts"} <= filters
    assert {"completed_from", "completed_to"} <= filters
    return links


@pytest.fixture
def demo_company(app, published) -> int:
    with app.app_context():
        demo.load()
        db.session.commit()
        return db.session.scalar(select(Tenant.id).where(Tenant.slug == "acme"))


def test_every_number_on_the_demo_dashboard_opens_a_list_of_as_many(client, demo_company):
    sign_in(client)
    links = assert_every_number_opens_its_list(client)
    assert len(links) > 60, links  # courses x statuses, departments x statuses, windows, months


def _tell_what_the_demo_does_not(tenant_id: int) -> None:
    """People without a department, or with a blank one or one with spaces around it (as an LMS
    may send it); a course passed in two cycles, the first within the trend's year, and one whose
    second cycle has just started; a leaver and a waived assignment whose certificates expire
    within 30 days."""
    now = utcnow()
    people = db.session.scalars(
        select(User).where(User.tenant_id == tenant_id, User.department.is_not(None)).order_by(User.id)
    ).all()
    for person in people[:5]:
        person.department = None
    people[5].department = "   "
    people[6].department = f" {people[6].department}"
    passed = db.session.scalars(
        select(Enrolment)
        .join(User, User.id == Enrolment.user_id)
        .where(Enrolment.tenant_id == tenant_id, Enrolment.completed_at.is_not(None), Enrolment.cycle == 1)
        .where(Enrolment.ended_at.is_(None), Enrolment.waived_at.is_(None))
        .order_by(Enrolment.completed_at.desc())
    ).all()
    renewed, passed_again, leaver, waived = passed[:4]
    _, version = publishing.course_by_slug(renewed.course.slug)
    for enrolment in (renewed, passed_again):  # passed months ago, and now a second cycle
        start_new_cycle(enrolment, source="hr", due_at=now + 30 * DAY, actor="test")
    record_result(
        cycle_of(passed_again.id),
        passed=True,
        score=90,
        source_ref="test",
        actor="test",
        version=version,
        attestation_id=None,
    )
    for enrolment in (leaver, waived):
        db.session.execute(
            update(Completion)
            .where(Completion.enrolment_id == enrolment.id, Completion.status == "completed")
            .values(expires_at=now + 10 * DAY)
        )
    leaver.ended_at = now - DAY
    waived.waived_at, waived.waived_by, waived.waiver_reason = now, "test", "On leave"
    db.session.commit()


def test_every_number_opens_a_list_of_as_many_in_what_the_demo_does_not_tell(app, client, demo_company):
    with app.app_context():
        _tell_what_the_demo_does_not(demo_company)
    sign_in(client)
    links = assert_every_number_opens_its_list(client)
    queries = [parse_qs(urlsplit(href).query) for href, _ in links]
    assert {"no_department": ["yes"]} in queries  # 6 people: 5 without a department, 1 blank
    assert any(query.get("department", [""])[0].startswith(" ") for query in queries)
