"""xAPI statements to a real learning record store (Ralph), read back from its statements API:
what a learner did becomes cmi5-verb statements; the same statement sent twice stays one; a
statement the LRS refuses is recorded with its reason; an LRS that is down loses nothing."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from assignments import services as assignments
from courses import publishing
from courses import services as learning
from feeds.models import XapiStatement
from feeds.xapi_events import KIND
from tests.feeds.conftest import attest, connect_lrs, employee, make_due, messages, pass_quiz, run_worker
from tests.feeds.lrs import RalphServer
from tests.feeds.token_server import AUDIENCE, CLIENT_ID, CLIENT_SECRET, TokenServer
from tests.journeys import COURSE
from training_app import outbox
from training_app.extensions import db

PUBLIC = "http://localhost"  # the tests' TRAINING_PUBLIC_URL
ORIENTATION = f"{PUBLIC}/xapi/activities/courses/social-media-orientation"
ADL = "http://adlnet.gov/expapi/verbs/"


def stored(app) -> list[XapiStatement]:
    with app.app_context():
        return list(db.session.scalars(select(XapiStatement).order_by(XapiStatement.id)))


def test_a_learners_journey_arrives_as_cmi5_statements_read_back_from_the_lrs(app, acme, lrs):
    connect_lrs(app, acme, lrs)
    ada = employee(app, acme)
    attest(app, ada)
    pass_quiz(app, ada)
    assert run_worker(app) >= 1
    rows = stored(app)
    assert [row.verb for row in rows] == ["initialized", "attested", "passed", "completed", "satisfied"]
    assert {row.status for row in rows} == {"delivered"}
    found = {statement["id"]: statement for statement in lrs.statements()}
    assert set(found) == {row.statement_id for row in rows}
    by_verb = {found[row.statement_id]["verb"]["id"]: found[row.statement_id] for row in rows}
    passed = by_verb[ADL + "passed"]
    assert passed["actor"]["mbox"] == "mailto:ada@acme.example" and passed["actor"]["name"] == "Ada Lovelace"
    assert passed["object"]["id"] == f"{ORIENTATION}/versions/1"
    assert passed["result"]["success"] is True and passed["result"]["score"]["scaled"] == 0.9
    assert passed["result"]["duration"].startswith("PT")
    assert by_verb[ADL + "completed"]["result"]["completion"] is True
    assert by_verb["https://w3id.org/xapi/adl/verbs/satisfied"]["object"]["id"] == f"{ORIENTATION}/versions/1"
    attested = by_verb[f"{PUBLIC}/xapi/verbs/attested"]
    assert attested["object"]["id"] == f"{ORIENTATION}/versions/1/attestation"
    assert by_verb[ADL + "initialized"]["object"]["id"] == f"{ORIENTATION}/versions/1"
    registrations = {statement["context"]["registration"] for statement in found.values()}
    assert len(registrations) == 1  # one registration for the cycle
    assert {statement["context"]["platform"] for statement in found.values()} == {"Postwise"}  # no LMS yet
    assert passed["context"]["contextActivities"]["parent"][0]["id"] == ORIENTATION
    # the LRS's query by verb finds them too (Ralph's file-system backend, patched: tests/feeds/ralph)
    assert [s["id"] for s in lrs.statements(verb=ADL + "passed")] == [passed["id"]]


def test_a_failed_quiz_and_a_waiver_are_statements_too(app, acme, lrs):
    connect_lrs(app, acme, lrs, actor="account", xapi_version="2.0.0")
    ada, grace = employee(app, acme), employee(app, acme, "Grace Hopper", "E002")
    failing = attest(app, ada)
    enrolment = attest(app, grace)
    with app.app_context():  # out of quiz attempts: the cycle's result is failed
        _, version = publishing.course_by_slug(COURSE)
        learning.record_result(
            learning.cycle_of(failing), passed=False, score=20, source_ref="test", actor="test",
            version=version, attestation_id=None,
        )  # fmt: skip
        assignments.waive(acme.id, enrolment, reason="already trained elsewhere", actor="staff:1")
        db.session.commit()
    run_worker(app)
    verbs = {(s["actor"]["account"]["name"], s["verb"]["id"].rsplit("/", 1)[1]) for s in lrs.statements()}
    assert ("E001", "failed") in verbs and ("E002", "waived") in verbs
    failed = next(s for s in lrs.statements() if s["verb"]["id"].endswith("/failed"))
    assert failed["result"]["success"] is False and failed["result"]["score"]["raw"] == 20
    waived = next(s for s in lrs.statements() if s["verb"]["id"].endswith("/waived"))
    assert waived["result"] == {
        "success": True,
        "completion": True,
        "extensions": {"https://w3id.org/xapi/cmi5/result/extensions/reason": "Administrative"},
    }
    assert failed["actor"]["account"]["homePage"] == PUBLIC


def test_the_same_statement_sent_twice_stays_one(app, acme, lrs):
    connect_lrs(app, acme, lrs)
    attest(app, employee(app, acme))
    run_worker(app)
    row = next(row for row in stored(app) if row.verb == "attested")
    with app.app_context():  # as if the worker died after the LRS stored it: the batch goes again
        again = db.session.get(XapiStatement, row.id)
        again.status, again.batch_key = "pending", uuid.uuid4().hex
        outbox.enqueue(KIND, {"batch": again.batch_key}, idempotency_key=f"{KIND}:{again.batch_key}")
        db.session.commit()
    run_worker(app)
    ids = [s["id"] for s in lrs.statements()]
    assert ids.count(row.statement_id) == 1 and len(ids) == len(stored(app)) == 2
    assert {row.status for row in stored(app)} == {"delivered"}
    # a different body under the same id (an earlier version of this tool sent it): 409, delivered
    with app.app_context():
        changed = db.session.get(XapiStatement, row.id)
        body = json.loads(changed.body)
        body["actor"]["name"] = "Ada L."
        changed.body, changed.status, changed.batch_key = json.dumps(body), "pending", uuid.uuid4().hex
        outbox.enqueue(KIND, {"batch": changed.batch_key}, idempotency_key=f"{KIND}:{changed.batch_key}")
        db.session.commit()
    run_worker(app)
    assert {row.status for row in stored(app)} == {"delivered"}
    assert [s["actor"]["name"] for s in lrs.statements(statementId=row.statement_id)] == ["Ada Lovelace"]


def test_a_statement_the_lrs_refuses_is_recorded_with_its_reason_and_can_be_sent_again(app, acme, lrs, hr):
    connect_lrs(app, acme, lrs, statements_url=lrs.statements_url + "?tenant=acme")  # Ralph: 400
    ada = employee(app, acme)
    attest(app, ada)
    pass_quiz(app, ada)
    run_worker(app)
    rows = stored(app)
    assert {row.status for row in rows} == {"rejected"}
    assert all("answered 400" in row.last_error and "tenant" in row.last_error for row in rows)
    assert {m.status for m in messages(app, KIND)} == {"dead"}  # no retry: it would not help
    assert lrs.statements() == []
    page = hr.get("/console/feeds/lrs").get_data(as_text=True)
    assert "answered 400" in page and "Send the failed statements again" in page
    connect_lrs(app, acme, lrs)  # HR corrects the URL, then sends them again
    response = hr.submit("/console/feeds/lrs", {}, action="/console/feeds/lrs/resend")
    assert response.status_code == 303
    run_worker(app)
    assert {row.status for row in stored(app)} == {"delivered"}
    assert sorted(s["id"] for s in lrs.statements()) == sorted(row.statement_id for row in rows)


def test_an_lrs_that_is_down_then_up_loses_nothing_and_stores_each_statement_once(app, acme, tmp_path):
    later = RalphServer(tmp_path / "ralph-later")
    later.port = 0
    user = later.user()
    import socket

    with socket.socket() as probe:  # the port the LRS will listen on once it is up
        probe.bind(("127.0.0.1", 0))
        later.port = probe.getsockname()[1]
    connect_lrs(app, acme, user)
    for number, name in enumerate(("Ada Lovelace", "Grace Hopper", "Alan Turing"), start=1):
        attest(app, employee(app, acme, name, f"E00{number}"))
    for _ in range(2):
        run_worker(app)
        make_due(app)
    waiting = stored(app)
    assert {row.status for row in waiting} == {"retrying"}
    assert all("could not connect" in row.last_error for row in waiting)
    start_on(later, later.port)
    try:
        run_worker(app)
        assert {row.status for row in stored(app)} == {"delivered"}
        ids = [s["id"] for s in user.statements()]
        assert sorted(ids) == sorted(row.statement_id for row in waiting) and len(set(ids)) == 6
    finally:
        later.stop()


def start_on(server: RalphServer, port: int) -> None:
    """Start the server on the port its LRS URL already names."""
    import tests.feeds.lrs as lrs_module

    chosen = lrs_module._free_port
    lrs_module._free_port = lambda: port
    try:
        server.start()
    finally:
        lrs_module._free_port = chosen


def test_oauth2_client_credentials_with_a_token_that_ralph_verifies(app, acme, tmp_path):
    """Ralph's OpenID Connect backend checks each bearer token's signature and audience against
    the authorization server's keys; the token is fetched once for several batches."""
    tokens = TokenServer(target="oauth-client").start()
    server = RalphServer(
        tmp_path / "ralph-oauth",
        env={
            "RALPH_RUNSERVER_AUTH_BACKENDS": "basic,oidc",
            "RALPH_RUNSERVER_AUTH_OIDC_ISSUER_URI": tokens.issuer,
            "RALPH_RUNSERVER_AUTH_OIDC_AUDIENCE": AUDIENCE,
        },
    )
    (tmp_path / "ralph-oauth" / "data" / "oauth-client").mkdir(parents=True)
    server.start()
    try:
        user = server.user()
        connect_lrs(
            app, acme, user, auth="oauth2", username=CLIENT_ID, secret=CLIENT_SECRET,
            token_url=f"{tokens.issuer}/token", scope="statements/write statements/read",
        )  # fmt: skip
        attest(app, employee(app, acme))
        run_worker(app)
        attest(app, employee(app, acme, "Grace Hopper", "E002"))
        run_worker(app)
        assert {row.status for row in stored(app)} == {"delivered"} and len(stored(app)) == 4
        assert tokens.tokens_issued == 1
        found = user.statements(bearer=tokens.token())
        assert sorted(s["id"] for s in found) == sorted(row.statement_id for row in stored(app))
        assert {s["authority"]["openid"] for s in found} == {f"{tokens.issuer}/{CLIENT_ID}"}
        connect_lrs(
            app, acme, user, auth="oauth2", username=CLIENT_ID, secret="not-the-secret",
            token_url=f"{tokens.issuer}/token",
        )  # fmt: skip
        attest(app, employee(app, acme, "Alan Turing", "E003"))
        run_worker(app)
        refused = [row for row in stored(app) if row.status != "delivered"]
        assert refused and all(
            "no token: the token endpoint answered 401" in row.last_error for row in refused
        )
        assert {row.status for row in refused} == {"failed"}
    finally:
        server.stop()
        tokens.stop()


def test_a_slow_lrs_times_out_and_the_batch_is_retried(app, acme, receiver, lrs):
    """A store that does not answer within TRAINING_OUTBOX_HTTP_TIMEOUT fails the attempt (the
    tests' receiver stands in for a slow LRS); the next attempt reaches the real one."""
    app.config["OUTBOX_HTTP_TIMEOUT"] = 0.2
    receiver.delay = 1.0
    connect_lrs(app, acme, lrs, statements_url=f"{receiver.url}/xAPI/statements")
    attest(app, employee(app, acme))
    run_worker(app)
    assert {(row.status, row.last_error) for row in stored(app)} == {("retrying", "no answer within 0.2 s")}
    assert receiver.requests[0].headers["X-Experience-API-Version"] == "1.0.3"
    connect_lrs(app, acme, lrs)
    make_due(app)
    run_worker(app)
    assert {row.status for row in stored(app)} == {"delivered"} and len(lrs.statements()) == 2
