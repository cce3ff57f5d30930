"""Who may reach what, for every rule of the URL map.

ROUTES names every rule the app has, with who may use it (public, a launched learner, staff, an
API token, a SCIM token, an LMS instructor's session) and how the test builds its arguments. A
rule the table does not know fails `test_every_route_is_in_the_table` by name, and so does an
entry whose rule is gone: a new route cannot be left untried.

Each route whose path names an object (an `<int:...>` id, or SCIM's path to a person) is tried,
with Ada's objects of Acme, by everyone who must not reach them: anonymous, Bob (another learner
of Acme), Globex's HR administrator, Globex's API tokens, and Acme's auditor (or a read-only
token) where the request changes something. Each answer is the product's refusal for that kind of
route (a sign-in redirect, 401, 403, or 404: another tenant's object does not exist for them),
and the whole database is unchanged after it (tests/security/conftest.py). The owners then reach
every one of them, which shows the refusals are not 404s of wrong ids.

Related, narrower tests: tests/report/test_tenant_isolation.py (another tenant's staff and learner
on the console), tests/api/test_tenant_isolation.py (another tenant's token on /api/v1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.helpers import FormClient
from tests.journeys import COURSE
from tests.scim.conftest import user_body
from tests.security.conftest import (
    World,
    changed_tables,
    database_fingerprint,
    learner_client,
    staff_client,
)

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LESSON = "why-social-media-matter"


@dataclass(frozen=True)
class Route:
    """How the test treats one rule: who may use it, and its arguments and bodies.

    kind: public | learner | staff | api | scim | lti (an LMS instructor's session) | preview |
      operator (the metrics scrape: a bearer token or a network, tests/infra/test_metrics.py).
    reason: why a public route needs no sign-in (required for public routes).
    args: each URL argument's value: a key of World.ids (Ada's objects) or a literal.
    body: the form (console, learner) or JSON (API, SCIM) each unsafe method sends; the owner's
      request with it succeeds, so an attacker's is the real thing, not a malformed request.
    """

    kind: str
    reason: str = ""
    args: dict[str, str] = field(default_factory=dict)
    body: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def names_an_object(self) -> bool:
        return any("@" in value for value in self.args.values()) and "@code" not in self.args.values()


def public(reason: str, **args: str) -> Route:
    return Route("public", reason=reason, args=args)


def learner(**args: str) -> Route:
    return Route("learner", args=args)


def staff(body: dict[str, Any] | None = None, **args: str) -> Route:
    return Route("staff", args=args, body={"POST": body or {}})


def api(body: dict[str, Any] | None = None, method: str = "POST", **args: str) -> Route:
    return Route("api", args=args, body={method: body or {}})


COURSE_ARGS = {"course_slug": COURSE}
REASON = {"reason": "HR asked for it in ticket 42"}
CONFIRM = {"confirm": "y"}
FEED_FORM = {
    "name": "payroll", "host": "127.0.0.1", "port": "22", "username": "acme", "auth": "password",
    "secret": "", "host_key_fingerprint": "SHA256:" + "A" * 43, "remote_dir": "inbox",
    "time_of_day": "03:00", "time_zone": "UTC", "file_format": "csv", "content": "changes",
}  # fmt: skip
WEBHOOK_FORM = {"url": "http://127.0.0.1:9/hooks", "description": "HR", "event_types": "certificate.issued"}
SCIM_USER = user_body("E001", "ada@acme.example", "Ada Lovelace", department="Engineering")
SCIM_PATCH = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "value": {"displayName": "Ada King"}}],
}

# "@name": the id of Ada's object `name` (World.ids); anything else is used as it is.
ROUTES: dict[str, Route] = {
    # --- public: no sign-in, each for a reason --------------------------------------------------
    "/": public("the landing page: what the service is, no data"),
    "/favicon.ico": public("a static file"),
    "/static/<path:filename>": public("static files (CSS, scripts, fonts)", filename="css/app.css"),
    "/healthz": public("the load balancer's probe: says only that the process is up"),
    "/readyz": public("the readiness probe: database reachable and migrated, no data"),
    "/login": public("staff sign-in (rate-limited, tests/infra/test_staff_auth.py)"),
    "/logout": public("ends whatever session the browser has; CSRF-protected"),
    "/login/sso/<tenant_slug>": public("staff single sign-on (tests/sso)", tenant_slug="acme"),
    "/login/sso/<tenant_slug>/start": public("staff single sign-on", tenant_slug="acme"),
    "/login/sso/<tenant_slug>/callback": public("the identity provider's answer", tenant_slug="acme"),
    "/learn/<tenant_slug>/sign-in": public(
        "a learner asks for a one-time sign-in link by email; the answer never says whether the "
        "email is known",
        tenant_slug="acme",
    ),
    "/learn/sign-in/<token>": public("a one-time sign-in link: the token is the credential", token="x" * 32),
    "/verify": public("the public certificate verification page (rate-limited)"),
    "/verify/<code>": public(
        "verification by certificate code: the code is what the holder shows", code="@code"
    ),
    "/verify/<code>.json": public("the same verification, as JSON", code="@code"),
    "/credentials/issuers/<tenant_slug>": public(
        "the Open Badges issuer profile verifiers fetch", tenant_slug="acme"
    ),
    "/credentials/achievements/<course_slug>": public(
        "the Open Badges achievement (course title)", **COURSE_ARGS
    ),
    "/credentials/status/<tenant_slug>": public(
        "the revocation status list verifiers fetch", tenant_slug="acme"
    ),
    "/credentials/keys/<kid>": public("a credential signing key's public half", kid="unknown-kid"),
    "/api/docs": public("the API's documentation page"),
    "/api/docs/swagger-ui/<string:name>": public("the documentation's static files", name="swagger-ui.css"),
    "/api/openapi.json": public("the API's OpenAPI description, no data"),
    "/api/static/<path:filename>": public("the documentation's static files", filename="docs.js"),
    "/lti/login": public("LTI OIDC login initiation: only a registered LMS's issuer starts one"),
    "/lti/launch": public("LTI launch: the LMS's signed id_token is the credential (tests/launch)"),
    "/lti/jwks": public("the tool's public keys, which LMSs fetch"),
    "/lti/config.json": public("the tool's configuration for an LMS administrator"),
    "/lti/register": public("LTI dynamic registration: a one-time registration code is the credential"),
    "/lti/continue/<token>": public(
        "continues a cookieless launch: a one-time token from the tool's page", token="x" * 32
    ),
    "/dispatch/api/launches": public("a SCORM/cmi5 package starts a launch, signed with its package secret"),
    "/dispatch/api/launch": public("a package's launch, by its bearer launch token"),
    "/dispatch/api/launch/reported": public("a package's launch, by its bearer launch token"),
    "/dispatch/api/launch/enter": public("a package's launch, by its bearer launch token"),
    "/dispatch/enter/<token>": public("a one-time link from a package's launch", token="x" * 32),
    "/demo/try": public("the demo LMS: development only (test_no_demo_routes_in_production)"),
    "/demo/lms/auth": public("the demo LMS: development only"),
    "/demo/lms/gradebook": public("the demo LMS: development only"),
    "/demo/lms/jwks": public("the demo LMS: development only"),
    "/demo/lms/token": public("the demo LMS: development only"),
    "/demo/lms/lineitems/<course>": public("the demo LMS: development only", course=COURSE),
    "/demo/lms/lineitems/<course>/scores": public("the demo LMS: development only", course=COURSE),
    "/demo/lms/start/<token>": public("the demo LMS: development only", token="x" * 32),
    # --- a launched learner ----------------------------------------------------------------------
    "/learn/": learner(),
    "/courses/<course_slug>/": learner(**COURSE_ARGS),
    "/courses/<course_slug>/attestation": Route(
        "learner", args=COURSE_ARGS, body={"POST": {"confirm": "y", "typed_name": "Ada Lovelace"}}
    ),
    "/courses/<course_slug>/continue": learner(**COURSE_ARGS),
    "/courses/<course_slug>/lessons/<lesson_slug>": learner(lesson_slug=LESSON, **COURSE_ARGS),
    "/courses/<course_slug>/lessons/<lesson_slug>/complete": learner(lesson_slug=LESSON, **COURSE_ARGS),
    "/quiz/<course_slug>/": learner(**COURSE_ARGS),
    "/quiz/<course_slug>/attempts": learner(**COURSE_ARGS),
    "/quiz/attempts/<int:attempt_id>": learner(attempt_id="@attempt"),
    "/certificates/<int:certificate_id>.pdf": learner(certificate_id="@certificate"),
    "/certificates/<int:certificate_id>/credential.jwt": learner(certificate_id="@certificate"),
    "/certificates/<int:certificate_id>/credential.json": learner(certificate_id="@certificate"),
    # --- an LMS instructor's session (the launch's context), or a staff preview -------------------
    "/lti/report": Route("lti"),
    "/lti/deep-linking": Route("lti", body={"POST": {"course": COURSE}}),
    "/courses/<course_slug>/preview": staff(**COURSE_ARGS),
    "/courses/<course_slug>/preview/reset": staff(**COURSE_ARGS),
    "/courses/preview/end": Route("preview"),
    # --- staff: the HR console -------------------------------------------------------------------
    "/account/password": staff(),
    "/console/": staff(),
    "/console/api-tokens": staff({"name": "Payroll", "scope": "read", "expires_in_days": "30"}),
    "/console/api-tokens/<int:token_id>/revoke": staff(token_id="@token"),
    "/console/assignments/<int:enrolment_id>/waive": staff(REASON, enrolment_id="@enrolment"),
    "/console/assignments/new": staff(),
    "/console/audit": staff(),
    "/console/audit/export.csv": staff(),
    "/console/audit/verify": staff(),
    "/console/branding": staff(),
    "/console/branding/preview.png": staff(),
    "/console/certificates": staff(),
    "/console/certificates/<int:certificate_id>.pdf": staff(certificate_id="@certificate"),
    "/console/certificates/<int:certificate_id>/revoke": staff(
        {**REASON, **CONFIRM}, certificate_id="@certificate"
    ),
    "/console/certificates/export.zip": staff(),
    "/console/courses": staff(),
    "/console/employees/import": staff(),
    "/console/enrolments/<int:enrolment_id>/grant-attempt": staff(REASON, enrolment_id="@enrolment"),
    "/console/evidence": staff(),
    "/console/evidence/<int:pack_id>": staff(pack_id="@pack"),
    "/console/evidence/<int:pack_id>.zip": staff(pack_id="@pack"),
    "/console/feeds/": staff(),
    "/console/feeds/lrs": staff(),
    "/console/feeds/lrs/backfill": staff(),
    "/console/feeds/lrs/disable": staff(),
    "/console/feeds/lrs/enable": staff(),
    "/console/feeds/lrs/remove": staff(),
    "/console/feeds/lrs/resend": staff(),
    "/console/feeds/sftp/<int:feed_id>": staff(feed_id="@feed"),
    "/console/feeds/sftp/<int:feed_id>/delete": staff(CONFIRM, feed_id="@feed"),
    "/console/feeds/sftp/<int:feed_id>/disable": staff(feed_id="@feed"),
    "/console/feeds/sftp/<int:feed_id>/edit": staff(FEED_FORM, feed_id="@feed"),
    "/console/feeds/sftp/<int:feed_id>/enable": staff(feed_id="@feed"),
    "/console/feeds/sftp/<int:feed_id>/run": staff(feed_id="@feed"),
    "/console/feeds/sftp/new": staff(),
    "/console/learners": staff(),
    "/console/learners/<int:user_id>": staff(user_id="@learner"),
    "/console/learners/<int:user_id>/evidence.zip": staff(user_id="@learner"),
    "/console/learners/export.<any(csv, xlsx, jsonl):fmt>": staff(fmt="csv"),
    "/console/lms": staff(),
    "/console/lms/<int:platform_id>/deployments": staff({"deployment_id": "9"}, platform_id="@platform"),
    "/console/lms/packages": staff(),
    "/console/lms/packages/<int:package_id>/download": staff(package_id="@package"),
    "/console/lms/packages/<int:package_id>/revoke": staff(CONFIRM, package_id="@package"),
    "/console/lms/packages/<int:package_id>/rotate": staff({"grace_days": "1"}, package_id="@package"),
    "/console/reminders": staff(),
    "/console/sso": staff(),
    "/console/sso/remove": staff(),
    "/console/staff": staff(),
    "/console/staff/<int:staff_id>": staff({"action": "role", "role": "hr_admin"}, staff_id="@staff"),
    "/console/webhooks/": staff(),
    "/console/webhooks/<int:endpoint_id>": staff(endpoint_id="@endpoint"),
    "/console/webhooks/<int:endpoint_id>/delete": staff(CONFIRM, endpoint_id="@endpoint"),
    "/console/webhooks/<int:endpoint_id>/disable": staff(endpoint_id="@endpoint"),
    "/console/webhooks/<int:endpoint_id>/edit": staff(WEBHOOK_FORM, endpoint_id="@endpoint"),
    "/console/webhooks/<int:endpoint_id>/enable": staff(endpoint_id="@endpoint"),
    "/console/webhooks/<int:endpoint_id>/replay-failed": staff(endpoint_id="@endpoint"),
    "/console/webhooks/<int:endpoint_id>/rotate": staff({"grace_hours": "1"}, endpoint_id="@endpoint"),
    "/console/webhooks/deliveries/<int:delivery_id>": staff(delivery_id="@delivery"),
    "/console/webhooks/deliveries/<int:delivery_id>/replay": staff(delivery_id="@delivery"),
    "/console/webhooks/new": staff(),
    "/console/webhooks/settings": staff(),
    # --- operators: Prometheus metrics, off (404) until a token or a network is set -----------------
    "/metrics": Route("operator"),
    # --- the REST API: bearer tokens of one tenant ------------------------------------------------
    "/api/v1/assignments": api(),
    "/api/v1/assignments/<int:assignment_id>": api(assignment_id="@enrolment"),
    "/api/v1/assignments/<int:assignment_id>/waive": api(REASON, assignment_id="@enrolment"),
    "/api/v1/audit-events": api(),
    "/api/v1/certificates": api(),
    "/api/v1/certificates/<int:certificate_id>": api(certificate_id="@certificate"),
    "/api/v1/certificates/<int:certificate_id>/revoke": api(REASON, certificate_id="@certificate"),
    "/api/v1/certificates/verify": api(),
    "/api/v1/completions": api(),
    "/api/v1/courses": api(),
    "/api/v1/courses/<string:slug>": api(slug=COURSE),
    "/api/v1/courses/<string:slug>/versions": api(slug=COURSE),
    "/api/v1/employees": api(),
    "/api/v1/employees/<int:person_id>": api({"department": "Research"}, "PATCH", person_id="@learner"),
    "/api/v1/employees/<int:person_id>/end": api({"end_date": "2030-01-31"}, person_id="@learner"),
    # --- SCIM: an identity provider's token of one tenant -----------------------------------------
    "/scim/v2": Route("scim"),
    "/scim/v2/<path:path>": Route(
        "scim",
        args={"path": "Users/@learner"},
        body={"PUT": SCIM_USER, "PATCH": SCIM_PATCH, "DELETE": {}, "POST": SCIM_USER},
    ),
}
# A SCIM POST creates: it names the collection, never a User (RFC 7644 §3.3; a POST to a User is a
# 405 for everyone). It is tried anonymously here, and names no object of Ada's.
METHOD_ARGS = {("/scim/v2/<path:path>", "POST"): {"path": "Users"}}


def route_for(path: str, method: str) -> Route:
    route = ROUTES[path]
    args = METHOD_ARGS.get((path, method))
    return Route(route.kind, route.reason, args, route.body) if args else route


# --- the table against the URL map ----------------------------------------------------------------


def test_every_route_is_in_the_table(app):
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    unknown = sorted(set(rules) - set(ROUTES))
    assert not unknown, (
        "These routes are in neither ROUTES of tests/security/test_access_control.py: say who may "
        f"use each (and, for a public one, why) and how to build its arguments: {unknown}"
    )
    gone = sorted(set(ROUTES) - set(rules))
    assert not gone, f"ROUTES names rules the app no longer has; remove them: {gone}"
    for path, route in ROUTES.items():
        assert route.kind in ("public", "learner", "staff", "api", "scim", "lti", "preview", "operator"), path
        assert route.kind != "public" or route.reason, f"{path}: a public route needs its reason"
        missing = rules[path].arguments - set(route.args) - ({"path"} if path == "/scim/v2" else set())
        assert not missing, f"{path}: ROUTES does not say how to build {sorted(missing)}"


def test_no_demo_routes_in_production(make_app):
    """The demo LMS is the only public route family that launches anyone: it is never served in
    production."""
    production = make_app(CONFIG="production", PUBLIC_URL="https://training.acme.example")
    demo = [rule.rule for rule in production.url_map.iter_rules() if rule.rule.startswith("/demo/")]
    assert demo == []
    assert {rule.rule for rule in production.url_map.iter_rules()} <= set(ROUTES)


# --- requests -------------------------------------------------------------------------------------


ARGUMENT = re.compile(r"<(?:[^>]*:)?(\w+)>")  # <name>, <int:name>, <any(csv, xlsx):name>
OBJECT = re.compile(r"@(\w+)")


def url_of(path: str, route: Route, world: World) -> str:
    """The rule with its arguments filled in: "@name" is Ada's object `name` (or her certificate's
    code); anything else is used as it is."""

    def value(match: re.Match[str]) -> str:
        given = route.args[match.group(1)]
        return OBJECT.sub(
            lambda m: world.certificate_code if m.group(1) == "code" else str(world.ids[m.group(1)]), given
        )

    return ARGUMENT.sub(value, path)


@dataclass
class Caller:
    """Someone making requests: a browser (cookies, forms with CSRF tokens) or an HR system (a token)."""

    name: str
    client: FormClient
    token: str | None = None  # a bearer secret it sends with every request

    def open(self, method: str, url: str, route: Route):
        body = route.body.get(method)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if route.kind in ("api", "scim"):
            if route.kind == "scim":
                headers["Content-Type"] = "application/scim+json"
            json_body = body if method in UNSAFE else None
            response = self.client.open(url, method=method, json=json_body, headers=headers)
        elif method == "GET":
            response = self.client.get(url, headers=headers)
        else:  # a form, with a valid CSRF token of this client's session: refused for who sends it
            form = {"csrf_token": self.client.csrf_token(), **(body or {})}
            response = self.client.open(url, method=method, data=form, headers=headers)
        response.close()  # file downloads hold their file open until closed
        return response


def callers(app: Flask, world: World) -> dict[str, Caller]:
    return {
        "anonymous": Caller("anonymous", FormClient(app)),
        "another learner": Caller("Bob, another learner of Acme", learner_client(app, world.people["bob"])),
        "another tenant's staff": Caller("Globex's HR administrator", staff_client(app, "hr@globex.example")),
        "auditor": Caller("Acme's auditor", staff_client(app, "auditor@acme.example")),
        "another tenant's token": Caller(
            "Globex's API token", FormClient(app), world.secrets["globex_write"]
        ),
    }


SIGN_IN = "a redirect to the sign-in page"


def is_sign_in_redirect(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


# The refusal each kind of route answers each caller with (as the product does).
REFUSAL: dict[tuple[str, str], int | str] = {
    ("staff", "anonymous"): SIGN_IN,
    ("staff", "another learner"): SIGN_IN,
    ("staff", "another tenant's staff"): 404,  # another tenant's object does not exist for them
    ("staff", "auditor"): 403,  # "Your role, auditor, can view but not change this"
    ("staff", "another tenant's token"): SIGN_IN,  # tokens open the API only
    ("learner", "anonymous"): 401,  # "open this training from your LMS"
    ("learner", "another learner"): 404,
    ("learner", "another tenant's staff"): 401,
    ("learner", "auditor"): 401,
    ("learner", "another tenant's token"): 401,
    ("api", "anonymous"): 401,
    ("api", "another learner"): 401,  # a session cookie is no API credential
    ("api", "another tenant's staff"): 401,
    ("api", "auditor"): 403,  # a read-only token changes nothing ("insufficient_scope")
    ("api", "another tenant's token"): 404,
    ("scim", "anonymous"): 401,
    ("scim", "another learner"): 401,
    ("scim", "another tenant's staff"): 401,
    ("scim", "auditor"): 403,  # Acme's read-only REST token is no SCIM token
    ("scim", "another tenant's token"): 404,  # Globex's SCIM token
}


def caller_for(kind: str, who: str, callers_: dict[str, Caller], app: Flask, world: World) -> Caller:
    """API and SCIM routes are tried with the matching token: Acme's read-only token stands for the
    auditor, and Globex's SCIM token for another tenant's on SCIM."""
    if kind == "api" and who == "auditor":
        return Caller("Acme's read-only API token", FormClient(app), world.secrets["acme_read"])
    if kind == "scim" and who == "auditor":
        return Caller("Acme's read-only API token", FormClient(app), world.secrets["acme_read"])
    if kind == "scim" and who == "another tenant's token":
        return Caller("Globex's SCIM token", FormClient(app), world.secrets["globex_scim"])
    return callers_[who]


def object_routes(app: Flask) -> list[tuple[str, str, Route]]:
    """(path, method, route) for every rule whose path names one of Ada's objects."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            route = route_for(rule.rule, method)
            if route.names_an_object and route.kind != "public":
                found.append((rule.rule, method, route))
    return found


@pytest.mark.parametrize("who", sorted({who for _kind, who in REFUSAL}))
def test_nobody_else_reaches_adas_objects_and_nothing_is_written(app, world, who):
    everyone = callers(app, world)
    before = database_fingerprint(app)
    tried = []
    for path, method, route in object_routes(app):
        if who == "auditor" and method not in UNSAFE:
            continue  # the auditor reads everything in Acme: tried on changes only
        caller = caller_for(route.kind, who, everyone, app, world)
        url = url_of(path, route, world)
        response = caller.open(method, url, route)
        expected = REFUSAL[(route.kind, who)]
        answered = SIGN_IN if is_sign_in_redirect(response) else response.status_code
        assert answered == expected, (
            f"{caller.name}: {method} {url} answered {response.status_code} "
            f"{response.headers.get('Location', '')}, not {expected}"
        )
        after = database_fingerprint(app)
        assert after == before, f"{caller.name}: {method} {url} changed {changed_tables(before, after)}"
        tried.append((method, path))
    assert len(tried) >= (25 if who == "auditor" else 45), tried


# What an owner's request gets where the table's body cannot be the successful one.
OWNER_ANSWERS = {
    # Answers without the drawn questions' answers: the attempt page again, asking for them.
    ("/quiz/attempts/<int:attempt_id>", "POST"): 422,
}


def test_the_owners_reach_every_one_of_those_routes(app, world):
    """The control: Ada, Acme's HR administrator, Acme's write token and SCIM token get through
    (so each refusal above is a refusal, not a wrong id). Changes run last, deletions at the end."""
    owners = {
        "learner": Caller("Ada", learner_client(app, world.people["ada"])),
        "staff": Caller("Acme's HR administrator", staff_client(app, "hr@acme.example")),
        "api": Caller("Acme's write token", FormClient(app), world.secrets["acme_write"]),
        "scim": Caller("Acme's SCIM token", FormClient(app), world.secrets["acme_scim"]),
    }
    routes = object_routes(app)
    before = database_fingerprint(app)
    ordered = sorted(
        routes,
        key=lambda r: (
            r[1] in UNSAFE,
            r[1] == "DELETE" or r[0].endswith(("/delete", "/revoke")),
            r[0].startswith("/api/"),  # the console revokes Ada's certificate first, then the API again
            r[0],
        ),
    )
    for path, method, route in ordered:
        owner = owners[route.kind]
        url = url_of(path, route, world)
        response = owner.open(method, url, route)
        if (path, method) in OWNER_ANSWERS:
            assert response.status_code == OWNER_ANSWERS[path, method], f"{method} {url}"
            continue
        assert response.status_code < 400 or response.status_code == 409, (
            f"{owner.name}: {method} {url} answered {response.status_code} "
            f"{response.get_data(as_text=True)[:300]}"
        )
    changed = changed_tables(before, database_fingerprint(app))
    assert {"audit_events", "webhook_endpoints", "sftp_feeds", "users"} <= set(changed), changed  # seen


def test_anonymous_reaches_nothing_but_public_routes_and_writes_nothing(app, world):
    """Every route that is not public, without an object too (lists, exports, forms): refused to
    someone who has not signed in, whatever the method."""
    anonymous = Caller("anonymous", FormClient(app))
    before = database_fingerprint(app)
    refusals = {
        "staff": SIGN_IN,
        "learner": 401,
        "api": 401,
        "scim": 401,
        "lti": 403,
        "preview": 403,
        "operator": 404,
    }
    tried = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if ROUTES[rule.rule].kind == "public":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            route = route_for(rule.rule, method)
            url = url_of(rule.rule, route, world) if rule.arguments else rule.rule
            response = anonymous.open(method, url, route)
            answered = SIGN_IN if is_sign_in_redirect(response) else response.status_code
            expected = refusals[route.kind]
            if route.kind == "lti" and answered == 401:
                answered = 403  # the deep-linking page says the launch expired; the report, not allowed
            if rule.rule == "/scim/v2" and method != "GET":
                expected = 405  # the SCIM root is no resource: nothing but GET, for anyone
            assert answered == expected, f"anonymous: {method} {url} answered {response.status_code}"
            tried += 1
    after = database_fingerprint(app)
    assert after == before, changed_tables(before, after)
    assert tried >= 100


def test_public_pages_answer_anyone_and_forged_one_time_links_are_refused(app, world):
    """Every public GET answers someone who has not signed in without a server error and without
    writing; a made-up one-time token or certificate code is refused (4xx)."""
    anonymous = Caller("anonymous", FormClient(app))
    before = database_fingerprint(app)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        route = ROUTES[rule.rule]
        if route.kind != "public" or "GET" not in rule.methods:
            continue
        url = url_of(rule.rule, route, world)
        response = anonymous.open("GET", url, route)
        assert response.status_code < 500, f"GET {url} answered {response.status_code}"
        if rule.rule == "/learn/sign-in/<token>":  # the GET only explains (mail scanners open links)
            page = response.get_data(as_text=True)
            assert "has expired or was already used" in page and "<form" not in page
        elif "token" in rule.arguments:
            assert 400 <= response.status_code < 500, (
                f"a made-up token: GET {url} answered {response.status_code}"
            )
    unknown = anonymous.open("GET", "/verify/ZZZZ-ZZZZ-ZZZZ-ZZZZ", ROUTES["/verify/<code>"])
    assert unknown.status_code in (400, 404)
    after = database_fingerprint(app)
    assert after == before, changed_tables(before, after)
