"""Every launch the specification says to refuse is refused with a 4xx page, never a 500."""

import html
import logging

import pytest
from pylti1p3.exception import LtiException
from sqlalchemy import func, inspect, select
from sqlalchemy import table as sa_table

from lti.launch import message_reason
from tests.launch.conftest import ORIENTATION, learner_claims
from tests.lti_platform import Platform
from tests.lti_platform.claims import User as LtiUser
from tests.lti_platform.tokens import TokenOptions
from training_app.extensions import db

CASES = [case.name for case in Platform(flavour="moodle").bad_token_cases()]
EXPECTED_WORDS = {
    "expired": "has expired",
    "iat_in_future": "clock",
    "wrong_nonce": "does not belong to this browser session",
    "unsupported_message_type": "kind of launch",
    "unknown_deployment_id": "deployment",
    "wrong_aud": "meant for another tool",
    "wrong_iss": "not registered",
}
LAUNCH_WRITES = ("users", "enrolments", "lti_resource_links", "lti_grade_targets")
NOTHING_LAUNCHED = dict.fromkeys(LAUNCH_WRITES, 0)


def rows_by_table(app) -> dict[str, int]:
    """Rows in each table of the database (as migrated: the models may be ahead of it)."""
    with app.app_context():
        return {
            table: db.session.scalar(select(func.count()).select_from(sa_table(table)))
            for table in inspect(db.engine).get_table_names()
        }


def rows_but_logins(app) -> dict[str, int]:
    """Rows in each table but `lti_launch_state`, where the pending logins are."""
    return {table: rows for table, rows in rows_by_table(app).items() if table != "lti_launch_state"}


def launch_rows(app) -> dict[str, int]:
    """The rows a learner's launch writes: the learner, the enrolment, the LMS link, its grade target."""
    counts = rows_by_table(app)
    return {table: counts[table] for table in LAUNCH_WRITES}


def pending_logins(app) -> int:
    return rows_by_table(app)["lti_launch_state"]


def assert_nobody_signed_in(client) -> None:
    assert client.get(f"/courses/{ORIENTATION}/").status_code == 401


@pytest.mark.parametrize("case", CASES)
def test_each_bad_token_is_refused_with_a_clear_page(app, client, driver, registered, case, caplog):
    caplog.set_level(logging.WARNING, logger="lti.launch")
    before = rows_but_logins(app)
    result = driver.launch(learner_claims(registered), bad=case)
    response = result.response
    assert 400 <= response.status < 500, f"{case}: {response.status} {response.text[:300]}"
    assert "We could not open your training" in response.text
    assert "Traceback" not in response.text
    request_id = response.headers["X-Request-ID"]
    assert request_id in response.text, "the page shows the correlation id"
    assert any(getattr(r, "request_id", None) == request_id for r in caplog.records), "and the log has it"
    if case in EXPECTED_WORDS:
        assert EXPECTED_WORDS[case] in response.text
    assert rows_but_logins(app) == before, f"{case}: a refused launch wrote rows"
    assert launch_rows(app) == NOTHING_LAUNCHED
    assert_nobody_signed_in(client)
    assert 400 <= driver.replay(result).status < 500  # refused again (whether or not its login is used up)


@pytest.mark.parametrize("case", ["expired", "wrong_nonce", "bad_signature", "unknown_deployment_id"])
def test_a_refused_launch_uses_up_its_login(app, driver, registered, case):
    """The launch takes its login before it checks the token (lti.views.launch): used once, even
    when refused, on both databases (the refusal keeps the take: keep_writes_of_this_refusal)."""
    result = driver.launch(learner_claims(registered), bad=case)
    assert result.response.status in (401, 403)
    assert pending_logins(app) == 0
    replay = driver.replay(result)
    assert replay.status == 401 and "This launch has already been used" in replay.text


def test_clock_skew_within_60_seconds_is_accepted(app, driver, registered):
    ahead = driver.launch(learner_claims(registered), token=TokenOptions(iat_offset=45))
    assert ahead.response.status == 200
    just_expired = driver.launch(
        learner_claims(registered), token=TokenOptions(iat_offset=-3700, exp_offset=-45)
    )
    assert just_expired.response.status == 200
    assert launch_rows(app) == dict.fromkeys(LAUNCH_WRITES, 1)  # one learner, launched twice
    assert pending_logins(app) == 0


def test_a_state_mismatch_is_refused(app, client, driver, registered):
    login = driver.login(learner_claims(registered))
    auth = driver.authorize(login)
    other = driver.authorize(driver.login(learner_claims(registered)))
    response = driver.post_launch(auth, {"state": other.state})
    assert response.status == 401 and "does not belong to this browser session" in response.text
    assert launch_rows(app) == NOTHING_LAUNCHED
    assert_nobody_signed_in(client)


def test_a_launch_with_a_state_nobody_issued_is_refused(app, client, driver, registered):
    auth = driver.authorize(driver.login(learner_claims(registered)))
    response = driver.post_launch(auth, {"state": "state-forged"})
    assert response.status == 401
    assert launch_rows(app) == NOTHING_LAUNCHED
    assert_nobody_signed_in(client)
    assert pending_logins(app) == 1  # the real login is not used up by a forged state


def test_an_error_answer_from_the_lms_is_a_clear_page(app, client, registered):
    before = rows_by_table(app)
    response = client.post("/lti/launch", data={"error": "login_required", "error_description": "No session"})
    assert response.status_code == 400
    assert "could not complete the sign-in" in response.get_data(as_text=True)
    assert rows_by_table(app) == before
    assert_nobody_signed_in(client)


def test_a_login_from_an_unregistered_lms_is_refused(app, client, registered):
    before = rows_by_table(app)
    response = client.post(
        "/lti/login",
        data={
            "iss": "https://unknown.example",
            "login_hint": "x",
            "target_link_uri": "http://localhost/lti/launch",
        },
    )
    assert response.status_code == 403 and "not registered" in response.get_data(as_text=True)
    assert rows_by_table(app) == before  # no login stored, no platform adopted


def test_a_login_without_a_login_hint_is_refused(app, client, registered):
    before = rows_by_table(app)
    response = client.post("/lti/login", data={"iss": registered.issuer, "client_id": registered.client_id})
    assert response.status_code == 400
    assert rows_by_table(app) == before  # no login stored


def test_an_unknown_kid_refetches_the_key_set_once(app, driver, registered):
    fetches_before = registered.jwks_fetches
    result = driver.launch(learner_claims(registered), bad="unknown_kid")
    assert result.response.status == 401
    assert launch_rows(app) == NOTHING_LAUNCHED
    new_key = registered.rotate_key()  # the LMS starts signing with a key published since our last fetch
    assert new_key
    ok = driver.launch(learner_claims(registered))
    assert ok.response.status == 200
    assert launch_rows(app) == dict.fromkeys(LAUNCH_WRITES, 1)
    assert registered.jwks_fetches - fetches_before <= 3


EVE = "eve@acme.example"


@pytest.mark.parametrize(
    ("user", "what"),
    [
        (LtiUser.named("u-eve", "Eve", "\u202etsilaiceps", email=EVE), "The name your LMS sent"),
        (LtiUser.named("u-eve", "Eve", "Bell\x07", email=EVE), "The name your LMS sent"),
        (LtiUser.named("u-nul\x00", "Eve", "Null", email=EVE), "login_hint"),  # refused at the login
    ],
)
def test_control_or_direction_characters_in_the_lms_claims_refuse_the_launch(
    app, driver, registered, user, what
):
    result = driver.launch(learner_claims(registered, user=user))
    assert result.response.status == 400
    assert f"{what} contains a control or text-direction character" in html.unescape(result.response.text)
    assert launch_rows(app) == NOTHING_LAUNCHED


def test_a_custom_parameter_with_a_nul_refuses_the_launch(app, driver, registered):
    claims = learner_claims(registered, custom={"department": "Sales\x00"})
    result = driver.launch(claims)
    assert result.response.status == 400
    assert "custom parameter department contains" in html.unescape(result.response.text)
    assert launch_rows(app) == NOTHING_LAUNCHED


def test_a_launch_without_a_deployment_id_says_so(app, driver, registered):
    launch_claims = learner_claims(registered)
    launch_claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] = (
        ""  # the emulator adds one when absent
    )
    result = driver.launch(launch_claims)
    assert result.response.status == 400
    assert "does not say which installation (deployment)" in html.unescape(result.response.text)
    assert launch_rows(app) == NOTHING_LAUNCHED


@pytest.mark.parametrize(
    ("library_text", "reason"),
    [
        ("Incorrect version, expected 1.3.0", "bad_version"),
        ("Unrecognized message type", "unsupported_message"),
        ("Invalid message type", "unsupported_message"),
        ("Must have a user (sub)", "missing_claim"),
        ("Missing Roles Claim", "missing_claim"),
        ("Missing Resource Link Id", "missing_claim"),
    ],
)
def test_the_message_validators_texts_map_to_reasons(library_text, reason):
    """The one place where only the library's text tells its refusals apart (pylti1p3next 2.0.2)."""
    assert message_reason(LtiException(library_text)) == reason
