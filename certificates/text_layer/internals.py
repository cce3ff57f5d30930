"""The WeasyPrint 70.0 internals the patch uses, and whether this thread is inside the patch.

The package's `_install()` loads them once the version is checked, so that another version fails
with UnsupportedWeasyPrint at render time rather than an ImportError on import.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

ffi: Any = None  # weasyprint.text.ffi.ffi
pango: Any = None  # weasyprint.text.ffi.pango
FROM_UNITS: float = 0.0  # weasyprint.text.ffi.FROM_UNITS

# The WeasyPrint functions the patch replaced, by name: the wrappers call them.
originals: dict[str, Callable[..., Any]] = {}

state = threading.local()  # depth: how many exact_text_layer() blocks this thread is in


def active() -> bool:
    return getattr(state, "depth", 0) > 0
