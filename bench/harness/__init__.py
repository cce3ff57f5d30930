"""Small pieces the benchmarks share: a database of their own, the app on it, gunicorn, wrk, the
launch's LMS side and load generator, CPU accounting, profiling, timing and reports.

Importing it puts the repository's root on sys.path, so a benchmark reaches the product packages.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
