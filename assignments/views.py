"""A learner's list of their training, and the HR console's reminders and waivers. Thin: parse,
call one service, render."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from assignments import queries, services
from training_app.auth.access import learner_required, staff_required
from training_app.edge import page_number
from training_app.errors import ValidationFailed

bp = Blueprint("assignments", __name__, template_folder="templates")


@bp.get("/learn/")
@learner_required
def my_training():
    rows = queries.assignments_of_person(current_user.tenant_id, current_user.id)
    return render_template("assignments/my_training.html", rows=rows)


@bp.get("/console/reminders")
@staff_required()
def reminders():
    found = queries.reminder_page(current_user.tenant_id, page=page_number())
    return render_template("assignments/reminders.html", found=found)


@bp.post("/console/assignments/<int:enrolment_id>/waive")
@staff_required(role="hr_admin")
def waive(enrolment_id: int):
    reason = request.form.get("reason", "")
    if len(reason) > 1000:
        raise ValidationFailed(gettext("The reason is too long (1,000 characters at most)."))
    enrolment = services.waive(
        current_user.tenant_id, enrolment_id, reason=reason, actor=f"staff:{current_user.id}"
    )
    flash(gettext("The assignment is waived; it shows as waived from now on."), "success")
    return redirect(url_for("reports.learner", user_id=enrolment.user_id), 303)
