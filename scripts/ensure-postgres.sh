#!/usr/bin/env bash
# Make sure the PostgreSQL the tests use is up (127.0.0.1:5432, user postgres, trust auth).
set -euo pipefail
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "Starting PostgreSQL..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done
fi
echo "PostgreSQL is not reachable at 127.0.0.1:5432. Start it, or run only the SQLite tests with TEST_DB=sqlite ./test.sh" >&2
exit 1
