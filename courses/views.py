"""Learner pages. Thin: parse, call one service, render. Plain links and forms throughout."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_user

from courses import services
from courses.forms import AttestationForm
from training_app.auth.access import learner_required, not_launched, signed_in_learner_id, staff_required
from training_app.errors import ValidationFailed
from training_app.extensions import db, without_transaction
from training_app.i18n import use_locale
from training_app.models import StaffAccount

bp = Blueprint("courses", __name__, url_prefix="/courses", template_folder="templates")

PREVIEW_KEY = "preview_of_staff"


@bp.get("/<course_slug>/")
@without_transaction  # reads only
def overview(course_slug: str):
    return render_overview(signed_in_learner_id(), course_slug)


def render_overview(user_id: int, course_slug: str, *, answering_a_post: bool = False) -> str:
    """The page every launch lands on: one statement, which also reads the learner's row (Flask-Login
    does not load it here).

    `answering_a_post`: the page is the answer to the LMS's launch POST (lti.views.launch), not to a
    GET of its own address. It then puts its address in the browser's history in place of the POST,
    so a reload or the Back button reads it again instead of resending the launch.
    """
    page = services.learner_overview(user_id, course_slug)
    if page is None:  # the learner this session names was deleted
        raise not_launched()
    use_locale(page.locale)
    address = url_for("courses.overview", course_slug=course_slug) if answering_a_post else None
    return render_template("courses/overview.html", page=page, address=address)


@bp.get("/<course_slug>/continue")
@learner_required
def resume(course_slug: str):
    enrolment = services.learner_enrolment(current_user, course_slug)
    page = services.overview(enrolment, current_user.locale)
    if page.next_step == "lesson" and page.next_lesson:
        return redirect(url_for(".lesson", course_slug=course_slug, lesson_slug=page.next_lesson))
    if page.next_step == "attestation":
        return redirect(url_for(".attestation", course_slug=course_slug))
    if page.next_step == "quiz":
        return redirect(url_for("quizzes.start", course_slug=course_slug))
    return redirect(url_for(".overview", course_slug=course_slug))


@bp.get("/<course_slug>/lessons/<lesson_slug>")
@learner_required
def lesson(course_slug: str, lesson_slug: str):
    enrolment = services.learner_enrolment(current_user, course_slug)
    page = services.open_lesson(enrolment, lesson_slug, current_user.locale)
    use_locale(page.locale)
    return render_template("courses/lesson.html", page=page, course_slug=course_slug)


@bp.post("/<course_slug>/lessons/<lesson_slug>/complete")
@learner_required
def complete_lesson(course_slug: str, lesson_slug: str):
    enrolment = services.learner_enrolment(current_user, course_slug)
    next_slug = services.complete_lesson(enrolment, lesson_slug)
    if next_slug:
        return redirect(url_for(".lesson", course_slug=course_slug, lesson_slug=next_slug), 303)
    return redirect(url_for(".attestation", course_slug=course_slug), 303)


@bp.route("/<course_slug>/attestation", methods=["GET", "POST"])
@learner_required
def attestation(course_slug: str):
    enrolment = services.learner_enrolment(current_user, course_slug)
    page = services.attestation_page(enrolment, current_user, current_user.locale)
    use_locale(page.locale)
    form = AttestationForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            raise ValidationFailed(gettext("Please complete the attestation form."), errors=form.errors)
        try:
            services.attest(
                enrolment,
                current_user,
                confirmed=form.confirm.data,
                typed_name=form.typed_name.data,
                locale_preference=current_user.locale,
                ip_address=request.remote_addr,
                user_agent=request.user_agent.string,
            )
        except ValidationFailed as exc:
            return render_template(
                "courses/attestation.html", page=page, form=form, errors=exc.errors, course_slug=course_slug
            ), 422
        return redirect(url_for(".resume", course_slug=course_slug), 303)
    return render_template(
        "courses/attestation.html", page=page, form=form, errors={}, course_slug=course_slug
    ), status


@bp.post("/<course_slug>/preview")
@staff_required(role="hr_admin")
def start_preview(course_slug: str):
    staff = current_user._get_current_object()
    learner = services.preview_learner(staff.tenant_id, staff.id, staff.name or staff.email, staff.email)
    services.enrol(learner, course_slug, source="preview")
    login_user(learner)
    session[PREVIEW_KEY] = staff.id
    return redirect(url_for(".overview", course_slug=course_slug), 303)


@bp.post("/<course_slug>/preview/reset")
@staff_required(role="hr_admin")
def reset_preview(course_slug: str):
    staff = current_user._get_current_object()
    if services.reset_preview(staff.tenant_id, staff.id, course_slug):
        flash(gettext("Your preview of this course starts again from the beginning."), "success")
    else:
        flash(gettext("You have no preview of this course to reset."), "info")
    return redirect(url_for("reports.courses"), 303)


@bp.post("/preview/end")
def end_preview():
    staff_id = session.pop(PREVIEW_KEY, None)
    staff = db.session.get(StaffAccount, staff_id) if staff_id else None
    if staff is None or not staff.active or getattr(current_user, "tenant_id", None) != staff.tenant_id:
        abort(403)
    login_user(staff)
    return redirect(url_for("reports.courses"), 303)


@bp.app_context_processor
def _preview_banner():
    return {"previewing": has_request_context() and PREVIEW_KEY in session}  # emails render outside one
