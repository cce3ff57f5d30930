"""Fixtures for the certificate tests. The core's tests use neither `app` nor `client`, so they run
once, not once per database backend."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jsonschema import Draft201909Validator, FormatChecker

from certificates.credentials import generate_signing_key
from certificates.render import Branding, CertificateDocument

CODE = "7KQ2-M9XD-4HPT-ZR3B"
VERIFY_URL = f"https://training.example.com/verify/{CODE}"


@pytest.fixture
def branding() -> Branding:
    return Branding(
        organisation_name="Acme Corporation",
        primary_colour="#1F3A5F",
        accent_colour="#b8860b",
        signatory_name="Dana Whitfield",
        signatory_title="Chief People Officer",
    )


@pytest.fixture
def make_certificate() -> Callable[..., CertificateDocument]:
    base = CertificateDocument(
        holder_name="José Müller-Łukasiewicz",
        course_title="Social Media Policy — Orientation",
        policy_version="v3 · 2026-11-02",
        completed_on=date(2026, 11, 2),
        expires_on=date(2027, 11, 2),
        score=90,
        code=CODE,
        verify_url=VERIFY_URL,
        locale="en",
        issuer_name="Acme Corporation",
    )

    def make(**changes: Any) -> CertificateDocument:
        return replace(base, **changes)

    return make


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return generate_signing_key()


SCHEMA_PATH = Path(__file__).parent / "schemas" / "ob_v3p0_achievementcredential_schema.json"


def _date_time(value: object) -> bool:
    """RFC 3339 date-time with a timezone (jsonschema skips the format without rfc3339-validator)."""
    if not isinstance(value, str):
        return True
    try:
        return datetime.fromisoformat(value).tzinfo is not None and "T" in value
    except ValueError:
        return False


@pytest.fixture(scope="session")
def validator() -> Draft201909Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft201909Validator.check_schema(schema)
    formats = FormatChecker()
    formats.checks("date-time")(_date_time)
    return Draft201909Validator(schema, format_checker=formats)
