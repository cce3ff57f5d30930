"""Public verification, the learner's downloads and the public Open Badges documents."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from certificates import badges, services
from certificates.errors import InvalidCertificateCode
from courses import publishing
from training_app.auth.access import learner_required
from training_app.downloads import download_headers
from training_app.errors import wants_json
from training_app.extensions import limiter

bp = Blueprint("certificates", __name__, template_folder="templates")

VERIFY_LIMIT = "30 per minute"


@bp.get("/verify")
@limiter.limit(VERIFY_LIMIT)
def verify_form():
    code = request.args.get("code", "").strip()
    if code:
        return redirect(url_for(".verify_page", code=code))
    return render_template("certificates/verify_form.html")


@bp.get("/verify/<code>.json")
@limiter.limit(VERIFY_LIMIT)
def verify_json(code: str):
    return jsonify(services.verify(code).as_json())


@bp.get("/verify/<code>")
@limiter.limit(VERIFY_LIMIT)
def verify_page(code: str):
    result = services.verify(code)
    if wants_json():
        return jsonify(result.as_json())
    return render_template(
        "certificates/verify.html", result=result
    ), 404 if result.status == "unknown" else 200


@bp.errorhandler(InvalidCertificateCode)
def _bad_code(exc: InvalidCertificateCode):
    if wants_json() or request.path.endswith(".json"):
        return jsonify(code="invalid_certificate_code", status=400, message=exc.message, errors={}), 400
    return render_template(
        "certificates/verify_form.html",
        error=exc.message,
        entered=request.view_args.get("code", "")[:64] if request.view_args else "",
    ), 400


@bp.get("/certificates/<int:certificate_id>.pdf")
@learner_required
def download(certificate_id: int):
    certificate = services.learner_certificate(current_user.id, certificate_id)
    return pdf_response(certificate)


@bp.get("/certificates/<int:certificate_id>/credential.jwt")
@learner_required
def credential_jwt(certificate_id: int):
    certificate = services.learner_certificate(current_user.id, certificate_id)
    return Response(
        badges.credential_jwt(certificate),
        mimetype="application/vc+jwt",
        headers=download_headers(f"open-badge-{certificate.code}.jwt"),
    )


@bp.get("/certificates/<int:certificate_id>/credential.json")
@learner_required
def credential_json(certificate_id: int):
    certificate = services.learner_certificate(current_user.id, certificate_id)
    return jsonify(badges.credential(certificate))


def pdf_response(certificate) -> Response:
    return Response(
        services.pdf_of(certificate),
        mimetype="application/pdf",
        headers=download_headers(services.filename_of(certificate), f"certificate-{certificate.code}"),
    )


@bp.get("/credentials/issuers/<tenant_slug>")
def issuer_profile(tenant_slug: str):
    return jsonify(badges.issuer_profile(tenant_slug))


@bp.get("/credentials/achievements/<course_slug>")
def achievement(course_slug: str):

    course, version = publishing.course_by_slug(course_slug)
    return jsonify(
        {
            "id": request.url,
            "type": ["Achievement"],
            "name": course.title,
            "description": version.manifest["summary"],
            "criteria": {"narrative": badges.CRITERIA},
        }
    )


@bp.get("/credentials/status/<tenant_slug>")
def revocation_list(tenant_slug: str):
    response = jsonify(badges.revocation_list(tenant_slug))
    response.cache_control.max_age = 60
    return response


@bp.get("/credentials/keys/<kid>")
def credential_key(kid: str):
    return jsonify(badges.public_key(kid))
