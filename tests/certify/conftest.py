"""Fixtures for the certificate core. No database and no app: these tests use neither `app` nor
`client`, so they run once, not once per database backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

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
