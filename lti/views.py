"""LTI endpoints: OIDC login, launch, JWKS, tool configuration, deep linking, instructor report."""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import parse_qs, urlsplit

from flask import (
    Blueprint,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user

from courses.views import render_overview
from lti import claims, errors, framing, keys, registration, services, storage, tool_config
from lti import deep_linking as dl
from lti.launch import lti_request, new_launch, new_login
from lti.platform_cache import PlatformRecord, find_platform
from training_app.auth.access import SignedInLearner, signed_in_learner
from training_app.auth.signing_in import start_learner_session
from training_app.errors import Forbidden
from training_app.extensions import csrf, keep_writes_of_this_refusal, limiter, without_transaction
from training_app.urls import base_url, external_url

bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates")

LOGIN_RECORD_TTL = 600
CONTINUE_TTL = 120
FRAME_DESTINATIONS = ("iframe", "frame")  # Sec-Fetch-Dest of a page loading in an LMS's frame
STATE_COOKIE_PREFIX = "lti1p3-"
LOGIN_PARAMS = ("iss", "login_hint", "target_link_uri", "lti_message_hint", "lti_deployment_id", "client_id")


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt
@without_transaction  # one INSERT (and the platform's registration read, at most every 10 s)
def login():
    """Third-party initiated login: remember the request, then send the browser to the LMS."""
    lti = lti_request()
    oidc = new_login(lti)
    try:
        auth = oidc.get_redirect_object(tool_config.launch_url())
    except errors.LIBRARY_ERRORS as exc:
        raise errors.launch_failed(exc) from None
    auth_url = auth.get_redirect_url()
    auth_params = parse_qs(urlsplit(auth_url).query)
    state = auth_params["state"][-1]
    sent = request.args if request.method == "GET" else request.form  # where the library reads them
    storage_target = sent.get("lti_storage_target")
    storage.store().put(
        f"login-{state}",
        {
            "nonce": auth_params["nonce"][-1],
            "params": {name: sent[name] for name in LOGIN_PARAMS if sent.get(name)},
            "storage_target": storage_target,
            "auth_origin": _origin(auth_url),
        },
        LOGIN_RECORD_TTL,
    )
    if storage_target:
        response = make_response(
            render_template(
                "lti/platform_storage_put.html",
                auth_url=auth_url,
                state=state,
                target=storage_target,
                platform_origin=_origin(auth_url),
            )
        )
    else:
        response = redirect(auth_url)
    oidc._cookie_service.update_response(response)
    return response


@bp.post("/launch")
@csrf.exempt
@without_transaction  # the login is taken alone; a learner's rows are written in one transaction
def launch():
    if request.form.get("error"):
        raise errors.LaunchFailed(
            "platform_error", request.form.get("error_description") or request.form["error"]
        )
    state = request.form.get("state", "")
    cookie_ok = bool(state) and request.cookies.get(STATE_COOKIE_PREFIX + state) == state
    if not cookie_ok:
        pending = storage.store().get(f"login-{state}") if state else None
        if not _may_continue_without_cookie(pending):
            return _cookieless_launch(pending, state)
    in_a_new_window = not cookie_ok  # cookies are blocked in this frame: the learner continues elsewhere
    # The login is used once, taken atomically first: a replay, even two at the same moment, fails.
    record = storage.store().take(f"login-{state}")
    if record is None:
        raise errors.LaunchFailed("replayed", "no pending login for this state")
    body, platform = _validated(record)
    try:
        outcome = services.process_launch(platform, body)
    except errors.LIBRARY_ERRORS as exc:
        raise errors.launch_failed(exc) from None
    start_learner_session(outcome.user)
    _remember_launch(outcome, body, platform)
    if in_a_new_window:
        return _continue_in_new_window(outcome.user, _landing_url(outcome))
    if _lands_on_course_overview(outcome):
        # The launch answers with the learner's page: one round trip fewer than redirecting to it.
        framing.frame_as_a_launched_page()
        return render_overview(outcome.user.id, outcome.course_slug, answering_a_post=True)
    return redirect(_landing_url(outcome), 303)


def _validated(record: dict) -> tuple[dict, PlatformRecord]:
    """The launch's claims and platform once the token is valid. A refusal here keeps the login
    taken (the only write so far): a launch is used once, even when refused, on every database."""
    try:
        if unverified_nonce(request.form.get("id_token", "")) != record["nonce"]:
            raise errors.LaunchFailed("state", "the id_token's nonce was not issued with this state")
        body = new_launch(lti_request()).body()
        return body, _platform_of(body)
    except errors.LIBRARY_ERRORS as exc:
        keep_writes_of_this_refusal()
        raise errors.launch_failed(exc) from None
    except errors.LaunchFailed:
        keep_writes_of_this_refusal()
        raise


def unverified_nonce(id_token: str) -> str | None:
    """The nonce claim, read before validation only to bind the token to its login's state.

    Read with the standard library: PyJWT's unverified decode checks every character of the token
    in Python, and the validation that follows decodes and checks it strictly anyway (figures in
    bench/README.md).
    """
    try:
        _header, payload, _signature = id_token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:  # not three segments, not base64 (binascii.Error) or not JSON
        return None
    return claims.get("nonce") if isinstance(claims, dict) else None


def _platform_of(body: dict) -> PlatformRecord:
    audience = body["aud"][0] if isinstance(body["aud"], list) else body["aud"]
    platform = find_platform(body["iss"], audience)
    if platform is None:
        raise errors.LaunchFailed("unknown_platform", "validated launch without a platform")
    return platform


def _remember_launch(outcome: services.LaunchOutcome, body: dict, platform: PlatformRecord) -> None:
    message = claims.LaunchClaims(body)
    session["lti"] = {
        "platform_id": platform.id,
        "role": outcome.role,
        "resource_link_id": outcome.resource_link_id,
        "return_url": message.return_url,
    }
    session["embedded"] = True
    session[framing.FRAME_ORIGINS_KEY] = services.platform_origins(platform)
    if message.message_type == claims.DEEP_LINKING:
        settings = message.deep_linking_settings
        key = secrets.token_urlsafe(16)
        storage.store().put(
            f"deep-link-{key}",
            {
                "platform_id": platform.id,
                "deployment_id": message.deployment_id,
                "return_url": settings.get("deep_link_return_url"),
                "data": settings.get("data"),
                "accept_multiple": settings.get("accept_multiple") in (True, "true"),
            },
            3600,
        )
        session["lti"]["deep_link"] = key


def _landing_url(outcome: services.LaunchOutcome) -> str:
    if _lands_on_course_overview(outcome):
        return url_for("courses.overview", course_slug=outcome.course_slug)
    if outcome.message_type == claims.DEEP_LINKING:
        return url_for("lti.deep_linking")
    return url_for("instructor.course_report")  # reports' page: the one status rule lives there


def _lands_on_course_overview(outcome: services.LaunchOutcome) -> bool:
    return outcome.role == "learner"  # a deep linking launch is always an instructor's


def _may_continue_without_cookie(record: dict | None) -> bool:
    """Whether a launch whose state cookie did not come back is taken and validated, to continue in
    a new window: it loads in the LMS's frame, and the platform's storage vouched for the state or
    the platform offers none (README, "Security of the launch")."""
    if record is None:
        return False
    if record.get("storage_target"):
        vouched = request.form.get("lti_storage_verified") == "1"
        return vouched and _loads_in_a_frame(posted_by={_origin(base_url())})  # our storage page posts it
    return _loads_in_a_frame(posted_by=_login_origins(record))


def _loads_in_a_frame(posted_by: set[str]) -> bool:
    """Fetch Metadata says the answer loads in a frame, and only the launching LMS may frame it.

    A browser that sends no Fetch Metadata (plain http to a host other than localhost, an old
    browser) must show that the expected page posted the launch (Origin): the LMS's own page only
    posts a token of its signed-in user, never one an attacker obtained for themselves.
    """
    destination = request.headers.get("Sec-Fetch-Dest")
    if destination is not None:
        return destination in FRAME_DESTINATIONS
    return request.headers.get("Origin") in posted_by


def _login_origins(record: dict) -> set[str]:
    urls = (record["auth_origin"], record["params"].get("iss"))
    return {_origin(url) for url in urls if url}


def _cookieless_launch(record: dict | None, state: str):
    """The state cookie did not come back, and nothing vouches for the launch without it."""
    if record is None:
        raise errors.LaunchFailed("state", f"no login record for state {state[:12]}")
    destination = request.headers.get("Sec-Fetch-Dest")
    if destination and destination not in FRAME_DESTINATIONS:
        # Top level (not a frame whose cookies were blocked) without the cookie: a login CSRF's shape.
        raise errors.LaunchFailed("outside_the_lms", f"no state cookie, Sec-Fetch-Dest {destination[:20]}")
    if record.get("storage_target"):
        if request.form.get("lti_storage_verified") == "1":  # no Fetch Metadata, not our page's post
            raise errors.LaunchFailed("outside_the_lms", "storage-verified launch posted by another site")
        return render_template(
            "lti/platform_storage_get.html",
            state=state,
            target=record["storage_target"],
            platform_origin=record["auth_origin"],
            id_token=request.form.get("id_token", ""),
        ), 200
    # No Fetch Metadata and not posted by the LMS's page: a new login, in a window of its own.
    restart = external_url("lti.login", **record["params"])
    return render_template("lti/open_in_new_window.html", url=restart), 200


def _continue_in_new_window(user: SignedInLearner, target: str):
    """A one-time link that signs this launch's learner in in a top-level window of the same browser,
    where the tool's cookie is first-party. The page says whom it signs in, only the launching LMS
    may frame it, and no cache keeps it."""
    token = secrets.token_urlsafe(24)
    # The frame's session cookie is blocked too: carry the launch context to the new window.
    record = {"user_id": user.id, "target": target, "lti": session.get("lti")}
    storage.store().put(f"continue-{token}", record, CONTINUE_TTL)
    framing.frame_as_a_launched_page()
    response = make_response(
        render_template(
            "lti/open_in_new_window.html",
            url=external_url("lti.continue_launch", token=token),
            learner_name=user.name,
        )
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/continue/<token>")
@limiter.limit("30 per minute")
def continue_launch(token: str):
    """Top-level continuation of a launch made in a frame without cookies: single use, 2 minutes,
    and only from the button on the tool's page (a link handed on, or opened by another site, fails)."""
    if not _opened_from_this_site():
        source = request.headers.get("Sec-Fetch-Site") or "no Fetch Metadata or Referer"
        raise errors.LaunchFailed("continue_elsewhere", f"continue link opened from {source[:40]}")
    record = storage.store().take(f"continue-{token}")
    if record is None:
        raise errors.LaunchFailed("expired", "continue token unknown or used")
    user = signed_in_learner(record["user_id"])
    if user is None:
        raise errors.LaunchFailed("expired", "the launched user no longer exists")
    start_learner_session(user)
    session["lti"] = record.get("lti")
    return redirect(record["target"], 303)


def _opened_from_this_site() -> bool:
    """The navigation started on one of this site's pages: Fetch Metadata says so or, in a browser
    that sends none, the Referer does (neither can be set by the page of another site)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    return bool(request.referrer) and _origin(request.referrer) == _origin(base_url())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@bp.get("/register")
@limiter.limit("20 per minute")
def register():
    tenant = registration.tenant_for_registration(request.args.get("tenant"), request.args.get("code"))
    platform = registration.register(
        tenant, request.args.get("openid_configuration", ""), request.args.get("registration_token")
    )
    return render_template("lti/registered.html", platform=platform)


@bp.get("/jwks")
def jwks():
    response = jsonify({"keys": keys.published_keys()})
    response.cache_control.max_age = 300
    response.cache_control.public = True
    return response


@bp.get("/config.json")
def canvas_config():
    return jsonify(tool_config.canvas_configuration())


@bp.route("/deep-linking", methods=["GET", "POST"])
def deep_linking():

    context = _deep_link_context()
    if request.method == "GET":
        return render_template("lti/deep_linking.html", courses=dl.course_choices(), context=context)
    chosen = request.form.getlist("course")
    html = dl.response_form(context, chosen, actor=f"learner:{current_user.id}")
    storage.store().take(f"deep-link-{session['lti']['deep_link']}")
    session["lti"] = {**session["lti"], "deep_link": None}
    return html


def _deep_link_context() -> dict:

    context = session.get("lti") or {}
    if context and context.get("role") != "instructor":
        raise Forbidden(gettext("Only instructors and administrators can choose content for the LMS."))
    key = context.get("deep_link")
    record = storage.store().get(f"deep-link-{key}") if key else None
    if record is None:
        raise errors.LaunchFailed("expired", "no deep linking context in this session")
    return record
