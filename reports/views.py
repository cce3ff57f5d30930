from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from quizzes import services as quiz_services
from reports import progress, services
from reports.forms import GrantAttemptForm, LearnerFilter, StaffForm
from training_app.auth.access import staff_required
from training_app.errors import ValidationFailed

bp = Blueprint("reports", __name__, url_prefix="/console", template_folder="templates")


@bp.get("/")
@staff_required()
def console():
    summary = services.console_summary(current_user.tenant_id)
    return render_template("reports/console.html", summary=summary)


@bp.get("/audit")
@staff_required()
def audit_log():
    page = request.args.get("page", 1, type=int)
    events, has_more = services.audit_page(current_user.tenant_id, page=max(page, 1))
    chain = services.audit_chain_status(current_user.tenant_id)
    return render_template("reports/audit.html", events=events, page=page, has_more=has_more, chain=chain)


@bp.get("/staff")
@staff_required()
def staff_list():
    return render_template(
        "reports/staff.html", staff=services.staff_of(current_user.tenant_id), form=StaffForm(), created=None
    )


@bp.post("/staff")
@staff_required(role="hr_admin")
def staff_create():
    form = StaffForm()
    if not form.validate_on_submit():
        return render_template(
            "reports/staff.html", staff=services.staff_of(current_user.tenant_id), form=form, created=None
        ), 422
    account, password = services.invite_staff(
        current_user, form.email.data, form.name.data, form.role.data, ip_address=request.remote_addr
    )
    return render_template(
        "reports/staff.html",
        staff=services.staff_of(current_user.tenant_id),
        form=StaffForm(formdata=None),
        created=(account, password),
    ), 201


@bp.get("/courses")
@staff_required()
def courses():
    return render_template("reports/courses.html", rows=services.course_rows(current_user.tenant_id))


@bp.get("/learners")
@staff_required()
def learners():
    filters = LearnerFilter(request.args)
    chosen = filters.data if filters.validate() else {}
    rows = progress.enrolment_rows(
        current_user.tenant_id,
        department=chosen.get("department") or None,
        status=chosen.get("status") or None,
        course_slug=chosen.get("course") or None,
    )
    return render_template(
        "reports/learners.html",
        rows=rows,
        filters=filters,
        departments=progress.departments(current_user.tenant_id),
        courses=services.course_rows(current_user.tenant_id),
        statuses=progress.STATUS_LABELS,
    )


@bp.get("/learners/<int:user_id>")
@staff_required()
def learner(user_id: int):
    record = progress.learner_record(current_user.tenant_id, user_id)
    return render_template("reports/learner.html", record=record, grant_form=GrantAttemptForm())


@bp.post("/enrolments/<int:enrolment_id>/grant-attempt")
@staff_required(role="hr_admin")
def grant_attempt(enrolment_id: int):
    enrolment = progress.tenant_enrolment(current_user.tenant_id, enrolment_id)
    form = GrantAttemptForm()
    if not form.validate_on_submit():
        raise ValidationFailed(
            "Give a short reason for the extra attempt (it goes in the audit log).", errors=form.errors
        )
    quiz_services.grant_attempt(enrolment, current_user.id, form.reason.data, request.remote_addr)
    flash("Another attempt was granted; the learner can start it now.", "success")
    return redirect(url_for(".learner", user_id=enrolment.user_id), 303)
