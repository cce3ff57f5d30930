"""Evidence packs: a signed ZIP of what happened to one employee, or to a filtered set of them.

One employee's pack is built in the request. A set's pack is a job: the request records an
`evidence_packs` row and an outbox message (kind `evidence_pack`) in its transaction, so a crash
loses nothing; the outbox worker builds the ZIP under the instance folder, reading the people in
batches and committing its progress after each batch (short transactions: SQLite's one writer is
never held while PDFs render). Services never commit: the job's owner passes `between_batches`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, or_, select, update

from assignments import status as status_rule
from certificates import badges, credentials, render
from certificates import services as certificates
from reports import audit_log, completions, evidence_archive, timeline
from reports import evidence_documents as documents
from reports.errors import NothingMatches
from reports.filters import CompletionFilter, parse_filter
from reports.models import EvidencePack
from training_app import PROJECT_ROOT, audit, outbox
from training_app.db import utcnow
from training_app.errors import NotFound
from training_app.extensions import db
from training_app.models import AuditEvent, OutboxMessage, StaffAccount, Tenant, User
from training_app.tenancy import get_in_tenant

KIND = "evidence_pack"
PEOPLE_PER_BATCH = 25  # people read per transaction; progress is committed after each batch
FOLDER = "evidence"


def people_matching(tenant_id: int, chosen: CompletionFilter) -> list[int]:
    """Ids of the people the learners table lists for these filters (the same WHERE clause, so a
    pack holds exactly the people of the view it was asked from; never a preview)."""
    scope = completions.scope_for(tenant_id)
    status = status_rule.status_column(scope.now, scope.expiring_soon_days)
    people = completions.rows_from(select(User.id).distinct(), everything=completions.needs_results(chosen))
    query = people.where(*completions.conditions_of(scope, chosen, status))
    return list(db.session.scalars(query.order_by(User.id)))


# --- writing a pack ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    people: int
    manifest: bytes
    generated_at: datetime


def write_pack(
    target: IO[bytes],
    tenant: Tenant,
    user_ids: list[int],
    *,
    filters: dict[str, Any],
    requested_by: StaffAccount | None,
    between_batches: Callable[[int], None] = lambda done: None,
) -> Written:
    """The signed ZIP of `user_ids` (tenant-scoped) into `target`. `between_batches(done)` runs
    after each batch is read, before its files are written, with the number of people written
    so far (the job commits its progress there, and renders no PDF inside a transaction)."""
    generated_at = utcnow()
    archive = evidence_archive.PackArchive(target, generated_at)
    try:
        done = _write_people(archive, tenant.id, user_ids, generated_at, between_batches)
        manifest = _manifest(tenant, generated_at, requested_by, filters, done)
        manifest_bytes = _sign_and_close(archive, tenant, manifest)
    except BaseException:
        archive.abandon()
        raise
    return Written(done, manifest_bytes, generated_at)


def _write_people(
    archive: evidence_archive.PackArchive,
    tenant_id: int,
    user_ids: list[int],
    now: datetime,
    between_batches: Callable[[int], None],
) -> int:
    branding, folders, done = certificates.branding_for(tenant_id), set(), 0
    for start in range(0, len(user_ids), PEOPLE_PER_BATCH):
        batch = _read_batch(tenant_id, user_ids[start : start + PEOPLE_PER_BATCH], now)
        between_batches(done)  # people written so far
        for person in batch:
            _write_person(archive, person, branding, folders, now)
        done += len(batch)
    return done


def _manifest(
    tenant: Tenant, generated_at: datetime, requested_by: StaffAccount | None, filters: dict, people: int
) -> dict[str, Any]:
    return {
        "tenant": {"slug": tenant.slug, "name": tenant.name},
        "generated_at": evidence_archive.iso(generated_at),
        "generator": {"name": "Postwise", "version": _version()},
        "requested_by": _staff(requested_by),
        "filters": filters,
        "people": people,
    }


def _sign_and_close(archive: evidence_archive.PackArchive, tenant: Tenant, manifest: dict[str, Any]) -> bytes:
    """The README, the manifest naming the key that signs it, and its signature (the tenant's
    credential key: its public JWK is served at the URL that is its kid)."""
    key = badges.signing_key(tenant.id)
    kid = key.public_jwk["kid"]
    private = credentials.load_signing_key(key.private_pem.encode())
    manifest |= {
        "verification_key_url": kid,
        "signature": {"file": evidence_archive.SIGNATURE, "alg": evidence_archive.ALGORITHM, "kid": kid},
    }
    readme = evidence_archive.README_TEXT.format(
        tenant=tenant.name,
        generated_at=manifest["generated_at"],
        generator="Postwise " + _version(),
        key_url=kid,
    )
    return archive.finish(manifest, lambda data: evidence_archive.sign_manifest(data, private, kid), readme)


@dataclass(frozen=True)
class PersonBatchItem:
    records: timeline.PersonRecords
    events: list[AuditEvent]
    names: dict[str, str]
    certificates: list[tuple[Any, render.CertificateDocument, str]]  # certificate, document, verify URL


def _read_batch(tenant_id: int, user_ids: list[int], now: datetime) -> list[PersonBatchItem]:
    """Everything about a batch of people, in a fixed number of statements."""
    people = timeline.people_in_tenant(tenant_id, user_ids)
    records = timeline.records_of(tenant_id, people, now=now)
    events = _audit_events(tenant_id, list(records.values()))
    actors = {e.actor for found in events.values() for e in found}
    for person in records.values():
        actors |= {a.enrolment.waived_by for a in person.assignments if a.enrolment.waived_by}
        actors |= {f"staff:{g.granted_by}" for g in person.grants}
        actors |= {f"staff:{c.revoked_by}" for c in person.certificates if c.revoked_by}
    names = audit_log.actor_names(tenant_id, actors, {p.id: p.name for p in people})
    return [
        PersonBatchItem(
            person,
            events[user_id],
            names,
            [(c, certificates.document_for(c), certificates.verify_url(c.code)) for c in person.certificates],
        )
        for user_id, person in records.items()
    ]


def _audit_events(tenant_id: int, people: list[timeline.PersonRecords]) -> dict[int, list[AuditEvent]]:
    """Each person's audit events: those they caused, and those about them, their assignments,
    attestations, results and certificates; one statement for the batch, in chain order."""
    owner: dict[tuple[str, str], int] = {}
    for person in people:
        user_id = person.user.id
        owner[("actor", f"learner:{user_id}")] = owner[("user", str(user_id))] = user_id
        owner |= {("enrolment", str(a.enrolment.id)): user_id for a in person.assignments}
        owner |= {("attestation", str(a.id)): user_id for a in person.attestations}
        owner |= {("completion", str(c.id)): user_id for c in person.completions}
        owner |= {("certificate", str(c.id)): user_id for c in person.certificates}
    found: dict[int, list[AuditEvent]] = {person.user.id: [] for person in people}
    if not people:
        return found
    by_kind: dict[str, list[str]] = {}
    for kind, value in owner:
        by_kind.setdefault(kind, []).append(value)
    conditions = [AuditEvent.actor.in_(by_kind.pop("actor"))]
    conditions += [
        (AuditEvent.subject_type == kind) & AuditEvent.subject_id.in_(ids) for kind, ids in by_kind.items()
    ]
    for event in db.session.scalars(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, or_(*conditions)).order_by(AuditEvent.seq)
    ):
        for user_id in {owner.get(("actor", event.actor)), owner.get((event.subject_type, event.subject_id))}:
            if user_id is not None:
                found[user_id].append(event)
    return found


def _write_person(
    archive: evidence_archive.PackArchive,
    item: PersonBatchItem,
    branding: render.Branding,
    folders: set[str],
    now: datetime,
) -> None:
    records = item.records
    folder = documents.folder_of(records)
    if folder in folders:
        folder = f"{folder}-{records.user.id}"
    folders.add(folder)
    listed = []
    for certificate, document, url in item.certificates:
        path = f"{folder}/certificates/{certificates.filename_of(certificate)}"
        archive.add(path, render.render_certificate_pdf(document, branding))
        listed.append((certificate, path, url))
    json_files = {
        "person.json": documents.person_document(records, item.names),
        "attestations.json": documents.attestations_document(records),
        "attempts.json": documents.attempts_document(records),
        "results.json": documents.results_document(records),
        "certificates.json": documents.certificates_document(listed, now, item.names),
        "audit-events.json": documents.events_document(item.events, item.names),
        "deliveries.json": documents.deliveries_document(records),
    }
    for name, document in json_files.items():
        archive.add(f"{folder}/{name}", evidence_archive.json_bytes(document))


def _staff(staff: StaffAccount | None) -> dict[str, Any] | None:
    return {"staff_id": staff.id, "name": staff.name, "email": staff.email} if staff else None


@functools.cache
def _version() -> str:
    with open(PROJECT_ROOT / "pyproject.toml", "rb") as project:
        return tomllib.load(project)["project"]["version"]


def download_name(tenant: Tenant, who: str, moment: datetime) -> str:
    return f"evidence-{tenant.slug}-{who}-{moment:%Y%m%dT%H%M%SZ}.zip"


# --- one employee, in the request ----------------------------------------------------------------


def employee_pack(staff: StaffAccount, user_id: int, ip_address: str | None) -> tuple[str, bytes]:
    """One employee's pack (file name, bytes), recorded in the audit log."""
    person = timeline.employee(staff.tenant_id, user_id)
    tenant = db.session.get(Tenant, staff.tenant_id)
    buffer = io.BytesIO()
    filters = {"user_id": person.id}
    written = write_pack(buffer, tenant, [person.id], filters=filters, requested_by=staff)
    data = buffer.getvalue()
    _record(staff, "user", person.id, filters, 1, ip_address, sha256=hashlib.sha256(data).hexdigest())
    return download_name(tenant, person.employee_id or f"user-{person.id}", written.generated_at), data


def _record(
    staff: StaffAccount,
    subject_type: str,
    subject_id: int,
    filters: dict[str, Any],
    count: int,
    ip_address: str | None,
    **extra: Any,
) -> None:
    audit.record_event(
        staff.tenant_id,
        f"staff:{staff.id}",
        "report.evidence_pack",
        subject=(subject_type, subject_id),
        data={"filters": filters, "count": count, **extra},
        ip_address=ip_address,
    )


# --- a filtered set, as a job -----------------------------------------------------------------------


def request_pack(staff: StaffAccount, filters: CompletionFilter, ip_address: str | None) -> EvidencePack:
    """Queue a set's pack (in the caller's transaction) and record who asked for what."""
    total = len(people_matching(staff.tenant_id, filters))
    if not total:
        raise NothingMatches(gettext("Nobody matches these filters: there is nothing to pack."))
    pack = EvidencePack(
        tenant_id=staff.tenant_id,
        requested_by=staff.id,
        filters=filters.described(),
        status="queued",
        total=total,
    )
    db.session.add(pack)
    db.session.flush()
    outbox.enqueue(
        KIND,
        {"pack_id": pack.id},
        idempotency_key=f"{KIND}:{pack.id}",
        tenant_id=staff.tenant_id,
        max_attempts=1,
    )
    _record(staff, "evidence_pack", pack.id, pack.filters, total, ip_address)
    return pack


def tenant_pack(tenant_id: int, pack_id: int) -> EvidencePack:
    return get_in_tenant(EvidencePack, pack_id, tenant_id, gettext("There is no such evidence pack."))


def packs_of(tenant_id: int, limit: int = 100) -> list[tuple[EvidencePack, str | None]]:
    """The tenant's newest packs with the name of who asked for each."""
    rows = db.session.execute(
        select(EvidencePack, func.coalesce(StaffAccount.name, StaffAccount.email))
        .outerjoin(StaffAccount, StaffAccount.id == EvidencePack.requested_by)
        .where(EvidencePack.tenant_id == tenant_id)
        .order_by(EvidencePack.created_at.desc(), EvidencePack.id.desc())
        .limit(limit)
    )
    return [(pack, name) for pack, name in rows]


def pack_file(pack: EvidencePack) -> Path:
    """The finished pack's file; 404 while it is not built, or when it is gone."""
    instance = Path(current_app.instance_path).resolve()
    path = (instance / pack.file_path).resolve() if pack.file_path else None
    if pack.status != "done" or path is None or instance not in path.parents or not path.is_file():
        raise NotFound(gettext("This evidence pack is not ready to download."))
    return path


def record_download(staff: StaffAccount, pack: EvidencePack, ip_address: str | None) -> None:
    audit.record_event(
        staff.tenant_id,
        f"staff:{staff.id}",
        "report.evidence_pack_downloaded",
        subject=("evidence_pack", pack.id),
        data={"sha256": pack.sha256, "count": pack.done},
        ip_address=ip_address,
    )


def build_queued_pack(delivery: outbox.Delivery) -> None:
    """The outbox job: build the pack named by the message. It owns its transactions: one to
    start, one after each batch of people (progress, and a longer lease on the message so no
    other worker takes it while it runs), one to finish. A failure is recorded on the pack."""
    pack = db.session.get(EvidencePack, delivery.payload["pack_id"])
    if pack is None or pack.status in ("done", "failed"):
        return  # built already (a message delivered twice), or its tenant is gone
    try:
        _build(pack, delivery.id)
    except Exception as exc:
        db.session.rollback()
        db.session.execute(
            update(EvidencePack)
            .where(EvidencePack.id == pack.id)
            .values(status="failed", finished_at=utcnow(), error=f"{type(exc).__name__}: {exc}"[:2000])
        )
        db.session.commit()
        raise outbox.DeliveryError(f"evidence pack {pack.id} failed: {exc}", retry=False) from exc


def _build(pack: EvidencePack, message_id: int) -> None:
    tenant = db.session.get(Tenant, pack.tenant_id)
    user_ids = people_matching(pack.tenant_id, parse_filter(pack.filters))
    pack.status, pack.started_at, pack.done, pack.total = "running", utcnow(), 0, len(user_ids)
    requested_by = db.session.get(StaffAccount, pack.requested_by) if pack.requested_by else None
    db.session.commit()
    relative = Path(FOLDER) / str(pack.tenant_id) / f"evidence-pack-{pack.id}.zip"
    final = Path(current_app.instance_path) / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_suffix(".zip.part")

    try:
        with partial.open("wb") as target:
            written = write_pack(
                target,
                tenant,
                user_ids,
                filters=pack.filters,
                requested_by=requested_by,
                between_batches=lambda done: _save_progress(pack, done, message_id),
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(final)  # never a half-written ZIP under the pack's name
    with final.open("rb") as built:
        digest = hashlib.file_digest(built, "sha256").hexdigest()
    pack.status, pack.done, pack.finished_at = "done", written.people, utcnow()
    pack.file_path, pack.file_size, pack.sha256 = relative.as_posix(), final.stat().st_size, digest
    audit.record_event(
        pack.tenant_id,
        "worker",
        "report.evidence_pack_built",
        subject=("evidence_pack", pack.id),
        data={"count": written.people, "sha256": digest, "size": pack.file_size},
    )
    db.session.commit()


def _save_progress(pack: EvidencePack, done: int, message_id: int) -> None:
    """Commit how many people are written, and lease the message longer: no other worker takes
    it while this one is making progress (a crashed worker's lease still runs out)."""
    pack.done = done
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.locked_by == outbox.worker_id())
        .values(locked_until=utcnow() + lease)
    )
    db.session.commit()
