"""The evidence pack's ZIP: its files, the manifest of their SHA-256, the manifest's signature,
and the check an auditor (or `flask --app wsgi reports verify-evidence`) runs on it.

No database here: the pack's content comes in as bytes, the signature as a function, and the
verification needs only the ZIP and the tenant's public key (a JWK).

- `manifest.json`: tenant, generated_at, generator, filters, `verification_key_url` and, for every
  other file of the ZIP (README.txt included), its path, size and SHA-256.
- `manifest.jws`: a compact JWS (RS256) whose payload is exactly the bytes of manifest.json,
  signed with the tenant's credential key; its `kid` is the URL that serves the public key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import jwt
from jwt.exceptions import InvalidSignatureError, InvalidTokenError, PyJWKError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.jws"
README = "README.txt"
FORMAT = "postwise-evidence-pack/1"
ALGORITHM = "RS256"

README_TEXT = """\
Evidence pack: {tenant}
Generated {generated_at} by {generator}.

What is inside
  <employee id>-<name>/person.json          who, their assignments (with status), LMS launches, lessons
  <employee id>-<name>/attestations.json    each policy attestation: who, when, typed name, policy version,
                                            content hash, IP address, browser
  <employee id>-<name>/attempts.json        each quiz attempt: questions, options, answers, points, score
  <employee id>-<name>/results.json         completions and failures: score, policy version, content hash
  <employee id>-<name>/certificates.json    certificates (code, dates, status) and certificates/*.pdf
  <employee id>-<name>/audit-events.json    the person's audit events with their hash-chain links
  <employee id>-<name>/deliveries.json      delivery receipts: LMS grades, emails (status, attempts, when)
  manifest.json                             every file above with its size and SHA-256
  manifest.jws                              the signature of manifest.json by {tenant}

How to check that nothing was altered
  1. Each file's SHA-256 must equal the one in manifest.json, e.g. on Linux or macOS:
       sha256sum "<path>"        (or: shasum -a 256 "<path>")
     and compare with "sha256" of the entry whose "path" is that file.
  2. manifest.jws is a JSON Web Signature (compact serialisation, RS256). Its payload, base64url
     decoded, must be byte for byte the content of manifest.json, and its signature must verify
     with the public key (a JWK) published at:
       {key_url}
     Any JOSE library does this, for example in Python with PyJWT:
       jwt.api_jws.decode_complete(open("manifest.jws").read(), jwt.PyJWK(public_jwk).key,
                                   algorithms=["RS256"])["payload"] == open("manifest.json", "rb").read()
  3. Each audit event's "hash" is the SHA-256 of its canonical JSON (keys sorted, no spaces:
     tenant_id, occurred_at as YYYY-MM-DDTHH:MM:SS.ffffffZ, actor, action, subject_type,
     subject_id, data, ip_address, seq, prev_hash); "prev_hash" is the hash of the tenant's event
     before it in the whole log, which the HR console verifies end to end.

With the service's command line, all of this is one command:
  flask --app wsgi reports verify-evidence <this file>.zip
"""


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iso(moment: datetime | None) -> str | None:
    """A timestamp in UTC with its offset written: 2026-12-06T10:15:00.123456+00:00."""
    return moment.astimezone(UTC).isoformat() if moment else None


def json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")


@dataclass
class PackArchive:
    """A ZIP being written: every file added is listed with its size and SHA-256."""

    target: IO[bytes]
    generated_at: datetime
    entries: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._zip = zipfile.ZipFile(self.target, "w", compression=zipfile.ZIP_DEFLATED)
        self._paths: set[str] = set()

    def add(self, path: str, data: bytes) -> None:
        if path in self._paths:
            raise ValueError(f"{path} is already in the pack")
        self._paths.add(path)
        self._write(path, data)
        self.entries.append({"path": path, "size": len(data), "sha256": file_digest(data)})

    def finish(self, manifest: dict[str, Any], sign: Callable[[bytes], str], readme: str) -> bytes:
        """Add the README, then the manifest listing every file and its signature; returns the
        manifest's bytes."""
        self.add(README, readme.encode("utf-8"))
        document = {**manifest, "format": FORMAT, "files": self.entries}
        manifest_bytes = json_bytes(document)
        self._write(MANIFEST, manifest_bytes)
        self._write(SIGNATURE, sign(manifest_bytes).encode("ascii"))
        self._zip.close()
        return manifest_bytes

    def abandon(self) -> None:
        """Close an unfinished ZIP (its target is discarded by the caller)."""
        with contextlib.suppress(ValueError, OSError):
            self._zip.close()

    def _write(self, path: str, data: bytes) -> None:
        info = zipfile.ZipInfo(path, date_time=self.generated_at.astimezone(UTC).timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED if path.endswith(".pdf") else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self._zip.writestr(info, data)


def sign_manifest(manifest_bytes: bytes, private_key: Any, kid: str) -> str:
    """Compact JWS over the manifest's exact bytes."""
    return jwt.api_jws.encode(
        manifest_bytes, private_key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JOSE", "cty": "json"}
    )


# --- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    manifest: dict[str, Any] | None
    problems: list[str]
    files_checked: int

    @property
    def ok(self) -> bool:
        return not self.problems


def read_manifest(source: str | Path | IO[bytes]) -> dict[str, Any]:
    """The manifest of a pack, unverified (to find which key verifies it)."""
    with zipfile.ZipFile(source) as archive:
        return json.loads(archive.read(MANIFEST))


def verify_pack(
    source: str | Path | IO[bytes], public_jwk: dict[str, Any] | None, check_event: Callable | None = None
) -> Verification:
    """Every listed file against its size and SHA-256, no unlisted file, and the signature over
    manifest.json's exact bytes. `check_event(event) -> problem or None` also checks audit events."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        return Verification(None, [f"not a readable ZIP file: {exc}"], 0)
    with archive:
        names = set(archive.namelist())
        if MANIFEST not in names:
            return Verification(None, [f"{MANIFEST} is missing"], 0)
        try:
            manifest_bytes = archive.read(MANIFEST)
            manifest = json.loads(manifest_bytes)
        except (zipfile.BadZipFile, OSError, ValueError):
            return Verification(None, [f"{MANIFEST} is not valid JSON"], 0)
        problems = _signature_problems(archive, names, manifest_bytes, public_jwk)
        listed = manifest.get("files") or []
        problems += _file_problems(archive, names, listed)
        if check_event is not None:
            problems += _event_problems(archive, names, listed, check_event)
    return Verification(manifest, problems, len(listed))


def _signature_problems(
    archive: zipfile.ZipFile, names: set[str], manifest_bytes: bytes, public_jwk: dict[str, Any] | None
) -> list[str]:
    if SIGNATURE not in names:
        return [f"{SIGNATURE} is missing: the manifest is not signed"]
    if public_jwk is None:
        return ["no public key to check the signature with"]
    try:
        token = archive.read(SIGNATURE).decode("ascii", "replace").strip()
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM:
            return [f"{SIGNATURE} is not signed with {ALGORITHM}"]
        key = jwt.PyJWK(public_jwk, algorithm=ALGORITHM).key
        signed = jwt.api_jws.decode_complete(token, key, algorithms=[ALGORITHM])
    except InvalidSignatureError:
        return [f"{SIGNATURE}: the signature does not match the public key (altered, or another key)"]
    except (InvalidTokenError, PyJWKError, ValueError, zipfile.BadZipFile, OSError) as exc:
        return [f"{SIGNATURE} cannot be read: {exc}"]
    if public_jwk.get("kid") and header.get("kid") != public_jwk["kid"]:
        return [f"{SIGNATURE} names the key {header.get('kid')}, not {public_jwk['kid']}"]
    if signed["payload"] != manifest_bytes:
        return [f"{MANIFEST} differs from the manifest that was signed: it was altered"]
    return []


def _file_problems(archive: zipfile.ZipFile, names: set[str], listed: list[dict[str, Any]]) -> list[str]:
    problems = []
    for entry in listed:
        path = entry.get("path")
        if path not in names:
            problems.append(f"{path}: listed in the manifest but missing")
            continue
        try:
            data = archive.read(path)
        except (zipfile.BadZipFile, OSError) as exc:
            problems.append(f"{path}: cannot be read ({exc})")
            continue
        if len(data) != entry.get("size"):
            problems.append(f"{path}: {len(data)} bytes, the manifest says {entry.get('size')}")
        if file_digest(data) != entry.get("sha256"):
            problems.append(
                f"{path}: SHA-256 {file_digest(data)} differs from the manifest's {entry.get('sha256')}"
            )
    unlisted = names - {entry.get("path") for entry in listed} - {MANIFEST, SIGNATURE}
    problems += [f"{path}: not listed in the manifest" for path in sorted(unlisted)]
    return problems


def _event_problems(
    archive: zipfile.ZipFile, names: set[str], listed: list[dict[str, Any]], check_event: Callable
) -> list[str]:
    problems = []
    for entry in listed:
        path = entry.get("path") or ""
        if not path.endswith("/audit-events.json") or path not in names:
            continue
        try:
            events = json.loads(archive.read(path))
        except (ValueError, zipfile.BadZipFile, OSError):
            problems.append(f"{path}: not readable JSON")
            continue
        for event in events:
            problem = check_event(event)
            if problem:
                problems.append(f"{path}: event seq {event.get('seq')}: {problem}")
    return problems
