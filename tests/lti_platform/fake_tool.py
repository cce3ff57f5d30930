"""A stand-in tool for the emulator's own tests: a JWKS served over HTTP, client assertions and
deep linking responses signed as a tool signs them."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.lti_platform.constants import (
    CLAIM_DEPLOYMENT_ID,
    CLAIM_DL_CONTENT_ITEMS,
    CLAIM_DL_DATA,
    CLAIM_MESSAGE_TYPE,
    CLAIM_VERSION,
    LTI_VERSION,
    MESSAGE_DEEP_LINKING_RESPONSE,
)
from tests.lti_platform.keys import RsaKey, jwks_of
from tests.lti_platform.tokens import sign_jwt


class FakeTool:
    """Serves GET /jwks on 127.0.0.1 and signs what a tool signs with `key`."""

    def __init__(self, client_id: str, key: RsaKey | None = None) -> None:
        self.client_id = client_id
        self.key = key or RsaKey.generate()
        self.jwks: dict[str, Any] = jwks_of(self.key)
        self.jwks_requests = 0
        self._server: ThreadingHTTPServer | None = None

    # --- HTTP ---
    def start(self) -> FakeTool:
        tool = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                found = self.path == "/jwks"
                tool.jwks_requests += int(found)
                body = json.dumps(tool.jwks).encode() if found else b"{}"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def jwks_url(self) -> str:
        return self.base_url + "/jwks"

    # --- what a tool signs ---
    def client_assertion(
        self, audience: str, *, key: RsaKey | None = None, lifetime: int = 60, **overrides: Any
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": now - 5,
            "exp": now + lifetime,
            "jti": f"lti-service-token-{secrets.token_hex(8)}",
        }
        claims.update(overrides)
        signer = key or self.key
        return sign_jwt({k: v for k, v in claims.items() if v is not None}, signer, kid=signer.kid)

    def deep_link_response(
        self,
        *,
        issuer: str,
        deployment_id: str,
        items: Sequence[Mapping[str, Any]],
        data: str | None,
        nonce: str | None = None,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "aud": [issuer],
            "iat": now,
            "exp": now + 600,
            "nonce": nonce or f"nonce-{secrets.token_hex(8)}",
            CLAIM_DEPLOYMENT_ID: deployment_id,
            CLAIM_MESSAGE_TYPE: MESSAGE_DEEP_LINKING_RESPONSE,
            CLAIM_VERSION: LTI_VERSION,
            CLAIM_DL_CONTENT_ITEMS: [dict(item) for item in items],
            CLAIM_DL_DATA: data,
        }
        claims.update(overrides)
        return sign_jwt(claims, self.key)
