"""The LMS's side of an LTI 1.3 launch, played by the benchmark: its signing key and JWKS (served
on 127.0.0.1), a Moodle learner's resource link claims, and the id_token it signs for a nonce."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

COURSE = "social-media-orientation"
ISSUER = "https://lms.bench.example"
CLIENT_ID = "postwise-bench-client"
DEPLOYMENT_ID = "1"
AUTH_LOGIN_URL = f"{ISSUER}/mod/lti/auth.php"
# The tool fetches this LMS's JWKS from 127.0.0.1 over plain http, which its outbound policy
# refuses unless told (settings for an app made here; the same as TRAINING_* for gunicorn).
TOOL_SETTINGS = {"OUTBOUND_ALLOW_HTTP": True, "OUTBOUND_ALLOWED_HOSTS": ("127.0.0.1",)}
TOOL_ENV = {"TRAINING_OUTBOUND_ALLOW_HTTP": "true", "TRAINING_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1"}
FIRST_NAMES = ["Ada", "Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]

_LTI = "https://purl.imsglobal.org/spec/lti/claim/"
_SERVICES = f"{ISSUER}/mod/lti/services.php"
# What Moodle 4.x sends for a learner's resource link launch of the orientation, but the user's
# claims (person()) and the ones signed per launch (id_token_claims()).
CLAIMS: dict[str, Any] = {
    _LTI + "message_type": "LtiResourceLinkRequest",
    _LTI + "version": "1.3.0",
    _LTI + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
    _LTI + "deployment_id": DEPLOYMENT_ID,
    _LTI + "target_link_uri": "http://127.0.0.1/lti/launch",
    _LTI + "context": {
        "id": "course-101",
        "label": "SMP-101",
        "title": "Social media policy",
        "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
    },
    _LTI + "tool_platform": {
        "guid": "lms.bench.example",
        "name": "Bench Moodle",
        "product_family_code": "moodle",
        "version": "2024100700",
    },
    _LTI + "custom": {"course": COURSE},
    _LTI + "launch_presentation": {"document_target": "iframe", "return_url": f"{ISSUER}/return"},
    _LTI + "resource_link": {"id": "resource-link-1", "title": "Orientation"},
    "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
        "scope": [
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
            "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
            "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        ],
        "lineitems": f"{_SERVICES}/101/lineitems?type_id=1",
        "lineitem": f"{_SERVICES}/101/lineitems/7/lineitem?type_id=1",
    },
    "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
        "context_memberships_url": f"{_SERVICES}/CourseSection/101/bindings/1/memberships",
        "service_versions": ["2.0"],
    },
}


class PlatformKey:
    """The LMS's RSA signing key and its key id."""

    def __init__(self, kid: str = "bench-platform-key") -> None:
        self.kid = kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.NoEncryption(),
        ).decode()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.pop("key_ops", None)  # platforms publish `use`, and RFC 7517 says not both
        return {**jwk, "alg": "RS256", "use": "sig", "kid": self.kid}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}


class JwksServer:
    """Serves the platform's JWKS at /jwks on 127.0.0.1 and counts the tool's fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no Nagle wait for an ACK

            def do_GET(self) -> None:
                outer.fetches += 1
                self.send_response(200 if self.path == "/jwks" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/jwks"

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def person(sub: str) -> dict[str, str]:
    """The learner's name and email, always the same for one `sub` (as an LMS sends them). The email
    holds the whole `sub`: the tool links a new subject to the learner who has its email."""
    index = int(sub.rsplit("-", 1)[-1]) if sub[-1:].isdigit() else 0
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return {
        "sub": sub,
        "name": f"{first} {last}",
        "given_name": first,
        "family_name": last,
        "email": f"{first.lower()}.{last.lower()}.{sub}@acme.example",
    }


def login_form(sub: str, index: int) -> dict[str, str]:
    """The LMS's third-party login initiation for this learner."""
    return {
        "iss": ISSUER,
        "login_hint": sub,
        "target_link_uri": CLAIMS[_LTI + "target_link_uri"],
        "lti_message_hint": json.dumps({"cmid": 7, "launchid": f"ltilaunch7_{index}"}),
        "client_id": CLIENT_ID,
        "lti_deployment_id": DEPLOYMENT_ID,
    }


def id_token_claims(sub: str, nonce: str) -> dict[str, Any]:
    """What the LMS signs for this learner and nonce: valid for five minutes from now."""
    now = int(time.time())
    return {
        **CLAIMS,
        **person(sub),
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
    }


_loaded_keys: dict[str, rsa.RSAPrivateKey] = {}


def loaded_key(pem: str) -> rsa.RSAPrivateKey:
    """Load once per process: signing with a PEM string re-validates the key on every call."""
    key = _loaded_keys.get(pem)
    if key is None:
        key = _loaded_keys[pem] = serialization.load_pem_private_key(pem.encode(), password=None)
    return key


def id_token(key: rsa.RSAPrivateKey, kid: str, sub: str, nonce: str) -> str:
    return jwt.encode(id_token_claims(sub, nonce), key, algorithm="RS256", headers={"kid": kid})


def jwt_costs(key: PlatformKey, rounds: int = 2000) -> dict[str, float]:
    """In this process: PyJWT's RS256 sign and verify of a launch id_token with cached key objects."""
    private = loaded_key(key.private_pem)
    payload = id_token_claims("x-1", "n" * 64)
    token = jwt.encode(payload, private, algorithm="RS256", headers={"kid": key.kid})
    public = jwt.PyJWK(key.public_jwk()).key

    def timed(fn) -> float:
        started = time.process_time()
        for _ in range(rounds):
            fn()
        return round((time.process_time() - started) * 1000 / rounds, 3)

    return {
        "sign_ms": timed(lambda: jwt.encode(payload, private, algorithm="RS256", headers={"kid": "k"})),
        "verify_ms": timed(
            lambda: jwt.decode(token, public, algorithms=["RS256"], audience=CLIENT_ID, leeway=60)
        ),
        "unverified_decode_ms": timed(lambda: jwt.decode(token, options={"verify_signature": False})),
    }
