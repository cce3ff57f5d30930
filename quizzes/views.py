"""Quiz pages: plain HTML forms, graded on the server."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext
from flask_login import current_user

from courses import services as learning
from courses.publishing import version_by_id
from quizzes import form_snapshot, services
from quizzes.published_banks import bank_for_version
from training_app.auth.access import learner_required, signed_in_learner_id
from training_app.errors import ValidationFailed
from training_app.extensions import without_transaction
from training_app.i18n import use_locale

bp = Blueprint("quizzes", __name__, url_prefix="/quiz", template_folder="templates")

ANSWER_PREFIX = "q-"
NOTICES = {
    "already-submitted": lazy_gettext(
        "This attempt was already submitted (perhaps in another tab); here is its result."
    ),
}


@bp.get("/<course_slug>/")
@learner_required
def start(course_slug: str):
    enrolment = learning.learner_enrolment(current_user, course_slug)
    standing = services.standing(enrolment)
    page = learning.overview(enrolment, current_user.locale)
    use_locale(page.locale)
    return render_template("quizzes/start.html", standing=standing, page=page, course_slug=course_slug)


@bp.post("/<course_slug>/attempts")
@learner_required
def begin(course_slug: str):
    enrolment = learning.learner_enrolment(current_user, course_slug)
    attempt = services.start_attempt(enrolment, current_user.locale)
    return redirect(url_for(".attempt", attempt_id=attempt.id), 303)


@bp.get("/attempts/<int:attempt_id>")
@learner_required
def attempt(attempt_id: int):
    attempt = services.close_if_expired(services.learner_attempt(current_user.id, attempt_id))
    return _render_attempt(attempt, notice=NOTICES.get(request.args.get("notice", "")))


@bp.post("/attempts/<int:attempt_id>")
@without_transaction  # a failed attempt's grade is one statement; services.submit begins the rest
def submit(attempt_id: int):
    """Graded, then post/redirect/get: a reload or the back button shows the result, never resubmits.

    The hottest write in the product: it needs only the learner's id, not their row.
    """
    learner_id = signed_in_learner_id()
    form = request.form
    answers = {
        key.removeprefix(ANSWER_PREFIX): form.getlist(key) for key in form if key.startswith(ANSWER_PREFIX)
    }
    snapshot = form_snapshot.read(form.get(form_snapshot.FIELD), attempt_id, learner_id)
    try:
        submission = services.submit(learner_id, attempt_id, answers, snapshot)
    except ValidationFailed as exc:
        attempt = services.learner_attempt(learner_id, attempt_id)
        return _render_attempt(attempt, errors=exc.errors, summary=exc.message, selected=answers), 422
    notice = {"notice": "already-submitted"} if submission.already_submitted else {}
    return redirect(url_for(".attempt", attempt_id=attempt_id, **notice), 303)


def _render_attempt(attempt, *, errors=None, summary=None, selected=None, notice=None):
    version = version_by_id(attempt.course_version_id)
    bank = bank_for_version(version)
    use_locale(attempt.locale)
    reveal = services.may_review(attempt, bank)
    questions = services.question_views(attempt, bank, reveal=reveal, selected=selected)
    is_open = attempt.status == "open"
    template = "quizzes/attempt.html" if is_open else "quizzes/result.html"
    course_title = learning.course_text(version, "title", attempt.locale)
    return render_template(
        template,
        drawn=form_snapshot.sign(attempt, version.content_hash) if is_open else None,
        attempt=attempt,
        bank=bank,
        questions=questions,
        errors=errors or {},
        summary=summary,
        notice=notice,
        reveal=reveal,
        course=version.course,
        course_title=course_title,
    )
