"""Dispatch endpoints. The package's page (on the LMS's site) calls the JSON API across origins,
without cookies: a launch request signed with the package's secret, then the launch's bearer token.
The one-time link it opens signs the learner in, in its frame or a new window.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, request, session, url_for
from flask_babel import gettext

from dispatch import framing, launches
from dispatch.errors import LaunchExpired, LaunchRefused
from training_app.auth.signing_in import start_learner_session
from training_app.extensions import csrf
from training_app.urls import external_url

bp = Blueprint("dispatch", __name__, url_prefix="/dispatch", template_folder="templates")
API_PATH = "/dispatch/api/"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",  # any LMS site: every call carries a signature or a token
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept",
    "Access-Control-Max-Age": "600",
}
LAUNCH_FIELDS = ("dispatch_id", "learner_id", "learner_name", "timestamp", "nonce", "signature")


@bp.after_request
def _cross_origin(response):
    if request.path.startswith(API_PATH):
        response.headers.update(CORS_HEADERS)
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/launches")
@csrf.exempt
def start_launch():
    body = _json_body()
    fields = {name: body.get(name) if isinstance(body.get(name), str) else "" for name in LAUNCH_FIELDS}
    registration = body.get("registration") if isinstance(body.get("registration"), str) else None
    started = launches.start_launch(
        launches.LaunchRequest(**fields, registration=registration),
        frame_origins=framing.clean_origins(body.get("frame_origins")),
    )
    answer = _state_json(started.state)
    answer.update(
        token=started.token,
        enter_url=external_url("dispatch.enter", token=started.enter_token),
        opens_in=started.state.package.opens_in,
    )
    return jsonify(answer), 201


@bp.get("/api/launch")
def launch_status():
    return jsonify(_state_json(launches.launch_state(_bearer())))


@bp.post("/api/launch/reported")
@csrf.exempt
def launch_reported():
    completion_id = _json_body().get("completion_id")
    if not isinstance(completion_id, int) or isinstance(completion_id, bool):
        raise LaunchRefused(gettext("Say which result the LMS took (completion_id)."), code="bad_request")
    state = launches.launch_state(_bearer())
    launches.record_reported(state, completion_id)
    return jsonify({"reported": completion_id})


@bp.post("/api/launch/enter")
@csrf.exempt
def launch_enter_link():
    token = launches.new_enter_token(launches.launch_state(_bearer()))
    return jsonify({"enter_url": external_url("dispatch.enter", token=token)})


@bp.get("/enter/<token>")
def enter(token: str):
    """The one-time link: signs the launch's learner in and opens their course."""
    entry = launches.enter(token)
    start_learner_session(entry.learner)
    session.pop("lti", None)  # a launch by another door in this browser is not this one's context
    session[framing.FRAME_ORIGINS_KEY] = entry.frame_origins
    # In the package page's frame, or a window of its own ("Open in a new window"), as Fetch Metadata says.
    destination = request.headers.get("Sec-Fetch-Dest") or (
        "iframe" if entry.opens_in == "frame" else "document"
    )
    session["embedded"] = destination in ("iframe", "frame")
    return redirect(url_for("courses.overview", course_slug=entry.course_slug), 303)


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise LaunchRefused(gettext("Send the launch as a JSON object."), code="bad_request")
    return body


def _bearer() -> str:
    value = request.headers.get("Authorization", "")
    if value[:7].lower() != "bearer " or not value[7:].strip():
        raise LaunchExpired(gettext("This launch has ended. Open the course again from your LMS."))
    return value[7:].strip()


def _state_json(state: launches.LaunchState) -> dict[str, Any]:
    result = state.result
    return {
        "course": state.package.course_slug,
        "result": None
        if result is None
        else {
            "completion_id": result.completion_id,
            "status": result.status,
            "passed": result.passed,
            "score": result.score,
            "score_min": 0,
            "score_max": 100,
            "completed_at": result.completed_at.isoformat(timespec="seconds"),
        },
        "reported": state.reported,
    }
