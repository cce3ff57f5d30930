#!/usr/bin/env bash
# The whole test suite: lint, import contracts, then pytest on SQLite and PostgreSQL
# (TEST_DB=sqlite or TEST_DB=postgresql to run one). Extra arguments go to pytest.
# `./test.sh --fast` is the inner loop: SQLite only, no browser or slow tests, stop at the first
# failure (CI runs ./test.sh with no arguments: everything).
set -euo pipefail
cd "$(dirname "$0")"
fast=()
if [ "${1:-}" = "--fast" ]; then
  shift
  export TEST_DB="${TEST_DB:-sqlite}"
  fast=(-m "not browser and not slow" -x)
  scripts/system-packages.sh
else
  scripts/system-packages.sh --test
fi
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
# The SCORM runtime the dispatch browser tests host (scorm-again, pinned in its package-lock.json).
[ -d tests/dispatch/runtime/node_modules ] || npm ci --prefix tests/dispatch/runtime --no-audit --no-fund --silent
# Ralph, the learning record store the xAPI tests start (tests/feeds/lrs.py), in a virtualenv of its
# own: ralph-malph's pins would downgrade the project's click, starlette and httpx.
[ -x tests/feeds/ralph/.venv/bin/ralph ] || { "${PYTHON:-python3}" -m venv tests/feeds/ralph/.venv \
  && tests/feeds/ralph/.venv/bin/pip install -q --disable-pip-version-check -r tests/feeds/ralph/requirements.txt; }
# node's oidc-provider: the real OpenID Connect provider the single sign-on tests start (tests/sso)
[ -d tests/oidc_provider/node_modules ] || npm ci --prefix tests/oidc_provider --no-audit --no-fund
[ "${TEST_DB:-all}" = "sqlite" ] || scripts/ensure-postgres.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache
# Known vulnerabilities in the pinned requirements (pip-audit); says so when the audit cannot be done
# here (a warning; PIP_AUDIT_STRICT=1 fails instead). Allowances: .pip-audit-ignore, SECURITY.md.
.venv/bin/python scripts/pip_audit.py
.venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --db "${TEST_DB:-all}" ${fast[@]+"${fast[@]}"} "$@"
