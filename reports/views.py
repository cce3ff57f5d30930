from flask import Blueprint, render_template, request
from flask_login import current_user

from reports import services
from reports.forms import StaffForm
from training_app.auth.access import staff_required

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
