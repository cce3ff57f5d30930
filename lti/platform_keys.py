"""The LMS's public keys (its JWKS), cached per process as key objects and refetched once when a
launch names an unknown key id.
"""

from __future__ import annotations

import logging
import threading
import time

import jwt
import requests

from lti.errors import LaunchError
from training_app import outbound

log = logging.getLogger(__name__)

JWKS_TTL_SECONDS = 3600
JWKS_NEGATIVE_SECONDS = 60  # a kid still unknown after a refetch is not refetched for again this long
_jwks_cache: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}
_missing_kids: dict[tuple[str, str], float] = {}  # (url, kid) refetched for and still unknown
_jwks_lock = threading.Lock()


def platform_key(key_set_url: str, kid: str | None, alg: str | None) -> jwt.PyJWK:
    """The platform's public key for `kid`, from a per-process cache of its JWKS.

    An unknown kid refetches the key set once (the LMS may have rotated its key); a kid still
    unknown after that is remembered for a minute, so forged kids cannot make us refetch per request.
    """
    if not kid:
        raise LaunchError("The launch token names no signing key (kid).", reason="no_kid")
    if alg != "RS256":
        raise LaunchError(
            f"The launch token is signed with {alg!r}; only RS256 is accepted.", reason="bad_algorithm"
        )
    now = time.monotonic()
    fetched_at, known = _jwks_cache.get(key_set_url, (0.0, {}))
    stale = now - fetched_at >= JWKS_TTL_SECONDS
    recently_missing = (
        now - _missing_kids.get((key_set_url, kid), -JWKS_NEGATIVE_SECONDS) < JWKS_NEGATIVE_SECONDS
    )
    if stale or (kid not in known and not recently_missing):
        known = _fetch_jwks(key_set_url)
    if kid not in known:
        with _jwks_lock:
            _missing_kids[(key_set_url, kid)] = now
        raise LaunchError(
            "The launch token was signed with a key the LMS does not publish.", reason="unknown_kid"
        )
    return known[kid]


def _fetch_jwks(key_set_url: str) -> dict[str, jwt.PyJWK]:
    try:
        response = outbound.session().get(key_set_url, timeout=10)
        response.raise_for_status()
        key_set = jwt.PyJWKSet.from_dict(response.json())
    except (requests.RequestException, ValueError, jwt.PyJWKSetError, outbound.DestinationRefused) as exc:
        log.warning("platform keys unavailable", extra={"url": key_set_url, "error": str(exc)[:300]})
        raise LaunchError(
            f"Could not read the LMS's public keys at {key_set_url}.", reason="jwks_unavailable"
        ) from None
    known = {key.key_id: key for key in key_set.keys if key.key_id}
    with _jwks_lock:
        _jwks_cache[key_set_url] = (time.monotonic(), known)
    return known
