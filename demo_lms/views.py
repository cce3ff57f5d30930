"""The demo LMS's pages and endpoints (registered outside production only).

/demo/try is the LMS page a learner starts from; /demo/lms/* is the platform the tool talks to.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request
from flask_babel import gettext

from demo_lms import launches, lms, platform
from training_app.errors import DomainError
from training_app.extensions import csrf
from training_app.urls import external_url

bp = Blueprint("demo_lms", __name__, url_prefix="/demo", template_folder="templates")


@bp.get("/try")
def try_it():
    try:
        tenant = launches.demo_tenant()
    except launches.DemoNotReady as not_ready:
        return render_template("demo_lms/try.html", problem=not_ready.message)
    return render_template(
        "demo_lms/try.html",
        courses=launches.course_titles(),
        first_course=launches.FIRST_COURSE,
        languages=launches.LANGUAGES,
        learners=launches.demo_learners(tenant),
        new_learner=launches.NEW_LEARNER,
    )


@bp.post("/try")
def start_from_page():
    choice = launches.launch_choice(
        request.form.get("course", ""), request.form.get("locale", ""), request.form.get("learner")
    )
    return redirect(launches.begin_launch(choice), 303)


@bp.get("/lms/start/<token>")
def start(token: str):
    """The one-time link `flask demo launch` prints."""
    return redirect(launches.begin_launch(launches.choice_of_start_link(token)), 303)


@bp.get("/lms/auth")
def authorize():
    try:
        answer = lms.authorize(request.args.to_dict())
    except lms.LmsRefusal as refusal:
        raise DomainError(
            gettext("The demo LMS refused this login: %(reason)s.", reason=refusal.description),
            status=refusal.status,
            code=refusal.error,
        ) from None
    response = render_template("demo_lms/auth_post.html", answer=answer)
    return response, 200, {"Cache-Control": "no-store"}


@bp.get("/lms/jwks")
def jwks():
    return jsonify(platform.jwks())


@bp.post("/lms/token")
@csrf.exempt
def token():
    answer = lms.grant_token(request.form.to_dict(), external_url("demo_lms.token"))
    return jsonify(answer), 200, {"Cache-Control": "no-store"}


@bp.get("/lms/lineitems/<course>")
def lineitem(course: str):
    lms.bearer_scopes(request.headers.get("Authorization"))
    return jsonify(lms.lineitem(course))


@bp.post("/lms/lineitems/<course>/scores")
@csrf.exempt
def scores(course: str):
    scopes = lms.bearer_scopes(request.headers.get("Authorization"))
    lms.record_score(course, scopes, request.content_type, request.get_json(force=True, silent=True))
    return "", 204


@bp.get("/lms/gradebook")
def gradebook():
    rows, launches_made = lms.gradebook()
    return render_template("demo_lms/gradebook.html", rows=rows, launches_made=launches_made)


@bp.errorhandler(lms.LmsRefusal)
def refused(refusal: lms.LmsRefusal):
    """The answer of an OAuth2 or AGS endpoint: JSON, as a real LMS gives it."""
    headers = {"WWW-Authenticate": f'Bearer error="{refusal.error}"'} if refusal.status == 401 else {}
    return jsonify(error=refusal.error, error_description=refusal.description), refusal.status, headers
