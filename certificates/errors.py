"""Errors of the certificate flow. They are ValueErrors too, so pure code can catch them plainly."""

from __future__ import annotations

from training_app.errors import N_, DomainError


class InvalidCertificateCode(DomainError, ValueError):
    """What someone typed on the verification page cannot be a certificate code.

    `reason` is one of "empty", "too_long", "invalid_character", "wrong_length".
    """

    status = 400
    code = "invalid_certificate_code"
    title = N_("That is not a certificate code")

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message, errors={"code": message})


class InvalidBranding(DomainError, ValueError):
    """A tenant's certificate branding cannot be used (bad colour, logo type or size)."""

    status = 422
    code = "invalid_branding"
    title = N_("The certificate branding is not valid")

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}", errors={field: problem})


class InvalidCertificate(DomainError, ValueError):
    """The data given for one certificate cannot be printed (empty name, score out of range...)."""

    status = 422
    code = "invalid_certificate"
    title = N_("The certificate data is not valid")

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}", errors={field: problem})


class InvalidCredential(DomainError, ValueError):
    """A signed credential (VC-JWT) failed verification.

    `reason` is one of "malformed", "signature", "expired", "not_yet_valid", "claims", "key".
    """

    status = 400
    code = "invalid_credential"
    title = N_("The credential could not be verified")

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)
