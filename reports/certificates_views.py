"""HR console: certificates (list, download, ZIP, revoke) and their branding."""

from __future__ import annotations

import io
import zipfile

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from certificates import render, services
from certificates.errors import InvalidBranding
from certificates.models import Branding
from certificates.views import pdf_response
from reports.errors import NothingMatches
from reports.forms import BrandingForm, CertificateFilterForm, RevokeForm
from reports.progress import departments
from reports.services import course_rows
from reports.views import bp
from training_app.auth.access import staff_required
from training_app.db import utcnow
from training_app.downloads import download_headers
from training_app.errors import Forbidden, ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant

PAGE_LIMIT = 500


def _filters(form: CertificateFilterForm) -> services.CertificateFilter:
    data = form.data if form.validate() else {}
    return services.CertificateFilter(
        course=data.get("course") or None,
        department=data.get("department") or None,
        status=data.get("status") or None,
    )


@bp.get("/certificates")
@staff_required()
def certificates():
    form = CertificateFilterForm(request.args)
    rows = services.certificates_of(current_user.tenant_id, _filters(form), limit=PAGE_LIMIT)
    now = utcnow()
    return render_template(
        "reports/certificates.html",
        rows=rows,
        form=form,
        now=now,
        limit=PAGE_LIMIT,
        departments=departments(current_user.tenant_id),
        revoke_form=RevokeForm(),
        courses=course_rows(current_user.tenant_id),
    )


@bp.get("/certificates/<int:certificate_id>.pdf")
@staff_required()
def certificate_pdf(certificate_id: int):
    return pdf_response(services.tenant_certificate(current_user.tenant_id, certificate_id))


@bp.get("/certificates/export.zip")
@staff_required()
def certificates_zip():
    chosen = services.certificates_of(current_user.tenant_id, _filters(CertificateFilterForm(request.args)))
    if not chosen:
        raise NothingMatches(gettext("No certificate matches these filters."), errors={"filters": "no match"})
    branding = services.branding_for(current_user.tenant_id)
    tenant_slug = db.session.get(Tenant, current_user.tenant_id).slug
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for certificate in chosen:
            archive.writestr(services.filename_of(certificate), services.pdf_of(certificate, branding))
    return Response(
        buffer.getvalue(),
        mimetype="application/zip",
        headers=download_headers(f"certificates-{tenant_slug}-{utcnow():%Y%m%dT%H%M%SZ}.zip"),
    )


@bp.post("/certificates/<int:certificate_id>/revoke")
@staff_required(role="hr_admin")
def revoke_certificate(certificate_id: int):
    certificate = services.tenant_certificate(current_user.tenant_id, certificate_id)
    form = RevokeForm()
    if not form.validate_on_submit():
        raise ValidationFailed(
            gettext(
                "Give the reason for revoking (kept in the audit log, never shown publicly) and tick the "
                "box to confirm."
            ),
            errors=form.errors,
        )
    services.revoke(
        certificate, staff_id=current_user.id, reason=form.reason.data, ip_address=request.remote_addr
    )
    flash(
        gettext(
            "Certificate %(code)s is revoked; its verification page says so from now on.",
            code=certificate.code,
        ),
        "success",
    )
    return redirect(url_for(".certificates"), 303)


@bp.route("/branding", methods=["GET", "POST"])
@staff_required()
def branding():
    form = BrandingForm()
    if request.method == "GET":
        form.load(db.session.get(Branding, current_user.tenant_id))
        return render_template("reports/branding.html", form=form, errors={})
    if not current_user.can_manage:
        raise Forbidden(
            gettext(
                "Your role, %(role)s, can view but not change this. Ask an HR administrator.",
                role=gettext(current_user.role_label),
            )
        )
    if not form.validate_on_submit():
        return render_template("reports/branding.html", form=form, errors=form.errors), 422
    upload = form.logo.data
    logo = (upload.read(), upload.mimetype) if upload and upload.filename else None
    try:
        services.save_branding(
            current_user.tenant_id,
            staff_id=current_user.id,
            primary_colour=form.primary_colour.data,
            accent_colour=form.accent_colour.data,
            signatory_name=form.signatory_name.data,
            signatory_title=form.signatory_title.data,
            initials_only=form.initials_only.data,
            logo=logo,
            remove_logo=form.remove_logo.data,
        )
    except InvalidBranding as exc:
        return render_template("reports/branding.html", form=form, errors=exc.errors), 422
    flash(gettext("Branding saved. New downloads use it at once."), "success")
    return redirect(url_for(".branding"), 303)


@bp.get("/branding/preview.png")
@staff_required()
def branding_preview():
    tenant = db.session.get(Tenant, current_user.tenant_id)
    pdf = render.render_certificate_pdf(
        services.sample_certificate(tenant.id), services.branding_for(tenant.id)
    )
    return Response(
        render.render_preview_png(pdf, width_px=900),
        mimetype="image/png",
        headers={"Cache-Control": "no-store"},
    )
