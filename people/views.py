"""The HR console's employee import, and a learner's sign-in without an LMS. Thin: parse, call one
service, render."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select

from people import services, sign_in
from people.errors import ImportRefused
from training_app.auth.access import signed_in_learner, staff_required
from training_app.auth.signing_in import start_learner_session
from training_app.errors import NotFound, ValidationFailed
from training_app.extensions import db, limiter
from training_app.models import Tenant

bp = Blueprint("people", __name__, template_folder="templates")

MAX_FILE_BYTES = 20 * 1024 * 1024
SIGN_IN_LIMIT = "5 per minute;20 per hour"


@bp.route("/console/employees/import", methods=["GET", "POST"])
@staff_required()
def import_employees():
    if request.method == "GET":
        return render_template("people/import.html", result=None, refused=None)
    if not current_user.can_manage:
        return render_template("people/import.html", result=None, refused=None, readonly=True), 403
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed(
            gettext("Choose the CSV file to import."), errors={"file": gettext("required")}
        )
    data = upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValidationFailed(
            gettext("The file is larger than 20 MB; split it."), errors={"file": gettext("too large")}
        )
    tenant = db.session.get(Tenant, current_user.tenant_id)
    dry_run = request.form.get("dry_run") == "1"
    try:
        result = services.import_employees(tenant, data, dry_run=dry_run, actor=f"staff:{current_user.id}")
    except ImportRefused as refused:
        return render_template("people/import.html", result=None, refused=refused), 422
    if dry_run:
        db.session.rollback()
    return render_template("people/import.html", result=result, refused=None)


@bp.route("/learn/<tenant_slug>/sign-in", methods=["GET", "POST"])
@limiter.limit(SIGN_IN_LIMIT, methods=["POST"])
def sign_in_page(tenant_slug: str):
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None:
        raise NotFound(gettext("There is no such organisation. Use the link from your reminder email."))
    course = request.values.get("course") or None
    if request.method == "GET":
        return render_template(
            "people/sign_in.html",
            tenant=tenant,
            course=course,
            sent=False,
            email=request.args.get("email", ""),
        )
    email = request.form.get("email", "").strip()
    if "@" not in email or len(email) > 320:
        raise ValidationFailed(
            gettext("Type your work email address."), errors={"email": gettext("required")}
        )
    sign_in.request_link(tenant, email, course)
    return render_template("people/sign_in.html", tenant=tenant, course=course, sent=True, email=email)


@bp.route("/learn/sign-in/<token>", methods=["GET", "POST"])
def use_sign_in_link(token: str):
    """GET shows a button (mail scanners open links; they must not use them up); POST signs in."""
    if request.method == "GET":
        return render_template("people/sign_in_confirm.html", link=sign_in.peek(token), token=token)
    link = sign_in.use_link(token)
    learner = signed_in_learner(link.user_id)
    if learner is None:
        raise NotFound(gettext("This person is no longer in the organisation's records."))
    start_learner_session(learner)
    if link.course_slug:
        return redirect(url_for("courses.overview", course_slug=link.course_slug), 303)
    return redirect(url_for("assignments.my_training"), 303)
