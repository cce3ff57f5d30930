"""File downloads: a `Content-Disposition` every browser and every server accepts, for names in any
script (RFC 6266 / RFC 8187).

HTTP header values are Latin-1 at most, and gunicorn refuses a response header with anything
else (500 "Invalid response header"). A download therefore names the file twice: an ASCII
fallback in `filename="..."` (accents folded, other letters dropped, never empty) and the real
name, percent-encoded UTF-8, in `filename*=UTF-8''...`, which every current browser prefers.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_NOT_SAFE_IN_FALLBACK = re.compile(r"[^A-Za-z0-9._-]+")


def ascii_fallback(filename: str, default_stem: str = "download") -> str:
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    folded = _NOT_SAFE_IN_FALLBACK.sub("-", folded).strip("-.")
    folded = re.sub(r"-{2,}", "-", folded) or default_stem
    safe_extension = _NOT_SAFE_IN_FALLBACK.sub("", extension)
    return f"{folded}.{safe_extension}" if safe_extension else folded


def attachment(filename: str, default_stem: str = "download") -> str:
    """The `Content-Disposition` value for downloading `filename`."""
    fallback = ascii_fallback(filename, default_stem)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def download_headers(filename: str, default_stem: str = "download") -> dict[str, str]:
    """A private download: named as above, never stored by a browser or proxy cache."""
    return {"Content-Disposition": attachment(filename, default_stem), "Cache-Control": "private, no-store"}
