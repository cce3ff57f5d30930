"""Issuing, verifying, revoking and rendering certificates. Services flush, never commit."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import Select, insert, select

from certificates import codes, hooks, render
from certificates.models import Branding, Certificate
from courses.services import RecordedResult
from training_app import audit
from training_app.db import utcnow
from training_app.errors import N_, DomainError, NotFound, ValidationFailed
from training_app.extensions import db, run_core
from training_app.models import Tenant, User
from training_app.tenancy import get_in_tenant
from training_app.urls import external_url


class CertificateRevoked(DomainError):
    status = 410
    code = "certificate_revoked"
    title = N_("This certificate was revoked")


# --- issuing --------------------------------------------------------------------------------------


def issue_for(completion: RecordedResult) -> int | None:
    """Result hook: a passed cycle gets its certificate (a failed one gets none); its id."""
    if completion.status != "completed":
        return None
    certificate = {
        **{name: getattr(completion, name) for name in _OF_THE_RESULT},
        **_generated_fields(completion),
        "completion_id": completion.id,
        "holder_name": holder_name(completion),
        "holder_email": completion.learner_email,
        "locale": completion.attested_locale or "en",
    }
    certificate_id, code = run_core(_INSERT_CERTIFICATE, certificate).scalar_one(), certificate["code"]
    audit.record_event(
        completion.tenant_id,
        f"learner:{completion.user_id}",
        "certificate.issued",
        subject=("certificate", certificate_id),
        data={
            "code": code,
            "course": completion.course_slug,
            "completion_id": completion.id,
            "expires_at": _iso(completion.expires_at),
        },
    )
    hooks.run_issued_hooks(certificate_id, completion)
    return certificate_id


def _generated_fields(completion: RecordedResult) -> dict[str, Any]:
    return dict(
        code=unique_code(),
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        subject_id=f"urn:uuid:{uuid.uuid4()}",
        course_title=completion.course_title_in(completion.attested_locale or "en"),  # in its language
        course_slug=completion.course_slug,
        policy_version=completion.version_label,
        issued_at=utcnow(),
    )


def holder_name(completion: RecordedResult) -> str:
    """The learner's name; else the name they signed the attestation with; else their email.
    Spaces of any script and invisible format characters (zero-width space, BOM) at either end
    are trimmed, and inner runs of spaces become one."""
    name = _tidy_name(completion.learner_name) or _tidy_name(completion.attested_name)
    return name or completion.learner_email or "—"


def _tidy_name(name: str | None) -> str:
    words = unicodedata.normalize("NFC", name or "").split()
    return " ".join(words).strip(_INVISIBLE)


# Built once: issuing runs inside every passing quiz submit.
_certificates = Certificate.__table__
_INSERT_CERTIFICATE = insert(_certificates).returning(_certificates.c.id)
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
# The certificate's columns that the result has under the same name.
_OF_THE_RESULT = (
    "tenant_id",
    "user_id",
    "course_id",
    "course_version_id",
    "content_hash",
    "score",
    "completed_at",
    "expires_at",
)


def unique_code() -> str:
    # 80 random bits: a collision is astronomically unlikely (~1e-12 after a billion certificates),
    # and the unique index refuses one rather than ever reusing a code.
    return codes.new_public_code()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- public verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    code: str
    status: str  # valid | expired | revoked | unknown
    holder: str | None = None
    course_title: str | None = None
    locale: str | None = None  # the certificate's language, which its course title is written in
    policy_version: str | None = None
    issuer: str | None = None
    completed_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def as_json(self) -> dict:
        data = {"code": self.code, "status": self.status}
        if self.status != "unknown":
            data.update(
                {
                    "holder": self.holder,
                    "course": self.course_title,
                    "policy_version": self.policy_version,
                    "issuer": self.issuer,
                    "completed_at": _iso(self.completed_at),
                    "expires_at": _iso(self.expires_at),
                    "revoked_at": _iso(self.revoked_at),
                }
            )
        return data


def verify(code_text: str) -> Verification:
    """What anyone may learn about a code. Raises InvalidCertificateCode (400) for malformed input."""
    code = codes.normalise_code(code_text)
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == code))
    if certificate is None:
        return Verification(code=code, status="unknown")
    tenant = db.session.get(Tenant, certificate.tenant_id)
    branding = db.session.get(Branding, certificate.tenant_id)
    holder = (
        initials(certificate.holder_name) if branding and branding.initials_only else certificate.holder_name
    )
    return Verification(
        code=code,
        status=certificate.status(utcnow()),
        holder=holder,
        course_title=certificate.course_title,
        locale=certificate.locale,
        policy_version=certificate.policy_version,
        issuer=tenant.name,
        completed_at=certificate.completed_at,
        expires_at=certificate.expires_at,
        revoked_at=certificate.revoked_at,
    )


def initials(name: str) -> str:
    return " ".join(f"{part[0]}." for part in name.split() if part)


# --- documents ------------------------------------------------------------------------------------


def branding_for(tenant_id: int) -> render.Branding:
    tenant = db.session.get(Tenant, tenant_id)
    row = db.session.get(Branding, tenant_id)
    if row is None:
        return render.Branding(organisation_name=tenant.name)
    logo = render.Logo(row.logo, row.logo_mime) if row.logo and row.logo_mime else None
    return render.Branding(
        organisation_name=tenant.name,
        primary_colour=row.primary_colour,
        accent_colour=row.accent_colour,
        signatory_name=row.signatory_name,
        signatory_title=row.signatory_title,
        logo=logo,
    )


def document_for(certificate: Certificate) -> render.CertificateDocument:
    tenant = db.session.get(Tenant, certificate.tenant_id)
    return render.CertificateDocument(
        holder_name=certificate.holder_name,
        course_title=certificate.course_title,
        policy_version=certificate.policy_version,
        completed_on=certificate.completed_at.date(),
        expires_on=certificate.expires_at.date() if certificate.expires_at else None,
        score=certificate.score,
        code=certificate.code,
        verify_url=verify_url(certificate.code),
        locale=certificate.locale,
        issuer_name=tenant.name,
    )


def verify_url(code: str) -> str:
    return external_url("certificates.verify_page", code=code)


def pdf_of(certificate: Certificate, branding: render.Branding | None = None) -> bytes:
    return render.render_certificate_pdf(
        document_for(certificate), branding or branding_for(certificate.tenant_id)
    )


def filename_of(certificate: Certificate) -> str:
    """The PDF's download name, with the holder's name in its own script (letters, their combining
    marks and digits; anything else becomes a hyphen)."""
    kept = (ch if unicodedata.category(ch)[0] in "LMN" else "-" for ch in certificate.holder_name)
    safe_name = re.sub("-{2,}", "-", "".join(kept))[:60].strip("-")
    return f"certificate-{certificate.course_slug}-{safe_name or 'holder'}-{certificate.code}.pdf"


# --- who may see what -----------------------------------------------------------------------------


def learner_certificate(user_id: int, certificate_id: int) -> Certificate:
    certificate = db.session.get(Certificate, certificate_id)
    if certificate is None or certificate.user_id != user_id:
        raise NotFound(
            gettext("There is no such certificate of yours. Your certificates are on your course overview.")
        )
    if certificate.revoked_at is not None:
        raise CertificateRevoked(
            gettext(
                "This certificate was revoked on %(date)s and can no longer be downloaded. Ask your "
                "HR team if you think this is a mistake.",
                date=f"{certificate.revoked_at:%Y-%m-%d}",
            )
        )
    return certificate


def tenant_certificate(tenant_id: int, certificate_id: int) -> Certificate:
    return get_in_tenant(
        Certificate, certificate_id, tenant_id, gettext("There is no such certificate in your organisation.")
    )


# --- HR -------------------------------------------------------------------------------------------


def revoke(
    certificate: Certificate,
    *,
    staff_id: int | None,
    reason: str,
    ip_address: str | None,
    actor: str | None = None,
) -> Certificate:
    """Revoke, with a reason; `actor`: who, when not a staff member (an API token's `token:<id>`)."""
    reason = " ".join((reason or "").split())
    if len(reason) < 3:
        raise ValidationFailed(
            gettext("Give the reason for revoking (kept in the audit log, never shown publicly)."),
            errors={"reason": gettext("required")},
        )
    if certificate.revoked_at is not None:
        raise ValidationFailed(
            gettext("This certificate is already revoked."), errors={"certificate": gettext("revoked")}
        )
    certificate.revoked_at = utcnow()
    certificate.revoked_reason = reason[:1000]
    certificate.revoked_by = staff_id
    db.session.flush()
    audit.record_event(
        certificate.tenant_id,
        actor or f"staff:{staff_id}",
        "certificate.revoked",
        subject=("certificate", certificate.id),
        data={"code": certificate.code, "reason": certificate.revoked_reason},
        ip_address=ip_address,
    )
    hooks.run_revoked_hooks(certificate)
    return certificate


@dataclass(frozen=True)
class CertificateFilter:
    course: str | None = None
    department: str | None = None
    status: str | None = None  # valid | expired | revoked
    issued_from: datetime | None = None
    issued_to: datetime | None = None


def certificates_query(tenant_id: int, filters: CertificateFilter) -> Select:
    query = (
        select(Certificate)
        .join(User, User.id == Certificate.user_id)
        .where(Certificate.tenant_id == tenant_id)
        .order_by(Certificate.issued_at.desc(), Certificate.id)
    )
    now = utcnow()
    if filters.course:
        query = query.where(Certificate.course_slug == filters.course)
    if filters.department:
        query = query.where(User.department == filters.department)
    if filters.issued_from:
        query = query.where(Certificate.issued_at >= filters.issued_from)
    if filters.issued_to:
        query = query.where(Certificate.issued_at < filters.issued_to)
    if filters.status == "revoked":
        query = query.where(Certificate.revoked_at.is_not(None))
    elif filters.status == "expired":
        query = query.where(Certificate.revoked_at.is_(None), Certificate.expires_at <= now)
    elif filters.status == "valid":
        query = query.where(
            Certificate.revoked_at.is_(None),
            (Certificate.expires_at.is_(None)) | (Certificate.expires_at > now),
        )
    return query


def certificates_of(
    tenant_id: int, filters: CertificateFilter, limit: int | None = None
) -> list[Certificate]:
    query = certificates_query(tenant_id, filters)
    return list(db.session.scalars(query.limit(limit) if limit else query))


def save_branding(
    tenant_id: int,
    *,
    staff_id: int,
    primary_colour: str,
    accent_colour: str,
    signatory_name: str,
    signatory_title: str,
    initials_only: bool,
    logo: tuple[bytes, str] | None,
    remove_logo: bool,
) -> Branding:
    tenant = db.session.get(Tenant, tenant_id)
    new_logo = render.Logo(*logo) if logo else None  # validates type, size and content
    render.Branding(
        organisation_name=tenant.name,
        primary_colour=primary_colour,
        accent_colour=accent_colour,
        signatory_name=signatory_name,
        signatory_title=signatory_title,
        logo=new_logo,
    )
    row = db.session.get(Branding, tenant_id) or Branding(tenant_id=tenant_id)
    db.session.add(row)
    row.primary_colour, row.accent_colour = primary_colour.lower(), accent_colour.lower()
    row.signatory_name, row.signatory_title = signatory_name.strip(), signatory_title.strip()
    row.initials_only = initials_only
    if new_logo:
        row.logo, row.logo_mime = new_logo.data, new_logo.mime_type
    elif remove_logo:
        row.logo, row.logo_mime = None, None
    db.session.flush()
    audit.record_event(
        tenant_id,
        f"staff:{staff_id}",
        "certificate.branding_changed",
        subject=("tenant", tenant_id),
        data={
            "primary_colour": row.primary_colour,
            "accent_colour": row.accent_colour,
            "signatory": row.signatory_name,
            "initials_only": initials_only,
            "logo": bool(row.logo),
        },
    )
    return row


def sample_certificate(tenant_id: int) -> render.CertificateDocument:
    """What the branding preview prints."""
    tenant = db.session.get(Tenant, tenant_id)
    today = utcnow().date()
    return render.CertificateDocument(
        holder_name="María José Fernández",
        course_title="Social media policy orientation",
        policy_version="v1 · preview",
        completed_on=today,
        expires_on=today + timedelta(days=365),
        score=90,
        code="PREV-1EW0-0000-0000",
        verify_url=verify_url("PREV-1EW0-0000-0000"),
        issuer_name=tenant.name,
    )
