#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh (see OPERATIONS.md, Backups and restore).
#
#   scripts/restore.sh FILE [TARGET_DATABASE_URL]
#
# The target is TARGET_DATABASE_URL, else DATABASE_URL (or TRAINING_DATABASE_URL), else the
# default SQLite file. It must be new: an empty PostgreSQL database (createdb it first), or an
# SQLite path where no file exists yet. Nothing is ever restored over a database that has tables.
# Afterwards the schema is brought to this release's migrations (`flask db upgrade`, a backup from
# an earlier release) and every tenant's audit hash chain is verified (`flask audit verify`).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
backup="$1"
[ -f "$backup" ] || { echo "No backup file at $backup" >&2; exit 1; }
target="${2:-${DATABASE_URL:-${TRAINING_DATABASE_URL:-}}}"
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
flask="$(dirname "$python")/flask"
[ -x "$flask" ] || flask=flask
eval "$("$python" scripts/database_env.py "$target")"
if [ "$BACKEND" = postgresql ]; then
  tables="$(psql -X -q -t -A -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
  if [ "$tables" != 0 ]; then
    echo "Database $PGDATABASE already has $tables table(s): restore into a new, empty database" \
      "(createdb NAME), then point DATABASE_URL at it." >&2
    exit 1
  fi
  pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$PGDATABASE" "$backup"
else
  if [ -e "$SQLITE_PATH" ]; then
    echo "$SQLITE_PATH exists: restore to a new path, or move the old file aside first." >&2
    exit 1
  fi
  mkdir -p "$(dirname "$SQLITE_PATH")"
  "$python" - "$backup" "$SQLITE_PATH.partial" <<'PY'
import sqlite3, sys
source = sqlite3.connect(sys.argv[1])
problem = source.execute("PRAGMA integrity_check").fetchone()[0]
if problem != "ok":
    sys.exit(f"the backup failed its integrity check: {problem}")
target = sqlite3.connect(sys.argv[2])
source.backup(target)
target.close()
PY
  mv "$SQLITE_PATH.partial" "$SQLITE_PATH"
  target="sqlite:///$SQLITE_PATH"
fi
export DATABASE_URL="${target:-sqlite:///$SQLITE_PATH}"
"$flask" --app wsgi db upgrade
"$flask" --app wsgi audit verify
echo "Restored $backup into the $BACKEND database ${PGDATABASE:-$SQLITE_PATH}."
