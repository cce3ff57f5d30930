"""Absolute URLs for things that leave the page: LTI configuration, QR codes, credentials."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context, request, url_for


def base_url() -> str:
    """TRAINING_PUBLIC_URL when set (behind a proxy it is the truth), else the request's host."""
    configured = current_app.config.get("PUBLIC_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://127.0.0.1:5000"


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL, in a request or outside one (a CLI command, the worker: reminder emails)."""
    if has_request_context():
        return base_url() + url_for(endpoint, **values)
    with current_app.test_request_context(base_url=base_url()):
        return base_url() + url_for(endpoint, **values)
