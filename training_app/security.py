"""Response headers. The tool is embedded by LMSs, so framing is allowed per registered origin
(Content-Security-Policy `frame-ancestors`), never with X-Frame-Options.

Forms post to this site only (`form-action 'self'`), except where a page names another origin it
posts to (`allow_form_target`: the deep-linking answer to the LMS). Every response to a signed-in
person (staff or learner) is `Cache-Control: no-store` unless the view set its own: a shared
computer's cache or back button must not show a console page or a one-time password to the next
person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from flask import Flask, current_app, g, session

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


PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=(), interest-cohort=()"
)
_FORM_TARGETS = "form_action_origins"


def allow_form_target(url: str) -> None:
    """This response's page posts a form to `url`'s origin (CSP form-action)."""
    parts = urlsplit(url)
    if parts.scheme in ("https", "http") and parts.netloc:
        g.setdefault(_FORM_TARGETS, []).append(f"{parts.scheme}://{parts.netloc}")


def form_action() -> str:
    return " ".join(dict.fromkeys(["'self'", *g.get(_FORM_TARGETS, [])]))


def _set_security_headers(response):
    csp = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"form-action {form_action()}; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {frame_ancestors()}"
    )
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        hsts = "max-age=31536000"
        if current_app.config.get("HSTS_INCLUDE_SUBDOMAINS"):
            hsts += "; includeSubDomains"
        response.headers.setdefault("Strict-Transport-Security", hsts)
    if "Cache-Control" not in response.headers and session.get("_user_id"):
        response.headers["Cache-Control"] = "private, no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_set_security_headers)
