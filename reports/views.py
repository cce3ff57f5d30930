from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext
from flask_login import current_user

from quizzes import services as quiz_services
from reports import audit_log as audit_log_rows
from reports import charts, completions, dashboard, progress, services
from reports.filters import SORT_FIELDS, BadFilter, parse_filter
from reports.forms import GrantAttemptForm, StaffChangeForm, StaffForm
from reports.spreadsheet_cells import csv_lines
from training_app.auth.access import staff_required
from training_app.db import utcnow
from training_app.downloads import download_headers
from training_app.edge import page_number
from training_app.errors import ValidationFailed, wants_json
from training_app.extensions import db
from training_app.models import Tenant

bp = Blueprint("reports", __name__, url_prefix="/console", template_folder="templates")


def current_tenant() -> Tenant:
    return db.session.get(Tenant, current_user.tenant_id)


@bp.get("/")
@staff_required()
def console():
    board = dashboard.dashboard(current_user.tenant_id)
    return render_template("reports/console.html", board=board, charts=charts)


@bp.get("/audit")
@staff_required()
def audit_log():
    chosen = audit_log_rows.parse_filter(request.args)
    found = audit_log_rows.audit_page(current_user.tenant_id, chosen, page=page_number())
    chain = services.audit_chain_status(current_user.tenant_id)
    return render_template("reports/audit.html", found=found, chain=chain)


@bp.get("/audit/export.csv")
@staff_required()
def export_audit_log():
    chosen = audit_log_rows.parse_filter(request.args)
    tenant = current_tenant()
    audit_log_rows.record_export(tenant.id, f"staff:{current_user.id}", chosen, request.remote_addr)
    rows = audit_log_rows.export_rows(tenant.id, chosen)
    filename = f"audit-log-{tenant.slug}-{utcnow():%Y%m%dT%H%M%SZ}.csv"
    return Response(
        stream_with_context(csv_lines(rows)),
        mimetype="text/csv",
        headers=download_headers(filename, "audit-log"),
    )


@bp.post("/audit/verify")
@staff_required()  # reads only (and records where the chain was verified): auditors may run it
def verify_audit_chain():
    report = services.verify_audit_chain(current_user.tenant_id)
    if report.problem:
        flash(gettext("The audit chain is broken: %(problem)s", problem=str(report.problem)), "error")
    else:
        flash(gettext("The whole chain is intact: %(n)d event(s) verified.", n=report.events), "success")
    return redirect(url_for(".audit_log"), 303)


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


@bp.post("/staff/<int:staff_id>")
@staff_required(role="hr_admin")
def staff_change(staff_id: int):
    form = StaffChangeForm()
    if not form.validate_on_submit():
        raise ValidationFailed(
            gettext("Choose a role, or activate or deactivate the account."), errors=form.errors
        )
    active = {"activate": True, "deactivate": False}.get(form.action.data)
    role = form.role.data if form.action.data == "role" else None
    account = services.change_staff(
        current_user, staff_id, role=role, active=active, ip_address=request.remote_addr
    )
    flash(
        gettext("%(email)s is changed; their open sessions are signed out.", email=account.email), "success"
    )
    return redirect(url_for(".staff_list"), 303)


@bp.get("/courses")
@staff_required()
def courses():
    return render_template("reports/courses.html", rows=services.course_rows(current_user.tenant_id))


@bp.get("/learners")
@staff_required()
def learners():
    """The people and completions table: filters, sort and page in the URL (a bookmark)."""
    try:
        chosen = parse_filter(request.args)
    except BadFilter as refused:
        if wants_json():
            raise
        return _learners_page(None, problems=refused), 400
    scope = completions.scope_for(current_user.tenant_id)
    return _learners_page(completions.table_page(scope, chosen, page=page_number()), chosen=chosen)


def _learners_page(found, *, chosen=None, problems=None) -> str:
    return render_template(
        "reports/learners.html",
        found=found,
        chosen=chosen,
        problems=problems,
        args=request.args,
        departments=progress.departments(current_user.tenant_id),
        courses=services.course_rows(current_user.tenant_id),
        statuses=progress.STATUS_LABELS,
        sort_fields=SORT_FIELDS,
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
