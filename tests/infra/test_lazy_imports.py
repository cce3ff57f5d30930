"""A worker starts without the libraries only some requests need (bench/README.md, "Completion
exports": the export worker's memory). Checked in a fresh interpreter: the suite itself imports them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOADED_ON_FIRST_USE = (
    "weasyprint",
    "pypdfium2",
    "fontTools",
    "scim2_server",
    "scim2_models",
    "asyncssh",
    "openpyxl",
)
PROGRAM = f"""
import json, sys
from tests.conftest import settings_for
from training_app import create_app
create_app(settings_for("sqlite://", None))
print(json.dumps(sorted(name for name in {LOADED_ON_FIRST_USE!r} if name in sys.modules)))
"""


def test_the_app_starts_without_the_libraries_of_certificates_scim_sftp_and_workbooks():
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
