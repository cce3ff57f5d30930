"""Forms, headers, cookies, sessions and rate limits, over every route where it applies.

- CSRF: every route that takes a POST (or PUT, PATCH, DELETE) refuses one without the CSRF token
  of its session, as the person who could have sent it (400, "This form expired or was sent from
  another site", nothing written); the routes that take no token are listed in CSRF_EXEMPT with the
  credential that stands in for it, and the list is checked against what the app does.
- Headers: every page the sweep of test_access_control.py reaches carries the Content-Security-
  Policy (with `frame-ancestors`, never X-Frame-Options), `nosniff` and the Referrer-Policy;
  Strict-Transport-Security is sent in production (TLS) only.
- Cookies: the session cookie is HttpOnly everywhere, and Secure, SameSite=None and Partitioned in
  production (where the LMS frame needs them) on a real staff sign-in over https.
- Session fixation: a session planted before sign-in (a key, a CSRF token someone else knows) does
  not survive a learner's sign-in by LMS launch, by email link or by a dispatch package.
- Rate limits: the public verification page and the learner's sign-in-by-email form answer 429
  with words for people and a Retry-After, per address.

Already tested elsewhere, not repeated here: the staff sign-in form's CSRF and limit
(tests/infra/test_staff_auth.py), staff session fixation and ends (tests/infra/test_sessions.py),
no-store and form-action (tests/infra/test_edge.py), frame-ancestors after a launch
(tests/launch/test_frame_ancestors.py), the launch's cookies (tests/launch/test_launch_cookies.py),
the API's rate limit (tests/api/test_rate_limit.py).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from people import sign_in as email_sign_in
from tests import factories
from tests.dispatch.conftest import acme, make_package  # noqa: F401  (fixtures)
from tests.dispatch.steps import bearer, launch_body, post_launch
from tests.helpers import FormClient, csrf_from, text_of
from tests.launch.conftest import driver, learner_claims, platform, registered  # noqa: F401  (fixtures)
from tests.security.conftest import changed_tables, database_fingerprint, learner_client, staff_client
from tests.security.test_access_control import (
    ROUTES,
    UNSAFE,
    Caller,
    route_for,
    url_of,
)
from training_app.auth.services import find_tenant
from training_app.extensions import db

CSRF_REFUSAL = "This form expired or was sent from another site"

# Routes that take no CSRF token, and what stands in for it (none of them reads the session cookie
# as its credential, so a forged cross-site request has nothing to ride on).
CSRF_EXEMPT = {
    "/lti/login": "the LMS posts it from its own site; it signs nobody in (a login state, used once)",
    "/lti/launch": "the LMS posts it from its own site: its signed id_token, nonce and state",
    "/dispatch/api/launches": "a package's page calls it cross-origin, signed with the package secret",
    "/dispatch/api/launch/reported": "a package's bearer launch token",
    "/dispatch/api/launch/enter": "a package's bearer launch token",
    "/demo/lms/token": "the demo LMS's OAuth token endpoint (development only)",
    "/demo/lms/lineitems/<course>/scores": "the demo LMS's grade endpoint (development only)",
    "/scim/v2": "SCIM: an identity provider's bearer token, no cookies",
    "/scim/v2/<path:path>": "SCIM: an identity provider's bearer token, no cookies",
    **{
        path: "the REST API: an HR system's bearer token, no cookies"
        for path in ROUTES
        if path.startswith("/api/v1/")
    },
}


def who_could_send(app, world, kind: str) -> Caller:
    """The signed-in person a forged request would ride on: the one whose request would succeed."""
    if kind in ("staff", "preview"):
        return Caller("Acme's HR administrator", staff_client(app, "hr@acme.example"))
    if kind == "learner":
        return Caller("Ada", learner_client(app, world.people["ada"]))
    return Caller("anonymous", FormClient(app))


def test_every_form_refuses_a_post_without_its_csrf_token_and_writes_nothing(app, world):
    callers = {kind: who_could_send(app, world, kind) for kind in ("staff", "learner", "public")}
    before = database_fingerprint(app)
    exempt_seen, refused = set(), []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods & UNSAFE):
            route = route_for(rule.rule, method)
            caller = callers.get(route.kind, callers["public"])
            url = url_of(rule.rule, route, world)
            body = route.body.get(method) or {}
            response = caller.client.open(url, method=method, data=body)
            response.close()
            is_csrf_refusal = response.status_code == 400 and CSRF_REFUSAL in text_of(response)
            if rule.rule in CSRF_EXEMPT:
                assert not is_csrf_refusal, f"{method} {url} is listed in CSRF_EXEMPT but asks for a token"
                exempt_seen.add(rule.rule)
                before = database_fingerprint(app)  # (an LMS login state may be stored)
                continue
            assert is_csrf_refusal, (
                f"{caller.name}: {method} {url} without a CSRF token answered {response.status_code}, "
                f"not the 400 ({CSRF_REFUSAL}): protect it, or list it in CSRF_EXEMPT with its reason"
            )
            after = database_fingerprint(app)
            assert after == before, f"{method} {url} changed {changed_tables(before, after)}"
            refused.append((method, rule.rule))
    taking_changes = {rule.rule for rule in app.url_map.iter_rules() if rule.methods & UNSAFE}
    assert exempt_seen == set(CSRF_EXEMPT) & taking_changes
    assert len(refused) >= 50, refused


def test_a_csrf_token_of_another_session_is_refused(app, world):
    hr = staff_client(app, "hr@acme.example")
    stranger = FormClient(app)  # the attacker's own session, and its valid token
    response = hr.post(
        f"/console/webhooks/{world.ids['endpoint']}/disable", data={"csrf_token": stranger.csrf_token()}
    )
    assert response.status_code == 400 and CSRF_REFUSAL in text_of(response)
    own = hr.post(f"/console/webhooks/{world.ids['endpoint']}/disable", data={"csrf_token": hr.csrf_token()})
    assert own.status_code == 303  # the control: the same request with its own token goes through


# --- headers ----------------------------------------------------------------------------------


def directives(response) -> dict[str, str]:
    csp = response.headers.get("Content-Security-Policy", "")
    return dict([*part.strip().split(" ", 1), ""][:2] for part in csp.split(";") if part.strip())


def assert_safe_headers(response, where: str) -> None:
    csp = directives(response)
    assert csp.get("default-src") == "'self'", where
    assert (
        csp.get("script-src") == "'self'" and "unsafe" not in response.headers["Content-Security-Policy"]
    ), where
    assert csp.get("object-src") == "'none'" and csp.get("base-uri") == "'none'", where
    assert "frame-ancestors" in csp and "X-Frame-Options" not in response.headers, where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", where


def test_every_page_carries_the_security_headers_and_no_hsts_without_tls(app, world):
    """Every GET route, as someone who may read it and as someone who may not (error pages too)."""
    readers = {
        "staff": Caller("HR", staff_client(app, "hr@acme.example")),
        "preview": Caller("HR", staff_client(app, "hr@acme.example")),
        "learner": Caller("Ada", learner_client(app, world.people["ada"])),
        "api": Caller("Acme's token", FormClient(app), world.secrets["acme_read"]),
        "scim": Caller("Acme's SCIM token", FormClient(app), world.secrets["acme_scim"]),
    }
    anonymous = Caller("anonymous", FormClient(app))
    seen = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods:
            continue
        route = route_for(rule.rule, "GET")
        url = url_of(rule.rule, route, world)
        for caller in (readers.get(route.kind, anonymous), anonymous):
            response = caller.open("GET", url, route)
            assert_safe_headers(response, f"{caller.name}: GET {url} ({response.status_code})")
            assert "Strict-Transport-Security" not in response.headers, url  # plain http: no HSTS
            seen += 1
    assert seen >= 150


def test_console_pages_may_be_framed_by_nobody_else_even_with_lms_platforms_registered(app, world):
    """Registered platforms may frame a learner's launched pages (tests/launch/test_frame_ancestors.py),
    never the HR console: a framed console is clickjacking."""
    hr = staff_client(app, "hr@acme.example")
    for path in ("/console/", "/console/staff", f"/console/webhooks/{world.ids['endpoint']}", "/console/lms"):
        assert directives(hr.get(path))["frame-ancestors"] == "'self'", path


@pytest.mark.parametrize("subdomains", [False, True])
def test_production_sends_hsts_on_pages_errors_and_the_api(make_app, world, subdomains):
    production = make_app(
        CONFIG="production", PUBLIC_URL="https://training.acme.example", HSTS_INCLUDE_SUBDOMAINS=subdomains
    )
    client = production.test_client()
    expected = "max-age=31536000" + ("; includeSubDomains" if subdomains else "")
    for path in ("/", "/login", "/verify", "/console/", "/no-such-page", "/api/v1/employees"):
        response = client.get(path, base_url="https://training.acme.example")
        assert response.headers.get("Strict-Transport-Security") == expected, path
        assert_safe_headers(response, path)


# --- cookies ----------------------------------------------------------------------------------


def cookie_attributes(response, name: str = "session") -> set[str]:
    for header in response.headers.getlist("Set-Cookie"):
        cookie_name, _, rest = header.partition("=")
        if cookie_name == name:
            return {part.strip().lower() for part in rest.split(";")[1:]}
    raise AssertionError(f"no {name} cookie set: {response.headers.getlist('Set-Cookie')}")


def test_the_session_cookie_is_http_only_and_same_site_lax_without_tls(app, world):
    signed_in = FormClient(app).login("hr@acme.example", factories.PASSWORD)
    flags = cookie_attributes(signed_in)
    assert {"httponly", "samesite=lax"} <= flags and "secure" not in flags


def test_in_production_a_staff_sign_in_over_https_sets_a_secure_partitioned_cookie(make_app, world):
    production = make_app(CONFIG="production", PUBLIC_URL="https://training.acme.example")
    client = production.test_client()
    https = {"base_url": "https://training.acme.example"}
    page = client.get("/login", **https)
    assert {"secure", "httponly", "samesite=none", "partitioned"} <= cookie_attributes(page)
    signed_in = client.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": "hr@acme.example",
            "password": factories.PASSWORD,
        },
        headers={"Referer": "https://training.acme.example/login"},  # Flask-WTF's check over https
        **https,
    )
    assert signed_in.status_code == 302 and urlsplit(signed_in.headers["Location"]).path == "/console/"
    assert {"secure", "httponly", "samesite=none", "partitioned", "path=/"} <= cookie_attributes(signed_in)
    assert not any("domain=" in flag for flag in cookie_attributes(signed_in))  # this host only
    assert client.get("/console/", **https).status_code == 200


# --- session fixation -------------------------------------------------------------------------


def plant(client: FormClient) -> str:
    """What someone who could set the victim's cookie before sign-in would leave: a session with a
    key of theirs and a CSRF token they know."""
    token = client.csrf_token()
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    return token


def assert_fresh_session(client: FormClient, planted_token: str, form_url: str) -> None:
    with client.session_transaction() as session:
        assert "planted" not in session, "a key from before the sign-in survived it"
        assert session["_user_id"].startswith("learner:")
    refused = client.post(form_url, data={"csrf_token": planted_token, "confirm": "y", "typed_name": "X"})
    assert refused.status_code == 400 and CSRF_REFUSAL in text_of(refused), (
        "the planted CSRF token still works"
    )


ATTESTATION = "/courses/social-media-orientation/attestation"
LESSON = "/courses/social-media-orientation/lessons/why-social-media-matter"


def test_an_lms_launch_starts_a_fresh_session(app, client, driver):  # noqa: F811
    planted = plant(client)
    result = driver.launch(learner_claims(driver.platform))
    assert result.status == 200
    assert_fresh_session(client, planted, ATTESTATION)


def test_a_second_launch_of_the_same_learner_keeps_their_session(app, client, driver):  # noqa: F811
    """Two tabs launched from the LMS: the first tab's forms still work after the second launch."""
    assert driver.launch(learner_claims(driver.platform)).status == 200
    first_tab = csrf_from(client.get(LESSON).get_data(as_text=True))
    assert driver.launch(learner_claims(driver.platform)).status == 200
    kept = client.post(LESSON + "/complete", data={"csrf_token": first_tab})
    assert kept.status_code == 303, text_of(kept)[:300]


def test_a_sign_in_link_starts_a_fresh_session(app, client, world, monkeypatch):
    monkeypatch.setattr(email_sign_in.secrets, "token_urlsafe", lambda _n: "the-link-token-of-ada-0123456789")
    asked = client.post_form("/learn/acme/sign-in", {"email": "ada@acme.example"})
    assert asked.status_code == 200
    planted = plant(client)
    confirm = client.get("/learn/sign-in/the-link-token-of-ada-0123456789")
    signed_in = client.post(
        "/learn/sign-in/the-link-token-of-ada-0123456789",
        data={"csrf_token": csrf_from(confirm.get_data(as_text=True))},
    )
    assert signed_in.status_code == 303
    assert_fresh_session(client, planted, ATTESTATION)


def test_a_dispatch_package_launch_starts_a_fresh_session(app, client, make_package):  # noqa: F811
    package = make_package()
    started = post_launch(client, launch_body(package.dispatch_id, package.secret)).get_json()
    planted = plant(client)
    entered = client.get(urlsplit(started["enter_url"]).path)
    assert entered.status_code == 303
    assert client.get("/dispatch/api/launch", headers=bearer(started["token"])).status_code == 200
    assert_fresh_session(client, planted, ATTESTATION)


# --- rate limits ------------------------------------------------------------------------------

FRIENDLY_429 = "Too many requests in a short time. Wait a minute and try again."


def assert_friendly_429(response) -> None:
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    body = text_of(response)
    assert FRIENDLY_429 in body or "Too many" in body
    assert not re.search(r"\d+ per \d+ minute", body), "the limit's own description is for machines"


@pytest.mark.parametrize("suffix", ["", ".json"])
def test_the_verification_page_answers_429_after_30_a_minute_per_address(app, world, suffix):
    visitor = FormClient(app)
    path = f"/verify/{world.certificate_code}{suffix}"
    for number in range(30):
        assert visitor.get(path).status_code == 200, number
    blocked = visitor.get(path)
    assert_friendly_429(blocked)
    if suffix:
        assert (
            blocked.get_json()["code"] == "too_many_requests"
            and blocked.get_json()["message"] == FRIENDLY_429
        )
    else:
        assert FRIENDLY_429 in text_of(blocked)
    other_address = visitor.get(path, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other_address.status_code == 200  # the limit is per address, not for everyone


def test_the_learner_sign_in_form_answers_429_after_5_a_minute(app, world):
    before = database_fingerprint(app)
    learner = FormClient(app)
    for _ in range(5):
        assert learner.post_form("/learn/acme/sign-in", {"email": "nobody@acme.example"}).status_code == 200
    blocked = learner.post_form("/learn/acme/sign-in", {"email": "ada@acme.example"})
    assert_friendly_429(blocked)
    assert learner.get("/learn/acme/sign-in").status_code == 200  # the page itself still shows
    with app.app_context():
        assert find_tenant("acme") is not None
        db.session.rollback()
    after = database_fingerprint(app)
    assert after == before, changed_tables(before, after)  # no link for Ada, no email queued
