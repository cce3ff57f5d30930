"""gunicorn's settings file, read from the folder gunicorn starts in (its default `./gunicorn.conf.py`).

Only Prometheus's multiprocess mode lives here (training_app.metrics): when PROMETHEUS_MULTIPROC_DIR
is set, the folder is created and emptied when gunicorn starts (stale files of an earlier run would
be added to this one's counters), and a worker that exits has its live gauges removed. Without the
variable, nothing happens. Command-line options (`--workers`, `--bind`...) still apply.
"""

import os
from pathlib import Path


def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
