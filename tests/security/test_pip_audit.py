"""scripts/pip_audit.py, the dependency audit test.sh runs: a known vulnerability fails unless it is
allowed with a reason in .pip-audit-ignore, and an audit that could not be done says so (a warning,
or a failure with PIP_AUDIT_STRICT=1) instead of pip-audit's "No known vulnerabilities found"."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("pip_audit_script", ROOT / "scripts" / "pip_audit.py")
assert _spec and _spec.loader
pip_audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pip_audit)

VULNERABLE = {
    "name": "werkzeug",
    "version": "3.0.0",
    "vulns": [
        {
            "id": "PYSEC-2099-1",
            "aliases": ["GHSA-aaaa-bbbb-cccc", "CVE-2099-0001"],
            "fix_versions": ["3.0.6"],
            "description": "a debugger console reachable from anywhere",
        }
    ],
}
CLEAN = {"name": "flask", "version": "3.1.3", "vulns": []}
UNAUDITED = {
    "name": "gunicorn",
    "skip_reason": "Dependency not found on PyPI and could not be audited: gunicorn (27.0.1)",
}


def test_a_known_vulnerability_fails_and_says_what_to_upgrade():
    status, lines = pip_audit.verdict({"dependencies": [CLEAN, VULNERABLE]}, {}, strict=False)
    assert status == 1
    text = "\n".join(lines)
    assert "VULNERABLE werkzeug 3.0.0: PYSEC-2099-1" in text and "fixed in 3.0.6" in text
    assert "2 pinned package(s) checked" in text


@pytest.mark.parametrize("allowed_as", ["PYSEC-2099-1", "CVE-2099-0001"])
def test_a_vulnerability_allowed_with_its_reason_passes_and_is_still_listed(allowed_as):
    ignored = pip_audit.read_ignored(f"# header\n{allowed_as}  no fix released; we never run the debugger\n")
    status, lines = pip_audit.verdict({"dependencies": [VULNERABLE]}, ignored, strict=False)
    assert status == 0
    assert any(
        line.startswith("  allowed    werkzeug") and "never run the debugger" in line for line in lines
    )


def test_an_allowance_without_a_reason_is_refused():
    with pytest.raises(pip_audit.IgnoreFileError, match="say why PYSEC-2099-1 is allowed"):
        pip_audit.read_ignored("PYSEC-2099-1\n")


def test_an_audit_that_could_not_be_done_says_so_and_fails_only_when_strict():
    report = {"dependencies": [UNAUDITED, CLEAN]}
    status, lines = pip_audit.verdict(report, {}, strict=False)
    assert status == 0 and "the audit was NOT done for 1 package(s)" in "\n".join(lines)
    assert any("not audited gunicorn" in line for line in lines)
    assert pip_audit.verdict(report, {}, strict=True)[0] == 1
    assert "No known vulnerabilities" not in "\n".join(lines)


def test_the_allowance_file_is_well_formed():
    pip_audit.read_ignored((ROOT / ".pip-audit-ignore").read_text())
