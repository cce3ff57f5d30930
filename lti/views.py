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
from flask_login import current_user, login_user

from courses.views import render_overview
from lti import claims, errors, framing, keys, registration, services, storage, tool_config
from lti import deep_linking as dl
from lti.launch import lti_request, new_launch, new_login
from lti.platform_cache import PlatformRecord, find_platform
from training_app.auth.access import SignedInLearner, signed_in_learner
from training_app.errors import Forbidden
from training_app.extensions import csrf, limiter, without_transaction
from training_app.urls import external_url

bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates")

LOGIN_RECORD_TTL = 600
CONTINUE_TTL = 120
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
        if not (
            pending and pending.get("storage_target") and request.form.get("lti_storage_verified") == "1"
        ):
            return _cookieless_launch(pending, state)
    verified_by_platform = not cookie_ok  # the platform's storage vouched for the state instead
    # The login is used once, taken atomically first: a replay, even two at the same moment, fails.
    record = storage.store().take(f"login-{state}")
    if record is None:
        raise errors.LaunchFailed("replayed", "no pending login for this state")
    if unverified_nonce(request.form.get("id_token", "")) != record["nonce"]:
        raise errors.LaunchFailed("state", "the id_token's nonce was not issued with this state")
    message_launch = new_launch(lti_request())
    try:
        body = message_launch.body()
        platform = _platform_of(body)
        outcome = services.process_launch(platform, body)
    except errors.LIBRARY_ERRORS as exc:
        raise errors.launch_failed(exc) from None
    login_user(outcome.user)
    _remember_launch(outcome, body, platform)
    if verified_by_platform:  # cookies are blocked in this frame: continue in a new window
        return _continue_in_new_window(outcome.user, _landing_url(outcome))
    if _lands_on_course_overview(outcome):
        # The launch answers with the learner's page: one round trip fewer than redirecting to it.
        framing.frame_as_a_launched_page()
        return render_overview(outcome.user.id, outcome.course_slug, answering_a_post=True)
    return redirect(_landing_url(outcome), 303)


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


def _cookieless_launch(record: dict | None, state: str):
    """The state cookie did not come back: the browser blocks cookies in the LMS frame."""
    if record is None:
        raise errors.LaunchFailed("state", f"no login record for state {state[:12]}")
    if record.get("storage_target"):
        return render_template(
            "lti/platform_storage_get.html",
            state=state,
            target=record["storage_target"],
            platform_origin=record["auth_origin"],
            id_token=request.form.get("id_token", ""),
        ), 200
    restart = external_url("lti.login", **record["params"])
    return render_template("lti/open_in_new_window.html", url=restart), 200


def _continue_in_new_window(user: SignedInLearner, target: str):
    token = secrets.token_urlsafe(24)
    # The frame's session cookie is blocked too: carry the launch context to the new window.
    record = {"user_id": user.id, "target": target, "lti": session.get("lti")}
    storage.store().put(f"continue-{token}", record, CONTINUE_TTL)
    return render_template(
        "lti/open_in_new_window.html", url=external_url("lti.continue_launch", token=token)
    ), 200


@bp.get("/continue/<token>")
@limiter.limit("30 per minute")
def continue_launch(token: str):
    """Top-level continuation of a launch made in a frame without cookies (single use, 2 minutes)."""
    record = storage.store().take(f"continue-{token}")
    if record is None:
        raise errors.LaunchFailed("expired", "continue token unknown or used")
    user = signed_in_learner(record["user_id"])
    if user is None:
        raise errors.LaunchFailed("expired", "the launched user no longer exists")
    login_user(user)
    session["lti"] = record.get("lti")
    return redirect(record["target"], 303)


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
