"""Tests of the LTI platform emulator itself (tests/lti_platform), without the Postwise tool.

Everything talks over real HTTP on 127.0.0.1. A few tests drive a tiny pylti1p3 Flask app to prove
the emulator's tokens and services are exactly what the library expects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.registration import Registration

from tests.lti_platform import (
    NO_KID,
    LaunchDriver,
    LiveServer,
    Member,
    Platform,
    RsaKey,
    User,
    jwks_of,
    problems,
    unverified_parts,
)
from tests.lti_platform.constants import (
    CLAIM_AGS,
    CLAIM_DEPLOYMENT_ID,
    CLAIM_DL_SETTINGS,
    CLAIM_MESSAGE_TYPE,
    CLAIM_NRPS,
    CLAIM_RESOURCE_LINK,
    CLAIM_TARGET_LINK_URI,
    CLAIM_VERSION,
    MEDIA_LINEITEM,
    MEDIA_LINEITEM_CONTAINER,
    MEDIA_MEMBERSHIP_CONTAINER,
    MEDIA_SCORE,
    PLATFORM_CONFIGURATION,
    ROLE_INSTRUCTOR,
    SCOPE_LINEITEM,
    SCOPE_NRPS,
    SCOPE_SCORE,
    TOOL_CONFIGURATION,
    roles_for,
)
from tests.lti_platform.driver import urlsplit_params
from tests.lti_platform.fake_tool import FakeTool
from tests.lti_platform.html_forms import parse_form
from tests.lti_platform.pylti_probe import make_probe_app, probe_connector
from tests.lti_platform.security import bad_token_cases

TOOL = "http://tool.example"
ADA = User.named("u-ada", "Ada", "Lovelace")


@pytest.fixture
def platform() -> Iterator[Platform]:
    with Platform() as started:
        started.use_tool(TOOL)
        yield started


@pytest.fixture
def canvas() -> Iterator[Platform]:
    with Platform(flavour="canvas") as started:
        started.use_tool(TOOL)
        yield started


@pytest.fixture
def fake_tool(platform: Platform) -> Iterator[FakeTool]:
    tool = FakeTool(platform.client_id, RsaKey.generate_thumbprint_kid()).start()
    platform.tool.jwks_url = tool.jwks_url
    yield tool
    tool.stop()


def now_iso(offset: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).isoformat(timespec="milliseconds")


def launch_claims(platform: Platform, **kwargs) -> dict:
    return platform.resource_link_claims(ADA, roles_for(platform.flavour, "learner"), **kwargs)


def token_for(platform: Platform, tool: FakeTool, scope: str) -> str:
    response = request_token(platform, tool.client_assertion(platform.token_url), scope)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def request_token(platform: Platform, assertion: str, scope: str = SCOPE_SCORE) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": scope,
    }
    return requests.post(platform.token_url, data=form, timeout=10)


def library_registration(platform: Platform, tool: FakeTool) -> Registration:
    """pylti1p3's view of the platform; the kid it sends is the jwcrypto thumbprint of the key."""
    registration = Registration().set_issuer(platform.issuer).set_client_id(platform.client_id)
    registration.set_auth_token_url(platform.token_url).set_tool_private_key(tool.key.private_pem)
    return registration.set_tool_public_key(tool.key.public_pem)


def post_score(url: str, token: str, body: dict, content_type: str = MEDIA_SCORE) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    return requests.post(
        url.replace("?", "/scores?", 1) if "?" in url else url + "/scores",
        json=body,
        headers=headers,
        timeout=10,
    )


def score(user: str = "u-ada", given: float = 7, offset: float = 0) -> dict:
    return {
        "userId": user,
        "scoreGiven": given,
        "scoreMaximum": 10,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": now_iso(offset),
    }


# --- keys and id_tokens ---


def test_jwks_is_served_with_kid_and_cache_header(platform):
    response = requests.get(platform.jwks_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "max-age=300"
    [key] = response.json()["keys"]
    assert key["kid"] == platform.signing_key.kid
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert platform.jwks_fetches == 1


def test_id_token_verifies_with_pyjwt_against_the_jwks_fetched_over_http(platform):
    claims = launch_claims(platform, ags=True, nrps=True)
    token = platform.id_token(claims, "nonce-1")
    signing_key = jwt.PyJWKClient(platform.jwks_url).get_signing_key_from_jwt(token)
    body = jwt.decode(
        token, signing_key.key, algorithms=["RS256"], audience=platform.client_id, issuer=platform.issuer
    )
    assert body["nonce"] == "nonce-1" and body["sub"] == "u-ada"
    assert body[CLAIM_MESSAGE_TYPE] == "LtiResourceLinkRequest" and body[CLAIM_VERSION] == "1.3.0"
    assert body[CLAIM_DEPLOYMENT_ID] == platform.deployment_id == "1"
    assert body[CLAIM_TARGET_LINK_URI] == f"{TOOL}/lti/launch"
    assert body[CLAIM_AGS]["lineitem"].endswith("?type_id=1")  # Moodle's service URLs carry a query
    assert body[CLAIM_NRPS]["service_versions"] == ["2.0"]
    assert body["exp"] - body["iat"] == 3600


def test_a_good_token_has_no_problems(platform):
    token = platform.id_token(launch_claims(platform), "n")
    assert problems(token, **checker(platform, "n")) == []


def checker(platform: Platform, nonce: str) -> dict:
    jwks = requests.get(platform.jwks_url, timeout=10).json()
    return {
        "jwks": jwks,
        "issuer": platform.issuer,
        "client_id": platform.client_id,
        "nonce": nonce,
        "deployment_ids": [platform.deployment_id],
    }


@pytest.mark.parametrize("case", bad_token_cases("c", "k"), ids=lambda case: case.name)
def test_each_bad_token_breaks_exactly_its_own_rule(platform, case):
    token = platform.bad_token(case.name, launch_claims(platform), "n")
    assert problems(token, **checker(platform, "n")) == [case.problem]


def test_deep_linking_claims_carry_settings_that_return_to_the_platform(platform):
    claims = platform.deep_linking_claims(ADA, [ROLE_INSTRUCTOR], data="opaque-1")
    settings = claims[CLAIM_DL_SETTINGS]
    assert settings["deep_link_return_url"] == platform.deep_link_return_url
    assert settings["accept_types"] == ["ltiResourceLink"]
    assert settings["accept_presentation_document_targets"] == ["iframe", "window"]
    assert settings["data"] == "opaque-1"
    assert CLAIM_RESOURCE_LINK not in claims
    assert problems(platform.id_token(claims, "n"), **checker(platform, "n")) == []


def test_key_rotation_publishes_both_keys_and_signs_with_the_new_one(platform):
    old = platform.signing_key
    new = platform.rotate_key()
    kids = {key["kid"] for key in requests.get(platform.jwks_url, timeout=10).json()["keys"]}
    assert kids == {old.kid, new.kid}
    header, _ = unverified_parts(platform.id_token(launch_claims(platform), "n"))
    assert header["kid"] == new.kid


def test_a_served_key_set_without_the_signing_kid_makes_it_unknown(platform):
    token = platform.id_token(launch_claims(platform), "n")
    platform.serve_jwks(jwks_of(platform.signing_key, include_kid=False))
    assert problems(token, **checker(platform, "n")) == ["unknown_kid"]
    assert problems(
        platform.id_token(launch_claims(platform), "n", kid=NO_KID), **checker(platform, "n")
    ) == ["no_kid"]


# --- the OIDC authorization endpoint ---


def auth_params(platform: Platform, login_params: dict, **changes: str | None) -> dict:
    params = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": f"{TOOL}/lti/launch",
        "login_hint": login_params["login_hint"],
        "lti_message_hint": login_params["lti_message_hint"],
        "state": "state-1",
        "nonce": "nonce-1",
    }
    params.update(changes)
    return {key: value for key, value in params.items() if value is not None}


def test_login_initiation_carries_the_third_party_login_parameters(platform, canvas):
    params = platform.initiate_login(launch_claims(platform)).params
    assert set(params) == {
        "iss",
        "login_hint",
        "target_link_uri",
        "lti_message_hint",
        "client_id",
        "lti_deployment_id",
    }
    assert params["iss"] == platform.issuer and params["target_link_uri"] == f"{TOOL}/lti/launch"
    canvas_params = canvas.initiate_login(launch_claims(canvas)).params
    assert canvas_params["lti_storage_target"] == "post_message_forwarding"
    assert canvas_params["client_id"] == "10000000000001" and ":" in canvas_params["lti_deployment_id"]


def test_auth_answers_an_auto_post_form_with_id_token_and_state(platform):
    login = platform.initiate_login(launch_claims(platform))
    response = requests.get(platform.auth_url, params=auth_params(platform, login.params), timeout=10)
    form = parse_form(response.text)
    assert response.status_code == 200 and "document.ltiAuthForm.submit()" in response.text
    assert form.action == f"{TOOL}/lti/launch" and form.method == "POST"
    assert set(form.fields) == {"id_token", "state"} and form.fields["state"] == "state-1"
    assert unverified_parts(form.fields["id_token"])[1]["nonce"] == "nonce-1"
    assert platform.oidc.last.form == form  # the parsed result, for posting without a browser


def test_auth_accepts_post_and_each_launch_only_once(platform):
    login = platform.initiate_login(launch_claims(platform))
    params = auth_params(platform, login.params)
    assert "id_token" in parse_form(requests.post(platform.auth_url, data=params, timeout=10).text).fields
    again = parse_form(requests.post(platform.auth_url, data=params, timeout=10).text)
    assert again.fields["error"] == "invalid_request" and again.fields["state"] == "state-1"


@pytest.mark.parametrize(
    ("redirect_uri", "client_id"),
    [("http://evil.example/lti/launch", None), (f"{TOOL}/lti/launch?x=1", None), (None, "other-client")],
)
def test_auth_refuses_an_unregistered_redirect_uri_or_client_without_redirecting(
    platform, redirect_uri, client_id
):
    login = platform.initiate_login(launch_claims(platform))
    changes = {"redirect_uri": redirect_uri} if redirect_uri else {"client_id": client_id}
    response = requests.get(
        platform.auth_url, params=auth_params(platform, login.params, **changes), timeout=10
    )
    assert response.status_code == 400 and parse_form(response.text) is None


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"scope": "profile"}, "invalid_scope"),
        ({"response_type": "code"}, "unsupported_response_type"),
        ({"response_mode": "query"}, "invalid_request"),
        ({"prompt": "login"}, "invalid_request"),
        ({"nonce": None}, "invalid_request"),
        ({"state": None}, "invalid_request"),
        ({"login_hint": "someone-else"}, "access_denied"),
        ({"lti_message_hint": "forged"}, "invalid_request"),
    ],
)
def test_auth_posts_oidc_errors_back_to_the_tool(platform, change, error):
    login = platform.initiate_login(launch_claims(platform))
    response = requests.get(
        platform.auth_url, params=auth_params(platform, login.params, **change), timeout=10
    )
    form = parse_form(response.text)
    assert form.fields["error"] == error and "id_token" not in form.fields


# --- the token endpoint ---


def test_token_endpoint_accepts_a_client_assertion_checked_against_the_tool_jwks(platform, fake_tool):
    response = request_token(
        platform, fake_tool.client_assertion(platform.token_url), f"{SCOPE_SCORE} {SCOPE_NRPS}"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) == {SCOPE_SCORE, SCOPE_NRPS}
    assert fake_tool.jwks_requests == 1 and platform.token_requests == 1


@pytest.mark.parametrize(
    ("assertion", "status", "error"),
    [
        (
            lambda p, t: t.client_assertion(p.token_url, key=RsaKey.generate(kid=t.key.kid)),
            401,
            "invalid_client",
        ),
        (lambda p, t: t.client_assertion(p.token_url, key=RsaKey.generate()), 401, "invalid_client"),
        (lambda p, t: t.client_assertion("https://elsewhere/token"), 401, "invalid_client"),
        (lambda p, t: t.client_assertion(p.token_url, sub="someone-else"), 401, "invalid_client"),
        (
            lambda p, t: t.client_assertion(p.token_url, iss="unknown-client", sub="unknown-client"),
            401,
            "invalid_client",
        ),
        (lambda p, t: t.client_assertion(p.token_url, exp=int(time.time()) - 120), 401, "invalid_client"),
        (lambda p, t: t.client_assertion(p.token_url, jti=None), 401, "invalid_client"),
    ],
    ids=[
        "wrong-key-same-kid",
        "unknown-kid",
        "wrong-aud",
        "wrong-sub",
        "unknown-client",
        "expired",
        "no-jti",
    ],
)
def test_token_endpoint_rejects_a_bad_client_assertion(platform, fake_tool, assertion, status, error):
    response = request_token(platform, assertion(platform, fake_tool))
    assert (response.status_code, response.json()["error"]) == (status, error)


def test_token_endpoint_rejects_a_reused_jti_and_unknown_scopes(platform, fake_tool):
    assertion = fake_tool.client_assertion(platform.token_url)
    assert request_token(platform, assertion).status_code == 200
    assert request_token(platform, assertion).json()["error"] == "invalid_grant"
    platform.allowed_scopes = {SCOPE_NRPS}
    response = request_token(platform, fake_tool.client_assertion(platform.token_url), SCOPE_SCORE)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")


def test_pylti1p3_service_connector_gets_a_token_and_short_lived_ones_expire(platform, fake_tool):
    connector = probe_connector()(library_registration(platform, fake_tool))
    assert connector.get_access_token([SCOPE_SCORE]) == connector.get_access_token([SCOPE_SCORE])
    assert platform.token_requests == 1  # cached by the library for expires_in seconds
    platform.tokens.lifetime = 0
    token = request_token(platform, fake_tool.client_assertion(platform.token_url)).json()["access_token"]
    item = platform.ags.create("course-101", "Quiz")
    response = post_score(platform.ags.lineitem_url(item), token, score())
    assert response.status_code == 401 and "expired" in response.headers["WWW-Authenticate"]


# --- Assignment and Grade Services ---


def test_scores_are_checked_and_recorded(platform, fake_tool):
    token = token_for(platform, fake_tool, SCOPE_SCORE)
    item = platform.ags.create("course-101", "Orientation", 10)
    url = platform.ags.lineitem_url(item)
    assert post_score(url, token, score()).status_code == 200
    assert post_score(url, token, score(), content_type="application/json").status_code == 400
    assert post_score(url, "not-a-token", score()).status_code == 401
    assert post_score(url, token, {"userId": "u-ada"}).status_code == 400
    assert post_score(url.split("?")[0], token, score(offset=1)).status_code == 403  # Moodle needs type_id
    accepted = platform.ags.accepted_scores(item)
    assert [s.body["scoreGiven"] for s in accepted] == [7]
    assert len(platform.ags.scores) == 5 and accepted[0].content_type == MEDIA_SCORE


def test_a_score_not_newer_than_the_last_is_refused_as_each_lms_does(platform, canvas, fake_tool):
    token = token_for(platform, fake_tool, SCOPE_SCORE)
    url = platform.ags.lineitem_url(platform.ags.create("course-101", "Quiz"))
    body = score()
    assert post_score(url, token, body).status_code == 200
    assert post_score(url, token, body).status_code == 409  # Moodle: same timestamp is refused
    canvas.tool.jwks = fake_tool.jwks
    canvas.client_id = fake_tool.client_id
    canvas_token = token_for(canvas, fake_tool, SCOPE_SCORE)
    canvas_url = canvas.ags.lineitem_url(canvas.ags.create("course-101", "Quiz"))
    assert post_score(canvas_url, canvas_token, body).json()["resultUrl"].endswith("/results/u-ada")
    assert post_score(canvas_url, canvas_token, body).status_code == 200  # Canvas: only older is refused
    assert post_score(canvas_url, canvas_token, score(offset=-60)).status_code == 400
    canvas.nrps.add("course-101", Member("u-ada"))
    assert post_score(canvas_url, canvas_token, score(user="stranger", offset=5)).status_code == 422


def test_scripted_failures_answer_in_order_then_the_real_endpoint(platform, fake_tool):
    token = token_for(platform, fake_tool, SCOPE_SCORE)
    url = platform.ags.lineitem_url(platform.ags.create("course-101", "Quiz"))
    platform.fail("scores", 500, times=2)
    platform.fail_token_expired("scores")
    platform.fail("scores", 400, body={"error": "bad score", "detail": "scoreGiven > max"})
    statuses = [post_score(url, token, score(offset=n)) for n in range(5)]
    assert [r.status_code for r in statuses] == [500, 500, 401, 400, 200]
    assert 'error="invalid_token"' in statuses[2].headers["WWW-Authenticate"]
    assert statuses[3].json()["detail"] == "scoreGiven > max"
    assert [(s.status, s.accepted) for s in platform.ags.scores] == [(500, False)] * 2 + [
        (401, False),
        (400, False),
        (200, True),
    ]


def test_line_items_can_be_listed_created_updated_and_paged(platform, fake_tool):
    token = token_for(platform, fake_tool, SCOPE_LINEITEM)
    lineitems_url = platform.ags.lineitems_url("course-101")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": MEDIA_LINEITEM}
    created = requests.post(
        lineitems_url,
        json={"label": "Refresher", "scoreMaximum": 50, "tag": "refresher"},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201 and created.headers["Content-Type"] == MEDIA_LINEITEM
    item_url = created.json()["id"]
    updated = requests.put(
        item_url, json={"label": "Refresher 2026", "scoreMaximum": 60}, headers=headers, timeout=10
    )
    assert updated.json()["label"] == "Refresher 2026" and updated.json()["tag"] == "refresher"
    for n in range(3):
        platform.ags.create("course-101", f"Extra {n}")
    platform.ags.page_size = 2
    listed = requests.get(lineitems_url, headers=headers, timeout=10)
    assert listed.headers["Content-Type"] == MEDIA_LINEITEM_CONTAINER and len(listed.json()) == 2
    assert 'rel="next"' in listed.headers["Link"] and "type_id=1" in listed.headers["Link"]
    tagged = requests.get(lineitems_url + "&tag=refresher", headers=headers, timeout=10)
    assert [i["label"] for i in tagged.json()] == ["Refresher 2026"]


def test_a_service_call_without_the_scope_is_forbidden(platform, fake_tool):
    token = token_for(platform, fake_tool, SCOPE_NRPS)
    url = platform.ags.lineitem_url(platform.ags.create("course-101", "Quiz"))
    response = post_score(url, token, score())
    assert response.status_code == 403 and "insufficient_scope" in response.headers["WWW-Authenticate"]


# --- Names and Role Provisioning Services ---


def test_nrps_pages_with_link_headers_to_the_end(platform, fake_tool):
    members = [Member(f"u{n}", name=f"User {n}") for n in range(23)]
    platform.nrps.add("course-101", *members, Member("teacher", roles=(ROLE_INSTRUCTOR,), status="Inactive"))
    token = token_for(platform, fake_tool, SCOPE_NRPS)
    url, seen, pages = platform.nrps.memberships_url("course-101"), [], 0
    headers = {"Authorization": f"Bearer {token}", "Accept": MEDIA_MEMBERSHIP_CONTAINER}
    while url:
        response = requests.get(url, headers=headers, timeout=10)
        assert response.headers["Content-Type"] == MEDIA_MEMBERSHIP_CONTAINER
        seen += [m["user_id"] for m in response.json()["members"]]
        url, pages = response.links.get("next", {}).get("url"), pages + 1
    assert pages == 3 and len(seen) == 24 and seen[-1] == "teacher"
    learners = requests.get(
        platform.nrps.memberships_url("course-101") + "?role=Learner", headers=headers, timeout=10
    )
    assert len(learners.json()["members"]) == 10 and learners.json()["context"]["id"] == "course-101"


def test_pylti1p3_follows_the_nrps_link_header(platform, fake_tool):
    platform.nrps.page_size = 4
    platform.nrps.add("course-101", *[Member(f"u{n}") for n in range(9)])
    registration = Registration().set_issuer(platform.issuer).set_client_id(platform.client_id)
    registration.set_auth_token_url(platform.token_url).set_tool_private_key(fake_tool.key.private_pem)
    registration.get_kid = lambda: fake_tool.key.kid
    service = NamesRolesProvisioningService(
        probe_connector()(registration), platform.nrps_claim("course-101")
    )
    assert [m["user_id"] for m in service.get_members()] == [f"u{n}" for n in range(9)]
    assert len(platform.requests_to("memberships")) == 3


# --- Dynamic Registration ---


def test_moodle_openid_configuration_shape(platform):
    configuration = requests.get(platform.openid_configuration_url, timeout=10).json()
    assert configuration["issuer"] == platform.issuer
    assert configuration["registration_endpoint"] == platform.registration_url
    assert configuration["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "openid" in configuration["scopes_supported"]
    lti = configuration[PLATFORM_CONFIGURATION]
    assert lti["product_family_code"] == "moodle"
    assert lti["messages_supported"][1] == {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]}


def test_canvas_openid_configuration_needs_the_registration_token(canvas):
    assert requests.get(canvas.openid_configuration_url, timeout=10).status_code == 401
    params = urlsplit_params(canvas.registration.start_url())
    token = params["registration_token"]
    response = requests.get(
        canvas.openid_configuration_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    lti = response.json()[PLATFORM_CONFIGURATION]
    assert lti["product_family_code"] == "canvas" and "https://canvas.instructure.com/lti/account_name" in lti
    assert response.json()["authorization_server"] == canvas.host
    by_query = requests.get(params["openid_configuration"], timeout=10)
    assert by_query.status_code == 200  # Canvas also puts the token in the configuration URL


def registration_body(tool: str = TOOL, **changes) -> dict:
    body = {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": f"{tool}/lti/login",
        "redirect_uris": [f"{tool}/lti/launch"],
        "client_name": "Postwise",
        "jwks_uri": f"{tool}/lti/jwks",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": f"{SCOPE_SCORE} {SCOPE_LINEITEM} {SCOPE_NRPS}",
        TOOL_CONFIGURATION: {
            "domain": tool.split("//")[1],
            "target_link_uri": f"{tool}/lti/launch",
            "claims": ["iss", "sub", "name", "email"],
            "messages": [{"type": "LtiDeepLinkingRequest", "target_link_uri": f"{tool}/lti/launch"}],
        },
    }
    body.update(changes)
    return body


def register(platform: Platform, body: dict, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(platform.registration_url, json=body, headers=headers, timeout=10)


def test_moodle_registration_returns_client_and_deployment_and_is_adopted(platform):
    token = platform.registration.new_token()
    response = register(platform, registration_body(), token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["client_id"] == jwt.decode(token, options={"verify_signature": False})["sub"]
    assert body[TOOL_CONFIGURATION]["deployment_id"].isdigit()
    assert body["scope"].split() == [
        SCOPE_SCORE,
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
        SCOPE_LINEITEM,
        SCOPE_NRPS,
    ]
    assert (
        platform.client_id == body["client_id"]
        and platform.deployment_id == body[TOOL_CONFIGURATION]["deployment_id"]
    )
    assert register(platform, registration_body(), token).text == "token_already_used"


@pytest.mark.parametrize(
    ("body", "token", "status", "message"),
    [
        (registration_body(), None, 401, "missing_registration_token"),
        (registration_body(), "forged.token.value", 401, "invalid registration token"),
        (
            registration_body(token_endpoint_auth_method="client_secret_basic"),
            "",
            400,
            "invalid_token_endpoint_auth_method",
        ),
        (
            {**registration_body(), TOOL_CONFIGURATION: {"target_link_uri": f"{TOOL}/x"}},
            "",
            400,
            "missing_domain",
        ),
        (
            {**registration_body(), TOOL_CONFIGURATION: {"domain": "other.example", "target_link_uri": TOOL}},
            "",
            400,
            "domain_targetlinkuri_mismatch",
        ),
    ],
)
def test_moodle_registration_refusals(platform, body, token, status, message):
    bearer = platform.registration.new_token() if token == "" else token
    response = register(platform, body, bearer)
    assert (response.status_code, response.text) == (status, message)


def test_canvas_registration_has_no_deployment_and_validates_scopes(canvas):
    response = register(canvas, registration_body(), canvas.registration.new_token())
    body = response.json()
    assert response.status_code == 200 and body["client_id"].startswith("1000000000000")
    assert "deployment_id" not in body[TOOL_CONFIGURATION]
    assert "https://canvas.instructure.com/lti/registration_config_url" in body[TOOL_CONFIGURATION]
    assert ":" in canvas.deployment_id  # made on "install", as Canvas does
    refused = register(
        canvas,
        registration_body(scope="https://example.com/scope/everything"),
        canvas.registration.new_token(),
    )
    assert refused.status_code == 422 and "Invalid scopes" in refused.json()["errorMessage"]


@pytest.mark.parametrize("flavour", ["moodle", "canvas"])
def test_pylti1p3_dynamic_registration_completes_against_each_flavour(flavour):
    with Platform(flavour=flavour) as platform:
        app = make_probe_app(platform, RsaKey.generate())
        driver = LaunchDriver(platform, app.test_client())
        response = driver.register()
        assert response.status == 200 and "org.imsglobal.lti.close" in response.text
        [done] = app.config["PROBE_REGISTRATIONS"]
        assert done["registration"]["client_id"] == platform.client_id
        assert platform.tool.login_url == "http://localhost/lti/login"


# --- deep linking return ---


def test_deep_link_return_verifies_the_response_and_records_items(platform, fake_tool):
    platform.deep_linking_claims(ADA, [ROLE_INSTRUCTOR], data="dl-data-1")
    items = [{"type": "ltiResourceLink", "title": "Orientation", "url": f"{TOOL}/lti/launch"}]
    jwt_value = fake_tool.deep_link_response(
        issuer=platform.issuer,
        deployment_id=platform.deployment_id,
        items=items,
        data="dl-data-1",
        nonce="n-1",
    )
    response = requests.post(platform.deep_link_return_url, data={"JWT": jwt_value}, timeout=10)
    assert response.status_code == 200, response.text
    assert platform.deep_linking.returns[-1].content_items == items
    replay = requests.post(platform.deep_link_return_url, data={"JWT": jwt_value}, timeout=10)
    assert replay.status_code == 400 and "nonce" in replay.text


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"data": "not-what-was-sent"}, "data"),
        ({"data": None}, "not echoed"),
        ({"aud": ["https://another-lms.example"]}, "Audience"),
        ({"iss": "another-client"}, "issuer"),
        ({"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "9"}, "deployment_id"),
    ],
)
def test_deep_link_return_refuses_a_wrong_response(platform, fake_tool, changes, reason):
    platform.deep_linking_claims(ADA, [ROLE_INSTRUCTOR], data="dl-data-2")
    base = {
        "issuer": platform.issuer,
        "deployment_id": platform.deployment_id,
        "items": [],
        "data": "dl-data-2",
    }
    token = fake_tool.deep_link_response(**{**base, **changes})
    response = requests.post(platform.deep_link_return_url, data={"JWT": token}, timeout=10)
    assert response.status_code == 400 and reason in response.text


# --- the launch driver, with pylti1p3 as the tool ---


def probe_driver(platform: Platform, tool_base_url: str = "http://localhost") -> LaunchDriver:
    """A driver for a fresh pylti1p3 probe tool served through a Flask test client."""
    platform.tool = None
    tool_key = RsaKey.generate()
    client = make_probe_app(platform, tool_key).test_client()
    driver = LaunchDriver(platform, client, tool_base_url=tool_base_url)
    platform.tool.jwks = jwks_of(tool_key)
    return driver


@pytest.fixture
def probe(platform: Platform) -> LaunchDriver:
    return probe_driver(platform)  # no live server: the platform gets the tool JWKS from tool.jwks


def test_driver_launches_through_a_flask_test_client(platform, probe):
    result = probe.launch(launch_claims(platform))
    assert result.status == 200, result.text
    assert result.json()["sub"] == "u-ada"
    assert result.login.response.status == 302 and result.login.auth_url.startswith(platform.auth_url)
    assert any(cookie.startswith("lti1p3-state-") for cookie in result.login.response.set_cookies)
    assert result.auth.claims["nonce"] == result.auth.nonce


def test_driver_shows_pylti1p3_alone_accepts_a_replayed_launch(platform, probe):
    result = probe.launch(launch_claims(platform))
    assert probe.replay(result).status == 200  # the library never consumes the nonce: the tool must


def test_driver_launch_with_a_bad_token_is_refused_by_pylti1p3(platform, probe):
    result = probe.launch(launch_claims(platform), bad="expired")
    assert result.status == 400 and "expired" in result.json()["message"]


def test_driver_with_a_live_server_grades_and_deep_links_over_http(platform):
    tool_key = RsaKey.generate()
    platform.tool = None
    with LiveServer(make_probe_app(platform, tool_key)) as live:
        live.app.config["PROBE_BASE_URL"] = live.url
        driver = LaunchDriver(platform, live.url)
        launched = driver.launch(launch_claims(platform, ags=True))
        assert launched.status == 200, launched.text
        launch_id = launched.json()["launch_id"]
        graded = driver.transport.request(
            "POST", f"{live.url}/lti/grade/{launch_id}", {"score": "80", "timestamp": now_iso()}
        )
        assert graded.status == 200, graded.text
        assert platform.ags.accepted_scores()[0].body["scoreGiven"] == 80
        assert platform.tool_jwks_fetches == 1  # the client assertion was checked against /lti/jwks
        deep = driver.launch(platform.deep_linking_claims(ADA, roles_for("moodle", "instructor")))
        form = parse_form(deep.json()["deep_link_form"])
        returned = requests.post(form.action, data=form.fields, timeout=10)
        assert returned.status_code == 200, returned.text
        assert platform.deep_linking.returns[-1].content_items[0]["title"] == "Orientation"


def test_driver_login_by_get_and_an_auth_url_with_a_query_string(platform):
    platform.auth_query = "tenant=acme"
    result = probe_driver(platform).launch(launch_claims(platform), method="GET")
    assert result.status == 200, result.text
    assert result.login.auth_url.startswith(platform.auth_url + "&")  # pylti1p3next keeps the query
    assert result.auth.record.params["tenant"] == "acme"


def test_https_launch_cookies_are_secure_samesite_none_and_partitioned(platform):
    platform.tool = None
    tool_key = RsaKey.generate()
    driver = LaunchDriver(
        platform, make_probe_app(platform, tool_key).test_client(), tool_base_url="https://localhost"
    )
    platform.tool.jwks = jwks_of(tool_key)
    result = driver.launch(launch_claims(platform))
    assert result.status == 200, result.text
    [state_cookie] = [c for c in result.login.response.set_cookies if c.startswith("lti1p3-state-")]
    assert {"Secure", "SameSite=None", "Partitioned", "HttpOnly"} <= {
        p.strip() for p in state_cookie.split(";")
    }


def test_a_canvas_launch_with_the_shared_canvas_issuer():
    with Platform(flavour="canvas", custom_issuer="https://canvas.instructure.com") as platform:
        result = probe_driver(platform).launch(launch_claims(platform))
        assert result.status == 200, result.text
        assert result.auth.claims["iss"] == "https://canvas.instructure.com"
        assert result.login.initiation.params["iss"] == "https://canvas.instructure.com"
        assert result.login.auth_url.startswith(platform.auth_url)  # endpoints stay on the LMS host
