"""A learner's list of their training, and the HR console's reminders and waivers. Thin: parse,
call one service, render."""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from assignments import queries, services
from courses.publishing import published_courses
from training_app.auth.access import learner_required, staff_required
from training_app.edge import page_number
from training_app.errors import ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant

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


@bp.route("/console/assignments/new", methods=["GET", "POST"])
@staff_required(role="hr_admin")
def assign():
    if request.method == "GET":
        return _assign_form(form={})
    try:
        assignment = _hr_assignment(request.form)
        tenant = db.session.get(Tenant, current_user.tenant_id)
        count = services.assign_by_hr(tenant, assignment, actor=f"staff:{current_user.id}")
    except ValidationFailed as refused:
        return _assign_form(form=request.form, refused=refused), 422
    flash(
        gettext(
            "Assigned to %(count)d person(s), due %(due)s. "
            "Anyone already working on the course now has this due date.",
            count=count,
            due=assignment.due_on.isoformat(),
        ),
        "success",
    )
    return redirect(url_for("assignments.assign"), 303)


def _assign_form(*, form, refused: ValidationFailed | None = None):
    return render_template(
        "assignments/assign.html",
        courses=[course for course, _version in published_courses()],
        departments=queries.departments(current_user.tenant_id),
        form=form,
        refused=refused,
    )


def _hr_assignment(form) -> services.HrAssignment:
    who = form.get("who", "")
    if who not in ("department", "people", "everyone"):
        raise ValidationFailed(
            gettext("Choose who: a department, a list of employee ids, or everyone (one of them)."),
            errors={"who": gettext("choose one")},
        )
    return services.HrAssignment(
        course_slug=form.get("course", ""),
        due_on=_due_date(form.get("due_on", "")),
        department=form.get("department") or None if who == "department" else None,
        employee_ids=tuple(re.split(r"[\s,;]+", form.get("employee_ids", "").strip()))
        if who == "people"
        else (),
        everyone=who == "everyone",
    )


def _due_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            gettext("The due date must be a date like 2027-03-31."), errors={"due_on": gettext("not a date")}
        ) from None
