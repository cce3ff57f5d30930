"""Response headers. The tool is embedded by LMSs, so framing is allowed per registered origin
(Content-Security-Policy `frame-ancestors`), never with X-Frame-Options."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, current_app

FrameOriginsProvider = Callable[[], Iterable[str]]
_frame_origin_providers: list[FrameOriginsProvider] = []


def register_frame_origins(provider: FrameOriginsProvider) -> None:
    """Packages that know which sites may embed the tool (the LTI platforms) register here."""
    if provider not in _frame_origin_providers:
        _frame_origin_providers.append(provider)


def frame_ancestors() -> str:
    origins = ["'self'", *current_app.config["FRAME_ANCESTORS"].split()]
    for provider in _frame_origin_providers:
        origins.extend(provider())
    return " ".join(dict.fromkeys(origins))


def _set_security_headers(response):
    csp = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self' https: http:; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {frame_ancestors()}"
    )
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_set_security_headers)
