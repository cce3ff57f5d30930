"""Audit the pinned requirements for known vulnerabilities (pip-audit), and say plainly what it did.

    .venv/bin/python scripts/pip_audit.py          # test.sh and CI run this

- A known vulnerability in a pinned package fails (exit 1), unless its id (or one of its aliases:
  PYSEC-..., GHSA-..., CVE-...) is in `.pip-audit-ignore` with the reason it cannot be fixed yet
  (SECURITY.md, "Dependencies").
- pip-audit asks a vulnerability service (PyPI's JSON API) about each package. Where that service
  cannot be reached, pip-audit marks every package "could not be audited" and still prints "No known
  vulnerabilities found" with exit 0: this script says instead that the audit was NOT done, and
  which packages it could not check. That is a warning (exit 0), so CI on a machine without the
  service still runs; set PIP_AUDIT_STRICT=1 where the service is reachable to make it a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")
IGNORE_FILE = ROOT / ".pip-audit-ignore"
TIMEOUT_SECONDS = 300


class IgnoreFileError(ValueError):
    pass


def read_ignored(text: str) -> dict[str, str]:
    """The allowance: {vulnerability id: why it is allowed}. Each line is `ID  reason`; `#` starts a
    comment. An id without a reason is refused (an allowance is a decision someone wrote down)."""
    ignored: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise IgnoreFileError(f"{IGNORE_FILE.name} line {number}: say why {vuln_id} is allowed")
        ignored[vuln_id] = reason.strip()
    return ignored


def verdict(report: dict[str, Any], ignored: dict[str, str], strict: bool) -> tuple[int, list[str]]:
    """The exit status and what to print, from pip-audit's JSON report."""
    found, allowed, unaudited, audited = [], [], [], 0
    for dependency in report.get("dependencies", []):
        name = f"{dependency['name']} {dependency.get('version', '')}".strip()
        if "skip_reason" in dependency:
            unaudited.append(f"{name}: {dependency['skip_reason']}")
            continue
        audited += 1
        for vuln in dependency.get("vulns", []):
            ids = {vuln["id"], *vuln.get("aliases", [])}
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            aliases = ", ".join(sorted(ids - {vuln["id"]})) or "no alias"
            line = f"{name}: {vuln['id']} ({aliases}); fixed in {fixes}"
            reason = next((ignored[i] for i in sorted(ids) if i in ignored), None)
            (allowed if reason else found).append(line + (f" -- allowed: {reason}" if reason else ""))
    lines = [f"pip-audit: {audited} pinned package(s) checked against the vulnerability database"]
    lines += [f"  VULNERABLE {line}" for line in found]
    lines += [f"  allowed    {line}" for line in allowed]
    status = 1 if found else 0
    if unaudited:
        lines.append(
            f"pip-audit: WARNING: the audit was NOT done for {len(unaudited)} package(s): the "
            "vulnerability service could not be reached or does not know them. "
            + ("PIP_AUDIT_STRICT=1: failing." if strict else "Set PIP_AUDIT_STRICT=1 where it is reachable.")
        )
        lines += [f"  not audited {line}" for line in unaudited[:5]]
        if len(unaudited) > 5:
            lines.append(f"  ... and {len(unaudited) - 5} more")
        status = status or (1 if strict else 0)
    if found:
        lines.append(
            "pip-audit: upgrade the package(s) above, or allow a vulnerability that cannot be fixed "
            f"yet in {IGNORE_FILE.name} with the reason (SECURITY.md)"
        )
    return status, lines


def not_done(reason: str, strict: bool) -> int:
    print(f"pip-audit: WARNING: the audit was NOT done: {reason}")
    return 1 if strict else 0


def main() -> int:
    strict = os.environ.get("PIP_AUDIT_STRICT") == "1"
    try:
        ignored = read_ignored(IGNORE_FILE.read_text() if IGNORE_FILE.exists() else "")
    except IgnoreFileError as problem:
        print(f"pip-audit: {problem}", file=sys.stderr)
        return 1
    command = [str(ROOT / ".venv" / "bin" / "pip-audit"), "--no-deps", "--disable-pip"]
    command += [argument for name in REQUIREMENTS for argument in ("-r", str(ROOT / name))]
    command += ["--progress-spinner", "off", "--format", "json"]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return not_done(f"pip-audit took more than {TIMEOUT_SECONDS} s", strict)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:  # it stopped with an error (the service refused, DNS...)
        return not_done(f"pip-audit stopped: {run.stderr.strip()[-300:]}", strict)
    status, lines = verdict(report, ignored, strict)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
