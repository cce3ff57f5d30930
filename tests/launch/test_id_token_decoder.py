"""The launch's id_token decoder: PyJWT's strict segment rules, checked by a regular expression."""

from __future__ import annotations

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jwt.api_jws import PyJWS

from lti.launch import _id_tokens, _RegexSegmentJWS
from tests.lti_platform.keys import RsaKey

SEGMENT_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/!. \n\x00é"


def outcome(decode, segment: bytes) -> bytes | str:
    try:
        return decode(segment, "payload")
    except jwt.DecodeError as exc:
        return f"refused: {exc}"


@given(st.text(alphabet=SEGMENT_CHARACTERS, max_size=24))
def test_any_segment_decodes_or_is_refused_exactly_as_pyjwt_does(text: str) -> None:
    segment = text.encode()
    assert outcome(_RegexSegmentJWS._decode_base64url_segment, segment) == outcome(
        PyJWS._decode_base64url_segment, segment
    )


@pytest.mark.parametrize(
    ("segment", "accepted"),
    [
        (b"eyJhIjoxfQ", True),
        (b"eyJhIjoxfQ==", True),  # trailing padding some issuers send
        (b"eyJhIjoxfQ===", False),
        (b"eyJhIjoxfQ=", False),  # padding that does not complete a quantum
        (b"!!!!", False),  # GHSA-hxm8-2xgr-2p9m
        (b"eyJhIjoxfR", False),  # stray bits: would decode, does not encode back
        (b"e", False),
    ],
)
def test_the_advisory_cases(segment: bytes, accepted: bool) -> None:
    result = outcome(_RegexSegmentJWS._decode_base64url_segment, segment)
    assert isinstance(result, bytes) is accepted


def test_the_decoder_verifies_a_signed_token_and_refuses_junk_in_it() -> None:
    key = RsaKey.generate("k1")
    token = jwt.encode({"sub": "learner-1"}, key.private_key, algorithm="RS256")
    public = key.private_key.public_key()

    assert _id_tokens.decode(token, public, algorithms=["RS256"]) == {"sub": "learner-1"}
    header, payload, signature = token.split(".")
    for tampered in (f"{header}.{payload}!.{signature}", f"{header}.{payload}.{signature}===="):
        with pytest.raises(jwt.DecodeError):
            _id_tokens.decode(tampered, public, algorithms=["RS256"])
