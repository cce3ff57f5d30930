"""/api/v1/certificates: the tenant's certificates; verify a code; revoke one
(certificates.services, as on the console)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import request

from api import paging, queries, schemas
from api.core import PREFIX, READ_ERRORS, WRITE_ERRORS, ApiBlueprint, current_token, documented_errors, secure
from certificates import services
from training_app.errors import Conflict, ValidationFailed

blp = secure(
    ApiBlueprint(
        "Certificates",
        __name__,
        url_prefix=f"{PREFIX}/certificates",
        description="Certificates: one per completed cycle, with a public verification code.",
    )
)


@blp.route("")
@blp.arguments(schemas.CertificateQuery, location="query")
@blp.response(200, schemas.CertificatePage)
@documented_errors(blp, *READ_ERRORS)
def list_certificates(args: dict[str, Any]):
    """List certificates, in the order of `id`"""
    issued_from, issued_to = args.get("issued_from"), args.get("issued_to")
    if issued_from and issued_to and issued_from > issued_to:
        raise ValidationFailed(
            "issued_from is after issued_to: write a range that starts on or before its end.",
            errors={"issued_from": "after issued_to"},
        )
    filters = services.CertificateFilter(
        course=args.get("course"),
        department=args.get("department"),
        status=args.get("status"),
        issued_from=_start_of(issued_from),
        issued_to=_start_of(issued_to + timedelta(days=1)) if issued_to else None,
    )
    after = paging.position(args.get("cursor"), "certificates")
    found = queries.certificate_rows(current_token().tenant_id, filters, after=after, limit=args["limit"])
    page = paging.page(found, args["limit"], "certificates", key=lambda certificate: certificate.id)
    return {**page, "data": [queries.certificate_json(certificate) for certificate in page["data"]]}


@blp.route("/verify")
@blp.arguments(schemas.VerifyQuery, location="query")
@blp.response(200, schemas.Verification)
@documented_errors(blp, *READ_ERRORS)
def verify_certificate(args: dict[str, Any]):
    """Verify a certificate code

    What the public verification page says of it (valid, expired or revoked), for a certificate
    of your organisation; any other code is `unknown`. Spaces, dashes and look-alike letters are
    forgiven (O for 0, I and L for 1).
    """
    return queries.verification(current_token().tenant_id, args["code"])


@blp.route("/<int:certificate_id>")
@blp.response(200, schemas.Certificate)
@documented_errors(blp, 401, 403, 404, 429)
def get_certificate(certificate_id: int):
    """Get a certificate"""
    return queries.certificate_json(services.tenant_certificate(current_token().tenant_id, certificate_id))


@blp.route("/<int:certificate_id>/revoke", methods=["POST"])
@blp.arguments(schemas.Reason)
@blp.response(200, schemas.Certificate)
@documented_errors(blp, *WRITE_ERRORS)
def revoke_certificate(body: dict[str, Any], certificate_id: int):
    """Revoke a certificate, with a reason

    The verification page says it was revoked from now on; the reason stays in the audit log.
    """
    token = current_token()
    certificate = services.tenant_certificate(token.tenant_id, certificate_id)
    if certificate.revoked_at is not None:
        raise Conflict("This certificate is already revoked.", errors={"certificate": "revoked"})
    services.revoke(
        certificate, staff_id=None, reason=body["reason"], ip_address=request.remote_addr, actor=token.actor
    )
    return queries.certificate_json(certificate)


def _start_of(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), tzinfo=UTC) if day else None
