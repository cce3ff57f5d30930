"""Ralph's LRS with its file-system backend, for the xAPI tests: run with Ralph's own virtualenv
(tests/feeds/ralph/.venv), `serve.py PORT DIRECTORY`; users come from RALPH_AUTH_FILE, written by
`serve.py users AUTH_FILE DIRECTORY COUNT PASSWORD` (lrs-1 ... lrs-COUNT, each with every scope and
a folder of its own under DIRECTORY for its statements).

Two faults of ralph-malph 5.1.0's file-system backend are patched here, before the app is loaded:
- every write after the first fails: the LRS writes with the backend's default "create" mode,
  which refuses a file that exists (the statements file, after the first statement); statements
  are appended instead;
- `verb` and `activity` filters never match: the query carries them as pydantic URL objects and
  the backend compares them with the stored strings; they are compared as text.
"""

from __future__ import annotations

import os
import sys


def patch_file_system_backend() -> None:
    from ralph.backends.data.base import BaseOperationType
    from ralph.backends.lrs.fs import FSLRSBackend

    write = FSLRSBackend.write

    def append(self, data, target=None, chunk_size=None, ignore_errors=False, operation_type=None):
        mode = operation_type or BaseOperationType.APPEND
        return write(self, data, target, chunk_size, ignore_errors, mode)

    FSLRSBackend.write = append
    by_verb, by_activity = FSLRSBackend._add_filter_by_verb, FSLRSBackend._add_filter_by_activity
    FSLRSBackend._add_filter_by_verb = staticmethod(
        lambda filters, verb_id: by_verb(filters, str(verb_id) if verb_id else None)
    )
    FSLRSBackend._add_filter_by_activity = staticmethod(
        lambda filters, activity, related: by_activity(filters, str(activity) if activity else None, related)
    )


def write_users(auth_file: str, directory: str, count: int, password: str) -> None:
    import json
    from pathlib import Path

    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    users = []
    for number in range(1, count + 1):
        name = f"lrs-{number}"
        (Path(directory) / name).mkdir(parents=True, exist_ok=True)
        users.append(
            {
                "username": name,
                "hash": hashed,
                "scopes": ["all"],
                "agent": {"mbox": f"mailto:{name}@lrs.example"},
                "target": name,
            }
        )
    Path(auth_file).write_text(json.dumps(users))


def main() -> None:
    if sys.argv[1] == "users":
        write_users(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.environ["RALPH_RUNSERVER_BACKEND"] = "fs"
    os.environ["RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH"] = directory
    os.environ.setdefault("RALPH_RUNSERVER_AUTH_BACKENDS", "basic")
    patch_file_system_backend()
    import uvicorn
    from ralph.api import app

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
