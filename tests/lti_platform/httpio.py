"""Plain request/response values between the HTTP handler and the platform's endpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()

    def form(self) -> dict[str, str]:
        if self.content_type != "application/x-www-form-urlencoded":
            return {}
        parsed = parse_qs(self.body.decode(), keep_blank_values=True)
        return {key: values[0] for key, values in parsed.items()}

    def params(self) -> dict[str, str]:
        """Query string and form body together (the body wins), as PHP's $_REQUEST."""
        return {**self.query, **self.form()}

    def json(self) -> Any:
        return json.loads(self.body.decode() or "null")

    def bearer_token(self) -> str | None:
        value = self.header("authorization")
        if value[:7].lower() != "bearer ":
            return None
        return value[7:].strip() or None


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, data: Any, content_type: str = "application/json") -> HttpResponse:
    body = json.dumps(data).encode()
    return HttpResponse(status, body, {"Content-Type": content_type})


def text_response(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> HttpResponse:
    return HttpResponse(status, text.encode(), {"Content-Type": content_type})


def html_response(status: int, page: str) -> HttpResponse:
    return text_response(status, page, "text/html; charset=utf-8")


def oauth_error(status: int, error: str, description: str = "") -> HttpResponse:
    data = {"error": error}
    if description:
        data["error_description"] = description
    response = json_response(status, data)
    response.headers["Cache-Control"] = "no-store"
    return response


def bearer_error(status: int, error: str, description: str) -> HttpResponse:
    """RFC 6750 §3 error: 401 invalid_token or 403 insufficient_scope."""
    response = json_response(status, {"error": error, "error_description": description})
    response.headers["WWW-Authenticate"] = f'Bearer error="{error}", error_description="{description}"'
    return response
