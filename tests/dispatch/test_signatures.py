"""The launch signature's rules, without a database: what is signed, how, and what is fresh."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from dispatch import signatures

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def test_the_signed_text_is_the_fields_joined_by_newlines():
    text = signatures.signed_text("pwABC", "E101", "Lovelace, Ada", "1800000000", "n" * 22)
    assert text == b"postwise-dispatch-launch-v1\npwABC\nE101\nLovelace, Ada\n1800000000\n" + b"n" * 22


def test_the_signature_is_hmac_sha256_in_base64url_without_padding():
    text = signatures.signed_text("pwABC", "E101", "Ada", "1800000000", "n" * 22)
    expected = base64.urlsafe_b64encode(hmac.new(b"s3cret", text, hashlib.sha256).digest()).rstrip(b"=")
    assert signatures.sign("s3cret", text) == expected.decode()
    assert "=" not in signatures.sign("s3cret", text)


def test_any_accepted_secret_verifies_and_nothing_else_does():
    text = signatures.signed_text("pwABC", "E101", "Ada", "1800000000", "n" * 22)
    signature = signatures.sign("old", text)
    assert signatures.signature_matches(["new", "old"], text, signature)
    assert not signatures.signature_matches(["new"], text, signature)
    assert not signatures.signature_matches([], text, signature)
    assert not signatures.signature_matches(["old"], text + b"x", signature)
    assert not signatures.signature_matches(["old"], text, "")


def test_a_timestamp_is_fresh_within_five_minutes_either_way():
    at = int(NOW.timestamp())
    assert signatures.timestamp_fresh(str(at), NOW)
    assert signatures.timestamp_fresh(str(at - 300), NOW)
    assert signatures.timestamp_fresh(str(at + 300), NOW)
    assert not signatures.timestamp_fresh(str(at - 301), NOW)
    assert not signatures.timestamp_fresh(str(at + 301), NOW)
    for bad in ("", "-5", "1.5e9", "17000000000000", " 1800000000"):
        assert not signatures.timestamp_fresh(bad, NOW), bad


def test_nonces_are_random_url_safe_text_of_16_to_64_characters():
    assert signatures.NONCE.fullmatch("A" * 16) and signatures.NONCE.fullmatch("a-_" * 20)
    assert not signatures.NONCE.fullmatch("short") and not signatures.NONCE.fullmatch("x" * 65)
    assert not signatures.NONCE.fullmatch("with space and more")
