"""HR console: LMS connections (LTI platforms), the tool's configuration and dynamic registration."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from lti import registration, services, tool_config
from reports.forms import DeploymentForm, PlatformForm
from reports.views import bp
from training_app.auth.access import staff_required
from training_app.errors import DomainError
from training_app.extensions import db
from training_app.models import Tenant

FORM_FIELDS = {"deployment_id": "deployment_ids"}  # service error keys that name a form field differently


def _page(
    platform_form: PlatformForm | None = None,
    deployment_form: DeploymentForm | None = None,
    failed_platform_id: int | None = None,
    status: int = 200,
):
    tenant = db.session.get(Tenant, current_user.tenant_id)
    # The code lets whoever holds it register an LMS for the tenant: only those who may change things
    # see it.
    # An error response rolls back, so a code created now would not be kept: show only a saved one.
    code = None
    if current_user.can_manage:
        code = registration.registration_code(tenant) if status < 400 else registration.current_code(tenant)
    dynamic_url = tool_config.registration_url(tenant.slug, code) if code else None
    return render_template(
        "reports/lms.html",
        platforms=services.platforms_of(tenant.id),
        configuration=tool_config.values(dynamic_url),
        dynamic_url=dynamic_url,
        form=platform_form or PlatformForm(formdata=None),
        deployment_form=deployment_form or DeploymentForm(formdata=None),
        failed_platform_id=failed_platform_id,
    ), status


@bp.get("/lms")
@staff_required()
def lms():
    return _page()


@bp.post("/lms")
@staff_required(role="hr_admin")
def lms_add_platform():
    form = PlatformForm()
    if not form.validate_on_submit():
        return _page(platform_form=form, status=422)
    fields = services.PlatformFields(
        issuer=form.issuer.data,
        client_id=form.client_id.data,
        deployment_ids=form.deployment_id_list(),
        auth_login_url=form.auth_login_url.data,
        auth_token_url=form.auth_token_url.data,
        key_set_url=form.key_set_url.data,
        token_audience=form.token_audience.data or None,
        name=form.name.data or "",
    )
    try:
        platform = services.add_platform(
            db.session.get(Tenant, current_user.tenant_id),
            fields,
            actor=f"staff:{current_user.id}",
            ip_address=request.remote_addr,
        )
    except DomainError as exc:
        for name, problem in exc.errors.items():
            getattr(form, FORM_FIELDS.get(name, name)).errors.append(problem)
        return _page(platform_form=form, status=exc.status)
    flash(f"{platform.name} is connected. Launches from it work now.", "success")
    return redirect(url_for(".lms"), 303)


@bp.post("/lms/<int:platform_id>/deployments")
@staff_required(role="hr_admin")
def lms_add_deployment(platform_id: int):
    platform = services.tenant_platform(current_user.tenant_id, platform_id)
    form = DeploymentForm()
    if not form.validate_on_submit():
        return _page(deployment_form=form, failed_platform_id=platform.id, status=422)
    try:
        services.add_deployment(
            platform,
            form.deployment_id.data,
            actor=f"staff:{current_user.id}",
            ip_address=request.remote_addr,
        )
    except DomainError as exc:
        form.deployment_id.errors.extend(exc.errors.values() or [exc.message])
        return _page(deployment_form=form, failed_platform_id=platform.id, status=exc.status)
    flash(f"Deployment {form.deployment_id.data.strip()} added to {platform.name}.", "success")
    return redirect(url_for(".lms"), 303)
