"""A small OAuth 2.0 authorization server on 127.0.0.1 for the LRS's OAuth test: OpenID discovery,
its JWKS, and a token endpoint that grants client credentials (client_secret_basic) as an RS256
JWT access token, which Ralph verifies offline against the JWKS (its OIDC backend without
introspection). `tokens_issued` counts the grants."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "postwise"
CLIENT_SECRET = "client-secret-for-tests"
AUDIENCE = "postwise-lrs"


class TokenServer:
    def __init__(self, target: str) -> None:
        self.target = target  # Ralph's folder for the statements of this client
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.tokens_issued = 0
        self.lifetime = 3600
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> TokenServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def token(self, scope: str = "statements/read statements/write") -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": CLIENT_ID, "aud": AUDIENCE, "iat": now, "exp": now + self.lifetime,
            "scope": scope, "target": self.target,
        }  # fmt: skip
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json(200, {
                        "issuer": outer.issuer, "jwks_uri": f"{outer.issuer}/jwks",
                        "token_endpoint": f"{outer.issuer}/token",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    })  # fmt: skip
                elif self.path == "/jwks":
                    jwk = json.loads(RSAAlgorithm.to_jwk(outer.key.public_key()))
                    self._json(200, {"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]})
                else:
                    self._json(404, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._json(401, {"error": "invalid_client"})
                elif form.get("grant_type") != ["client_credentials"]:
                    self._json(400, {"error": "unsupported_grant_type"})
                else:
                    outer.tokens_issued += 1
                    scope = (form.get("scope") or ["statements/read statements/write"])[0]
                    self._json(200, {"access_token": outer.token(scope), "token_type": "Bearer",
                                     "expires_in": outer.lifetime})  # fmt: skip

        return Handler
