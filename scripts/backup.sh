#!/usr/bin/env bash
# Back up Postwise's database to one file (see OPERATIONS.md, Backups and restore).
#
#   scripts/backup.sh [FILE]
#
# The database is the one the app uses: DATABASE_URL (or TRAINING_DATABASE_URL), else the default
# SQLite file in TRAINING_INSTANCE_PATH or ./instance. FILE defaults to
# backups/postwise-<UTC time>.pgdump (PostgreSQL: pg_dump's custom format, compressed, restored with
# pg_restore) or .sqlite3 (SQLite: a consistent copy taken with SQLite's online backup, safe while
# the app and workers write). The launch-state table (logins under way) is left out.
#
# Not in the file: SECRET_KEY (and TRAINING_SECRET_KEY_FALLBACKS), which encrypt the stored LRS,
# SFTP, single sign-on and dispatch package secrets: keep them in your secret store, apart from
# the backups. Without them a restored database works, but those secrets must be entered again.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
eval "$("$python" scripts/database_env.py)"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
if [ "$BACKEND" = postgresql ]; then
  out="${1:-backups/postwise-$stamp.pgdump}"
  mkdir -p "$(dirname "$out")"
  pg_dump --format=custom --compress=6 --no-owner --no-privileges \
    --no-unlogged-table-data --exclude-table-data=lti_launch_state --file="$out.partial"
else
  out="${1:-backups/postwise-$stamp.sqlite3}"
  mkdir -p "$(dirname "$out")"
  [ -f "$SQLITE_PATH" ] || { echo "No SQLite database at $SQLITE_PATH" >&2; exit 1; }
  "$python" - "$SQLITE_PATH" "$out.partial" <<'PY'
import sqlite3, sys
source = sqlite3.connect(sys.argv[1])
target = sqlite3.connect(sys.argv[2])
source.backup(target)  # a consistent snapshot, even while others write (WAL)
target.execute("DELETE FROM lti_launch_state")
target.commit()
problem = target.execute("PRAGMA integrity_check").fetchone()[0]
target.execute("VACUUM")
target.close()
source.close()
if problem != "ok":
    sys.exit(f"the copy failed its integrity check: {problem}")
PY
fi
mv "$out.partial" "$out"
chmod 600 "$out"
echo "Backed up the $BACKEND database to $out ($(du -h "$out" | cut -f1))."
