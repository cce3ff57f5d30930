"""Which sites may frame the training after a package's launch (CSP frame-ancestors): the LMS pages
around the package's page, as its launch request named them. The one-time sign-in link is framed by
any site (it holds nothing a framing site could use, and its refusal page must show in the LMS)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request, session

FRAME_ORIGINS_KEY = "dispatch_frame_origins"
OPEN_FRAME_ENDPOINTS = {"dispatch.enter"}
MAX_ORIGINS = 6


def frame_origins() -> list[str]:
    if request.endpoint in OPEN_FRAME_ENDPOINTS:
        return ["*"]
    return list(session.get(FRAME_ORIGINS_KEY) or [])


def clean_origins(values: object) -> list[str]:
    """The http(s) origins among what the page sent (anything else is dropped), at most MAX_ORIGINS."""
    if not isinstance(values, list):
        return []
    origins: list[str] = []
    for value in values:
        if not isinstance(value, str) or len(value) > 300:
            continue
        parts = urlsplit(value)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https") and parts.netloc and value.rstrip("/") == origin:
            origins.append(origin)
    return list(dict.fromkeys(origins))[:MAX_ORIGINS]
