"""Print, as shell assignments, where the database of DATABASE_URL (or TRAINING_DATABASE_URL, else
the default SQLite file in TRAINING_INSTANCE_PATH or ./instance) is: for scripts/backup.sh and
scripts/restore.sh, which `eval` it. PostgreSQL's password goes to PGPASSWORD, never to a command
line (other users can read command lines in /proc).

    BACKEND=postgresql PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=... PGDATABASE=...
    BACKEND=sqlite SQLITE_PATH=/abs/path/training.db
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from sqlalchemy.engine import make_url


def resolve(url: str | None) -> dict[str, str]:
    if not url:
        instance = Path(os.environ.get("TRAINING_INSTANCE_PATH") or "instance")
        return {"BACKEND": "sqlite", "SQLITE_PATH": str((instance / "training.db").resolve())}
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise SystemExit(f"{url}: an SQLite database in memory cannot be backed up")
        return {"BACKEND": "sqlite", "SQLITE_PATH": str(Path(parsed.database).resolve())}
    if backend != "postgresql":
        raise SystemExit(f"{url}: only postgresql and sqlite databases are supported")
    values = {
        "BACKEND": "postgresql",
        "PGHOST": parsed.host or "",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "",
        "PGPASSWORD": parsed.password or "",
        "PGDATABASE": parsed.database or "",
    }
    for name, value in parsed.query.items():  # sslmode=require, sslrootcert=... -> PGSSLMODE...
        if name.startswith("ssl"):
            values[f"PG{name.upper()}"] = value if isinstance(value, str) else value[0]
    return {name: value for name, value in values.items() if value}


if __name__ == "__main__":
    given = sys.argv[1] if len(sys.argv) > 1 else None
    url = given or os.environ.get("DATABASE_URL") or os.environ.get("TRAINING_DATABASE_URL")
    for name, value in resolve(url).items():
        print(f"export {name}={shlex.quote(value)}")
