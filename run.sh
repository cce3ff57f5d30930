#!/usr/bin/env bash
# Start Postwise on http://127.0.0.1:5000 with its embedded default: SQLite in ./instance,
# demo data, and an outbox worker (with the training tick every 15 minutes) beside the web
# server, gunicorn as in production. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")"
scripts/system-packages.sh
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
export FLASK_APP=wsgi
.venv/bin/flask db upgrade
.venv/bin/flask demo load
.venv/bin/flask worker --poll-interval 2 --tick-every 15m &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
echo
url="http://127.0.0.1:${PORT:-5000}"
echo "  Postwise is running: open $url  (HR console: $url/login)"
echo "  Try it as a learner: $url/demo/try  (the demo LMS's gradebook: $url/demo/lms/gradebook)"
echo
.venv/bin/gunicorn --workers 2 --bind "127.0.0.1:${PORT:-5000}" --log-level warning wsgi:app
