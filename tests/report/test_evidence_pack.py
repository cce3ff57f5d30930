"""Evidence packs: one employee's ZIP at once, a filtered set's through the outbox worker with its
progress, a manifest of SHA-256 hashes signed with the tenant's key (checked here against the
public JWK the pack names), and the verify command that finds a changed file or manifest."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
from sqlalchemy import func, select

from certificates import credentials
from courses import services as learning
from reports import evidence
from reports.models import EvidencePack
from tests import factories
from tests.helpers import text_of
from tests.report.test_employee_page import Person, everything_happened, staff_client
from training_app import audit, outbox
from training_app.extensions import db
from training_app.models import AuditEvent, OutboxMessage, Tenant

FILENAME = re.compile(r'filename="(evidence-acme-(E1001|set)-\d{8}T\d{6}Z\.zip)"')


@pytest.fixture
def ada(app, client, published) -> Person:
    return everything_happened(app, client)


def zip_download(client, url: str):
    """GET a pack's file, read it and close it (a file response holds the file open until then)."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def download_name(response) -> str:
    match = FILENAME.search(response.headers["Content-Disposition"])
    assert match, response.headers["Content-Disposition"]
    return match.group(1)


def public_key_of(client, manifest: dict) -> dict:
    """The JWK at the manifest's verification_key_url, fetched as an auditor would (no sign-in)."""
    served = client.get(urlsplit(manifest["verification_key_url"]).path)
    assert served.status_code == 200
    return served.get_json()


def events_of(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_one_employees_pack_holds_their_evidence_and_its_manifest_verifies(app, ada):
    response = staff_client(app, "hannah@acme.example").get(f"/console/learners/{ada.user_id}/evidence.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert download_name(response).startswith("evidence-acme-E1001-")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    manifest_bytes = archive.read("manifest.json")
    manifest = json.loads(manifest_bytes)

    # Every file is listed with its size and SHA-256, and nothing else is in the ZIP
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(archive.namelist()) == set(listed) | {"manifest.json", "manifest.jws"}
    for path, entry in listed.items():
        data = archive.read(path)
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"]), path
    # The JWS is over manifest.json's exact bytes, with the tenant's key published for credentials
    token = archive.read("manifest.jws").decode()
    public_jwk = public_key_of(app.test_client(), manifest)
    assert jwt.get_unverified_header(token)["kid"] == manifest["verification_key_url"] == public_jwk["kid"]
    signed = jwt.api_jws.decode_complete(token, jwt.PyJWK(public_jwk).key, algorithms=["RS256"])
    assert signed["payload"] == manifest_bytes
    assert manifest["tenant"] == {"slug": "acme", "name": "Acme Corporation"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", manifest["generated_at"])
    assert manifest["generator"]["name"] == "Postwise" and manifest["people"] == 1
    assert manifest["filters"] == {"user_id": ada.user_id}

    folder = "E1001-ada-lovelace/"
    assert "README.txt" in listed and "sha256sum" in archive.read("README.txt").decode()
    [pdf] = [path for path in listed if path.startswith(folder + "certificates/")]
    assert archive.read(pdf).startswith(b"%PDF")
    read = lambda name: json.loads(archive.read(folder + name))  # noqa: E731
    [attestation] = read("attestations.json")
    assert attestation["typed_name"] == "Ada Lovelace" and attestation["ip_address"] == "127.0.0.1"
    assert attestation["user_agent"] == "pytest" and len(attestation["content_hash"]) == 64
    attempts = read("attempts.json")
    assert [(a["number"], a["passed"], a["score"]) for a in attempts] == [
        (4, True, 90),
        (3, False, 20),
        (2, False, 20),
        (1, False, 20),
    ]
    question = attempts[0]["questions"][0]
    assert question["prompt"] and any(o["chosen"] for o in question["options"])
    assert any(o["correct"] for o in question["options"])
    assert [r["status"] for r in read("results.json")] == ["completed", "failed"]
    [certificate] = read("certificates.json")
    assert certificate["pdf"] == pdf and certificate["status"] == "valid"
    assert certificate["verification_url"].endswith(f"/verify/{certificate['code']}")
    person = read("person.json")
    assert person["employee_id"] == "E1001" and person["lms_launches"][0]["lms"] == "Moodle Acme"
    assert {a["status"] for a in person["assignments"]} == {"completed", "waived"}
    assert person["extra_attempts_granted"][0]["granted_by"]["name"] == "Hannah"
    receipts = read("deliveries.json")
    assert {(r["about"], r["kind"], r["status"]) for r in receipts} == {
        ("result", "ags_score", "pending"),
        ("reminder", "email", "delivered"),
    }
    events = read("audit-events.json")
    actions = [e["action"] for e in events]
    for action in ("attestation.signed", "course.failed", "quiz.attempt_granted", "course.completed"):
        assert action in actions
    assert "certificate.issued" in actions and "assignment.waived" in actions
    with app.app_context():
        for event in events:  # each event's hash is the chain's, recomputed from what the pack says
            stored = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == event["seq"]))
            assert (stored.hash, stored.prev_hash) == (event["hash"], event["prev_hash"])
            assert audit.event_hash(stored) == event["hash"]

    [recorded] = events_of(app, "report.evidence_pack")
    assert recorded.actor == f"staff:{ada.staff_id}" and recorded.subject_id == str(ada.user_id)
    assert (
        recorded.data["count"] == 1 and recorded.data["sha256"] == hashlib.sha256(response.data).hexdigest()
    )


def test_the_verify_command_finds_a_changed_file_a_changed_manifest_and_another_key(app, ada, tmp_path):
    response = staff_client(app, "hannah@acme.example").get(f"/console/learners/{ada.user_id}/evidence.zip")
    original = tmp_path / "pack.zip"
    original.write_bytes(response.data)
    cli = app.test_cli_runner()

    checked = cli.invoke(args=["reports", "verify-evidence", str(original)])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("OK: ") and "Acme Corporation" in checked.output

    changed_file = _rewritten(
        original, tmp_path / "file.zip", "results.json", lambda d: d.replace(b"90", b"99")
    )
    refused = cli.invoke(args=["reports", "verify-evidence", str(changed_file)])
    assert refused.exit_code == 1
    assert "DIFFERS: E1001-ada-lovelace/results.json: SHA-256" in refused.output

    def more_people(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["people"] = 2
        return json.dumps(manifest, indent=2).encode()

    changed_manifest = _rewritten(original, tmp_path / "manifest.zip", "manifest.json", more_people)
    refused = cli.invoke(args=["reports", "verify-evidence", str(changed_manifest)])
    assert refused.exit_code == 1
    assert "manifest.json differs from the manifest that was signed" in refused.output

    another_key = credentials.public_jwk(credentials.generate_signing_key(), "another-key")
    jwk_file = tmp_path / "other.jwk"
    jwk_file.write_text(json.dumps({**another_key, "kid": None}))
    refused = cli.invoke(args=["reports", "verify-evidence", str(original), "--jwk", str(jwk_file)])
    assert refused.exit_code == 1 and "signature does not match" in refused.output
    not_a_pack = cli.invoke(args=["reports", "verify-evidence", str(jwk_file)])
    assert not_a_pack.exit_code == 1 and "is not an evidence pack" in not_a_pack.output
    not_a_key = cli.invoke(args=["reports", "verify-evidence", str(original), "--jwk", str(original)])
    assert not_a_key.exit_code == 1 and "is not a JWK" in not_a_key.output


def test_the_verify_command_finds_an_audit_event_edited_in_the_database_before_the_pack(app, ada, tmp_path):
    with app.app_context():
        edited = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "course.completed"))
        edited.data = {**edited.data, "score": 100}
        db.session.commit()
    response = staff_client(app, "hannah@acme.example").get(f"/console/learners/{ada.user_id}/evidence.zip")
    pack = tmp_path / "pack.zip"
    pack.write_bytes(response.data)
    refused = app.test_cli_runner().invoke(args=["reports", "verify-evidence", str(pack)])
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        f"DIFFERS: E1001-ada-lovelace/audit-events.json: event seq {edited.seq}: "
        "its content does not match its hash"
    )


def _rewritten(source: Path, target: Path, ending: str, change) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info.filename)
            new.writestr(info.filename, change(data) if info.filename.endswith(ending) else data)
    return target


def test_a_set_pack_is_built_by_the_outbox_worker_with_its_progress(app, ada, monkeypatch):
    with app.app_context():
        acme = db.session.get(Tenant, ada.tenant_id)
        for name in ("Alan Turing", "Barbara Liskov"):
            learning.enrol(factories.learner(acme, name), "social-media-orientation", source="hr")
        db.session.commit()
    auditor = staff_client(app, "audrey@acme.example")  # reads only: auditors may build packs
    asked = auditor.submit("/console/evidence", {"department": "Engineering"}, action="/console/evidence")
    assert asked.status_code == 303
    status_url = asked.headers["Location"]
    waiting = auditor.get(status_url)
    assert waiting.status_code == 200 and f'data-poll="{status_url}"' in waiting.get_data(as_text=True)
    assert "Queued" in text_of(waiting) and auditor.get(status_url + ".zip").status_code == 404

    seen: list[tuple[str, int, int]] = []
    monkeypatch.setattr(evidence, "PEOPLE_PER_BATCH", 1)
    saved = evidence._save_progress

    def watched(pack, done, message_id):
        saved(pack, done, message_id)
        with db.engine.connect() as other:  # what the status page would read now
            row = other.execute(select(EvidencePack.status, EvidencePack.done, EvidencePack.total)).one()
            seen.append(tuple(row))

    monkeypatch.setattr(evidence, "_save_progress", watched)
    with app.app_context():
        assert outbox.run_worker(once=True) == 1
        pack = db.session.scalar(select(EvidencePack))
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "evidence_pack"))
        assert (pack.status, pack.done, pack.total, message.status) == ("done", 3, 3, "delivered")
    assert seen == [("running", 0, 3), ("running", 1, 3), ("running", 2, 3)]

    ready = auditor.get(status_url)
    assert "data-poll" not in ready.get_data(as_text=True) and "Ready: 3 people." in text_of(ready)
    download = zip_download(auditor, status_url + ".zip")
    assert download.status_code == 200 and download_name(download).startswith("evidence-acme-set-")
    assert hashlib.sha256(download.data).hexdigest() == pack.sha256
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["people"] == 3 and manifest["filters"] == {"department": "Engineering"}
    folders = {path.split("/")[0] for path in archive.namelist() if "/" in path}
    assert folders == {"E1001-ada-lovelace", "user-3-alan-turing", "user-4-barbara-liskov"}
    assert "Evidence pack" in text_of(auditor.get("/console/evidence")) and "Ready" in text_of(
        auditor.get("/console/evidence")
    )

    [asked_event] = events_of(app, "report.evidence_pack")
    assert asked_event.data == {"filters": {"department": "Engineering"}, "count": 3}
    [built] = events_of(app, "report.evidence_pack_built")
    assert built.data["sha256"] == pack.sha256 and built.data["count"] == 3
    assert len(events_of(app, "report.evidence_pack_downloaded")) == 1


def test_a_pack_that_cannot_be_built_says_so_and_its_message_is_not_retried(app, ada, monkeypatch):
    hr = staff_client(app, "hannah@acme.example")
    asked = hr.submit("/console/evidence", {"q": "ada"}, action="/console/evidence")
    assert asked.status_code == 303

    def broken(*_args, **_kwargs):
        raise RuntimeError("the PDF renderer is missing its fonts")

    monkeypatch.setattr(evidence.render, "render_certificate_pdf", broken)
    with app.app_context():
        outbox.run_worker(once=True)
        pack = db.session.scalar(select(EvidencePack))
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "evidence_pack"))
        assert (pack.status, message.status) == ("failed", "dead")
        assert "fonts" in pack.error
    page = text_of(hr.get(asked.headers["Location"]))
    assert "Failed" in page and "fonts" in page
    assert hr.get(asked.headers["Location"] + ".zip").status_code == 404


def test_bad_filters_and_an_empty_set_are_refused_and_nothing_is_queued(app, ada):
    hr = staff_client(app, "hannah@acme.example")
    bad = hr.submit(
        "/console/evidence", {"status": "finished", "due_from": "2027-02-30"}, action="/console/evidence"
    )
    assert bad.status_code == 400
    assert "“finished” is not a status" in text_of(bad) and "“2027-02-30” is not a date" in text_of(bad)
    empty = hr.submit("/console/evidence", {"department": "Nobody works here"}, action="/console/evidence")
    assert empty.status_code == 422 and "Nobody matches these filters" in text_of(empty)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EvidencePack)) == 0
        assert db.session.scalar(select(func.count()).where(OutboxMessage.kind == "evidence_pack")) == 0
    assert not events_of(app, "report.evidence_pack")


def test_another_tenants_pack_is_not_found(app, ada, tmp_path):
    hr = staff_client(app, "hannah@acme.example")
    asked = hr.submit("/console/evidence", {"department": "Engineering"}, action="/console/evidence")
    with app.app_context():
        outbox.run_worker(once=True)
    status_url = asked.headers["Location"]
    assert zip_download(hr, status_url + ".zip").status_code == 200
    globex = staff_client(app, "hr@globex.example")
    for url in (status_url, status_url + ".zip", f"/console/learners/{ada.user_id}/evidence.zip"):
        refused = globex.get(url)
        assert refused.status_code == 404, url
        assert "Ada" not in text_of(refused) and "Engineering" not in text_of(refused)
    assert "Engineering" not in text_of(globex.get("/console/evidence"))


def test_a_pack_whose_file_is_gone_is_not_served(app, ada):
    hr = staff_client(app, "hannah@acme.example")
    asked = hr.submit("/console/evidence", {}, action="/console/evidence")
    with app.app_context():
        outbox.run_worker(once=True)
        pack = db.session.scalar(select(EvidencePack))
        shutil.move(Path(app.instance_path) / pack.file_path, Path(app.instance_path) / "moved.zip")
    assert hr.get(asked.headers["Location"] + ".zip").status_code == 404
