"""The people and completions table (/console/learners): one row per assignment, its filters,
sorts and pages in the URL, a 400 naming each impossible filter, literal and safe search, and a
number of SQL statements per page that does not grow with its rows (both databases)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from certificates.models import Certificate
from courses import publishing
from courses.models import Attestation, Completion, Enrolment
from lti.models import GradeTarget, Platform, ResourceLink
from tests import factories
from tests.helpers import text_of
from tests.statements import of_request
from training_app.extensions import db
from training_app.models import Tenant, User

ORIENTATION = "social-media-orientation"
LEADERS = "leaders-on-social-media"
NOW = datetime.now(UTC).replace(microsecond=0)
FORMULA_NAME = '=HYPERLINK("http://x")'
FORMULA_DEPARTMENT = "@SUM(A1)"
TRICKY_NAME = 'Tom "T" 100% O\'Brien, <script>alert(1)</script>'
ROW_EMPLOYEE_IDS = re.compile(r"data-employee-id>([^<]*)<")
ROW_LINKS = re.compile(r'<td><a href="/console/learners/(\d+)">')


def day(offset: int) -> str:
    """The UTC day `offset` days from NOW, as the date filters take it."""
    return f"{NOW + timedelta(days=offset):%Y-%m-%d}"


@dataclass
class World:
    acme: int
    globex: int
    ada: int
    ada_orientation: int
    ada_completion: int
    ada_attestation: int
    certificate_code: str
    grace: int
    formula: int
    lucia: int
    tom: int


def employee(tenant, employee_id: str, name: str, email: str, department: str, manager: str | None = None):
    user = User(
        tenant_id=tenant.id,
        issuer="hr",
        subject=employee_id,
        employee_id=employee_id,
        name=name,
        email=email,
        department=department,
        manager_email=manager,
        locale="en",
    )
    db.session.add(user)
    db.session.flush()
    return user


def assign(user, course_slug: str, *, due: datetime | None, **fields) -> Enrolment:
    course, _version = publishing.course_by_slug(course_slug)
    enrolment = Enrolment(
        tenant_id=user.tenant_id,
        user_id=user.id,
        course_id=course.id,
        source="hr",
        enrolled_at=NOW - timedelta(days=60),
        due_at=due,
        **fields,
    )
    db.session.add(enrolment)
    db.session.flush()
    return enrolment


def attest(enrolment: Enrolment, moment: datetime) -> Attestation:
    _course, version = publishing.course_by_slug(ORIENTATION)
    attestation = Attestation(
        tenant_id=enrolment.tenant_id,
        user_id=enrolment.user_id,
        enrolment_id=enrolment.id,
        cycle=enrolment.cycle,
        course_version_id=version.id,
        content_hash=version.content_hash,
        policy_text_hash=version.content_hash,
        statement="I have read the policy.",
        typed_name="Signed",
        locale="en",
        attested_at=moment,
    )
    db.session.add(attestation)
    db.session.flush()
    return attestation


def result(
    enrolment: Enrolment, *, passed: bool, score: int, completed: datetime, expires=None, attestation=None
):
    _course, version = publishing.course_by_slug(ORIENTATION)
    completion = Completion(
        tenant_id=enrolment.tenant_id,
        user_id=enrolment.user_id,
        enrolment_id=enrolment.id,
        course_id=enrolment.course_id,
        course_version_id=version.id,
        cycle=enrolment.cycle,
        status="completed" if passed else "failed",
        score=score,
        content_hash=version.content_hash,
        attestation_id=attestation.id if attestation else None,
        completed_at=completed,
        expires_at=expires,
    )
    db.session.add(completion)
    enrolment.started_at = enrolment.started_at or completed  # as the services keep the row
    if passed:
        enrolment.completed_at, enrolment.expires_at = completed, expires
    db.session.flush()
    return completion


def certify(completion: Completion, code: str, *, revoked: bool = False) -> None:
    db.session.add(
        Certificate(
            tenant_id=completion.tenant_id,
            user_id=completion.user_id,
            completion_id=completion.id,
            course_id=completion.course_id,
            course_version_id=completion.course_version_id,
            code=code,
            credential_id=f"urn:uuid:{code}",
            subject_id=f"subject-{code}",
            holder_name="Holder",
            course_title="Orientation",
            course_slug=ORIENTATION,
            policy_version="v1",
            content_hash=completion.content_hash,
            locale="en",
            score=completion.score,
            completed_at=completion.completed_at,
            expires_at=completion.expires_at,
            revoked_at=NOW - timedelta(days=1) if revoked else None,
        )
    )
    db.session.flush()


def launched_from_lms(enrolment: Enrolment, name: str) -> None:
    platform = Platform(
        tenant_id=enrolment.tenant_id,
        name=name,
        issuer="https://moodle.acme.example",
        client_id="client",
        auth_login_url="https://moodle.acme.example/auth",
        auth_token_url="https://moodle.acme.example/token",
        key_set_url="https://moodle.acme.example/jwks",
    )
    db.session.add(platform)
    db.session.flush()
    link = ResourceLink(
        tenant_id=enrolment.tenant_id,
        platform_id=platform.id,
        deployment_id="1",
        resource_link_id="rl-1",
        course_slug=ORIENTATION,
    )
    db.session.add(link)
    db.session.flush()
    db.session.add(GradeTarget(enrolment_id=enrolment.id, resource_link_id=link.id, lti_user_id="lti-ada"))
    db.session.flush()


def build_world() -> World:
    """Acme's people in several statuses (one passed with a certificate, launched from Moodle),
    a preview learner, and Globex's one employee."""
    made = factories.two_tenants_with_staff()
    acme, globex = made["acme"], made["globex"]
    ada = employee(acme, "E001", "Ada Lovelace", "ada@acme.example", "Engineering", "grace@acme.example")
    orientation = assign(ada, ORIENTATION, due=NOW - timedelta(days=20))
    # A fraction of a second that both databases must cut, not round, to the second.
    signed = attest(orientation, NOW - timedelta(days=10, hours=1) + timedelta(microseconds=999_999))
    passed = result(
        orientation,
        passed=True,
        score=92,
        completed=NOW - timedelta(days=10),
        expires=NOW + timedelta(days=355),
        attestation=signed,
    )
    certify(passed, "7KQ2-M9XD-4HPT-ZR3B")
    launched_from_lms(orientation, "Moodle Acme")
    assign(ada, LEADERS, due=NOW + timedelta(days=30))  # not started

    grace = employee(acme, "E002", "Grace Hopper", "grace@acme.example", "Engineering")
    assign(grace, ORIENTATION, due=NOW - timedelta(days=3))  # overdue

    formula = employee(
        acme, "E003", FORMULA_NAME, "formula@acme.example", FORMULA_DEPARTMENT, "-boss@acme.example"
    )
    assign(formula, ORIENTATION, due=NOW + timedelta(days=20))  # not started

    lucia = employee(acme, "E004", "Lucía Gómez", "lucia@acme.example", "Sales", "GRACE@acme.example")
    started = assign(lucia, ORIENTATION, due=NOW + timedelta(days=5), started_at=NOW - timedelta(days=2))
    result(started, passed=False, score=40, completed=NOW - timedelta(days=1))  # in progress

    tom = employee(acme, "E005", TRICKY_NAME, "tom@acme.example", "Sales")
    old = assign(tom, ORIENTATION, due=NOW - timedelta(days=500))
    expired = result(
        old, passed=True, score=75, completed=NOW - timedelta(days=400), expires=NOW - timedelta(days=35)
    )
    certify(expired, "REVO-KEDX-0000-0001", revoked=True)

    waived = employee(acme, "E006", "Wanda Waived", "wanda@acme.example", "Sales")
    assign(waived, ORIENTATION, due=NOW - timedelta(days=1), waived_at=NOW - timedelta(days=2))

    preview = User(
        tenant_id=acme.id, issuer="preview", subject="p1", name="Preview Person", email="p@acme.example"
    )
    db.session.add(preview)
    db.session.flush()
    assign(preview, ORIENTATION, due=None)
    outsider = employee(globex, "G001", "Globex Person", "person@globex.example", "Engineering")
    assign(outsider, ORIENTATION, due=NOW - timedelta(days=3))
    db.session.commit()
    return World(
        acme=acme.id,
        globex=globex.id,
        ada=ada.id,
        ada_orientation=orientation.id,
        ada_completion=passed.id,
        ada_attestation=signed.id,
        certificate_code="7KQ2-M9XD-4HPT-ZR3B",
        grace=grace.id,
        formula=formula.id,
        lucia=lucia.id,
        tom=tom.id,
    )


@pytest.fixture
def world(app, published) -> World:
    with app.app_context():
        return build_world()


@pytest.fixture
def hr(client, world):
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    return client


def employee_ids(response) -> list[str]:
    return ROW_EMPLOYEE_IDS.findall(response.get_data(as_text=True))


def test_the_table_lists_one_row_per_assignment_with_its_columns(hr, world):
    page = hr.get("/console/learners")
    assert page.status_code == 200
    body = text_of(page)
    # By name, then course: Ada's two assignments, the formula (=...) sorts first.
    assert employee_ids(page) == ["E003", "E001", "E001", "E002", "E004", "E005", "E006"]
    assert "7 enrolment(s)" in body
    assert "Preview Person" not in body and "Globex Person" not in body
    rows = page.get_data(as_text=True).split("<tr>")
    ada_row = next(
        row for row in rows if f'href="/console/learners/{world.ada}"' in row and "orientation" in row
    )
    for shown in (
        "ada@acme.example",
        "Engineering",
        "grace@acme.example",
        "Policy version 1",
        "Completed",
        "92",
    ):
        assert shown in ada_row, shown
    assert (NOW - timedelta(days=10)).strftime("%Y-%m-%d") in ada_row
    assert (NOW + timedelta(days=355)).strftime("%Y-%m-%d") in ada_row
    assert {int(i) for i in ROW_LINKS.findall(page.get_data(as_text=True))} >= {
        world.ada,
        world.grace,
        world.tom,
    }
    for label in ("Overdue", "In progress", "Not started", "Expired", "Waived"):
        assert label in body
    # Export links carry the same filters.
    filtered = hr.get("/console/learners?status=overdue&department=Engineering")
    assert (
        'href="/console/learners/export.csv?department=Engineering&amp;status=overdue"'
        in filtered.get_data(as_text=True)
    )


def test_an_auditor_sees_the_table_and_staff_of_another_tenant_see_only_theirs(client, world):
    assert client.login("auditor@acme.example", factories.PASSWORD).status_code == 302
    assert employee_ids(client.get("/console/learners"))[0] == "E003"
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    assert client.login("hr@globex.example", factories.PASSWORD).status_code == 302
    assert employee_ids(client.get("/console/learners")) == ["G001"]
    assert "Ada Lovelace" not in text_of(client.get("/console/learners?q=ada"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=overdue", ["E002"]),
        ("status=completed", ["E001"]),
        ("status=expired", ["E005"]),
        ("status=in_progress", ["E004"]),
        ("status=not_started", ["E003", "E001"]),
        ("status=waived", ["E006"]),
        ("course=leaders-on-social-media", ["E001"]),
        ("version=1", ["E001", "E005"]),
        ("version=2", []),
        ("department=Engineering", ["E001", "E001", "E002"]),
        ("department=Sales&status=in_progress", ["E004"]),
        ("manager=GRACE@ACME.EXAMPLE", ["E001", "E001", "E004"]),  # emails case-insensitively
        ("q=LOVELACE", ["E001", "E001"]),
        ("q=e004", ["E004"]),
        ("q=tom@acme", ["E005"]),
        (
            f"due_from={(NOW - timedelta(days=4)):%Y-%m-%d}&due_to={(NOW + timedelta(days=5)):%Y-%m-%d}",
            ["E002", "E004", "E006"],
        ),
        (f"completed_from={(NOW - timedelta(days=10)):%Y-%m-%d}&completed_to={NOW:%Y-%m-%d}", ["E001"]),
        # Whole UTC days, both ends included: Ada's certificate expires on day +355, Tom's on -35.
        (f"expires_from={day(355)}", ["E001"]),
        (f"expires_to={day(355)}", ["E001", "E005"]),
        (f"expires_to={day(354)}", ["E005"]),
        (f"expires_from={day(-35)}&expires_to={day(-35)}", ["E005"]),
        (f"expires_from={day(-34)}&expires_to={day(354)}", []),
        ("attempts=used_up", ["E004"]),  # Lucía failed her last attempt; none granted
        ("attempts=used_up&department=Engineering", []),
        ("status=counted", ["E003", "E001", "E001", "E002", "E004", "E005"]),  # all but the waived
        ("status=counted&department=Sales", ["E004", "E005"]),
        ("no_department=yes", []),  # everyone has one (the preview person is never listed)
        ("sort=-due", ["E001", "E003", "E004", "E006", "E002", "E001", "E005"]),
        ("sort=due", ["E005", "E001", "E002", "E006", "E004", "E003", "E001"]),
        ("sort=-score", ["E001", "E005", "E003", "E001", "E002", "E004", "E006"]),
        ("sort=employee_id", ["E001", "E001", "E002", "E003", "E004", "E005", "E006"]),
        ("sort=status", ["E003", "E001", "E004", "E002", "E001", "E005", "E006"]),
    ],
)
def test_filters_and_sorts(hr, world, query, expected):
    page = hr.get(f"/console/learners?{query}")
    assert page.status_code == 200, text_of(page)[:300]
    assert employee_ids(page) == expected


def test_people_without_a_department_or_with_a_blank_one(app, hr, world):
    with app.app_context():
        db.session.get(User, world.grace).department = None
        db.session.get(User, world.lucia).department = "  "  # as an LMS may send it
        db.session.get(User, world.tom).department = " Sales"
        db.session.commit()
    assert employee_ids(hr.get("/console/learners?no_department=yes")) == ["E002", "E004"]
    # A department is matched as it is stored, spaces and all; only a blank one chooses none.
    assert employee_ids(hr.get("/console/learners", query_string={"department": " Sales"})) == ["E005"]
    assert employee_ids(hr.get("/console/learners?department=Sales")) == ["E006"]
    assert len(employee_ids(hr.get("/console/learners", query_string={"department": "  "}))) == 7
    page = hr.get("/console/learners?no_department=yes&attempts=used_up&expires_to=2027-01-01")
    html = page.get_data(as_text=True)  # the form keeps the filters it was opened with
    assert 'name="no_department" value="yes" checked' in html
    assert 'name="attempts" value="used_up" checked' in html and 'value="2027-01-01"' in html
    assert "export.csv?no_department=yes&amp;attempts=used_up&amp;expires_to=2027-01-01" in html


def test_the_view_is_in_the_url_and_its_sort_links_keep_the_filters(hr, world):
    page = hr.get("/console/learners?status=overdue&q=grace&sort=-due")
    html = page.get_data(as_text=True)
    assert 'value="grace"' in html and '<option value="overdue" selected>' in html
    assert '<option value="-due" selected>' in html
    # The active column says how it is sorted; its link reverses it, other columns sort ascending.
    assert (
        'aria-sort="descending"><a href="/console/learners?status=overdue&amp;q=grace&amp;sort=due">' in html
    )
    assert 'href="/console/learners?status=overdue&amp;q=grace&amp;sort=name"' in html


@pytest.mark.parametrize(
    ("query", "named", "advice"),
    [
        ("due_from=2027-02-30", "due_from", "YYYY-MM-DD"),
        ("due_to=yesterday", "due_to", "YYYY-MM-DD"),
        ("completed_from=2027-W09-1", "completed_from", "YYYY-MM-DD"),
        ("status=done", "status", "not_started, in_progress, overdue"),
        ("version=two", "version", "whole number"),
        ("version=0", "version", "whole number"),
        ("due_from=2027-03-02&due_to=2027-03-01", "due_from", "starts on or before its end"),
        ("sort=password", "sort", "-due"),
        ("q=" + "x" * 201, "q", "at most 200 characters"),
        ("expires_from=2027-02-30", "expires_from", "YYYY-MM-DD"),
        ("expires_to=soon", "expires_to", "YYYY-MM-DD"),
        ("due_to=9999-12-31", "due_to", "up to 9999-12-30"),
        ("completed_from=9999-12-31", "completed_from", "up to 9999-12-30"),
        ("expires_from=2027-03-02&expires_to=2027-03-01", "expires_from", "starts on or before its end"),
        ("status=everyone", "status", "counted"),
        ("attempts=all", "attempts", "used_up"),
        ("no_department=no", "no_department", "yes"),
        ("department=Sales&no_department=yes", "no_department", "not both"),
    ],
)
def test_impossible_filters_answer_400_saying_which_and_what_to_write(hr, world, query, named, advice):
    page = hr.get(f"/console/learners?{query}")
    assert page.status_code == 400
    body = text_of(page)
    assert f"<code>{named}</code>" in body and advice in body
    assert "were ignored" not in body and "Ada Lovelace" not in body
    assert '<form method="get" class="filters"' in page.get_data(as_text=True)  # fix it in place
    as_json = hr.get(f"/console/learners?{query}", headers={"Accept": "application/json"})
    assert as_json.status_code == 400
    assert as_json.json["code"] == "bad_filter" and named in as_json.json["errors"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("%", ["E005"]),  # a literal percent sign, not "anything"
        ("_", []),
        ("100%", ["E005"]),
        ("'", ["E005"]),
        ("<script>", ["E005"]),
        ("' OR '1'='1", []),
        ("'; DROP TABLE users; --", []),
        ("\\", []),
    ],
)
def test_search_takes_text_literally(hr, world, search, expected):
    page = hr.get("/console/learners", query_string={"q": search})
    assert page.status_code == 200
    assert employee_ids(page) == expected
    html = page.get_data(as_text=True)
    assert "<script>alert(1)" not in html  # the name is shown escaped
    if expected:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Ada Lovelace" in text_of(hr.get("/console/learners?q=ada"))  # the table is intact


def _add_people(tenant_id: int, count: int, start: int) -> None:
    tenant = db.session.get(Tenant, tenant_id)
    for n in range(start, start + count):
        person = employee(tenant, f"N{n:03d}", f"Person {n:03d}", f"n{n}@acme.example", "Ops")
        enrolment = assign(person, ORIENTATION, due=NOW + timedelta(days=n))
        if n % 2:
            result(
                enrolment,
                passed=True,
                score=80,
                completed=NOW - timedelta(days=1),
                expires=NOW + timedelta(days=300),
            )
    db.session.commit()


def test_statements_per_page_do_not_grow_with_its_rows(app, client, published, executed_sql):
    """No N+1: a page of 5 rows and a page of 50 run the same statements (and a page past the
    last one only adds the count)."""
    with app.app_context():
        tenant = factories.tenant("acme")
        factories.staff(tenant, "hr@acme.example")
        db.session.commit()
        _add_people(tenant.id, 5, 0)
        tenant_id = tenant.id
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302

    def statements(url: str) -> list[str]:
        executed_sql.clear()
        page = client.get(url)
        assert page.status_code == 200
        return [executed.sql for executed in of_request(executed_sql, "GET /console/learners")]

    views = (
        "/console/learners",
        "/console/learners?sort=-score",
        "/console/learners?status=completed",
        "/console/learners?status=counted&attempts=used_up&no_department=yes",
        f"/console/learners?expires_from={day(0)}&expires_to={day(400)}",
    )
    few = {url: statements(url) for url in views}
    assert len(employee_ids(client.get("/console/learners"))) == 5
    with app.app_context():
        _add_people(tenant_id, 55, 5)
    many = {url: statements(url) for url in views}
    assert len(employee_ids(client.get("/console/learners"))) == 50
    assert "Page 1 of 2" in text_of(client.get("/console/learners"))
    for url in views:
        assert len(many[url]) == len(few[url]), (url, many[url])
    assert len(few["/console/learners"]) <= 12
    second = client.get("/console/learners?page=2")
    assert len(employee_ids(second)) == 10 and 'rel="prev"' in second.get_data(as_text=True)
    assert 'rel="next"' not in second.get_data(as_text=True)
