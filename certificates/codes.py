"""Public certificate codes: 80 random bits people can read aloud, type back and check.

A code is 16 symbols of Crockford base32 (32**16 = 2**80) printed in four groups, for example
`7KQ2-M9XD-4HPT-ZR3B`. The alphabet has no I, L, O or U, so what people type by mistake for
the look-alikes is read back as the digit they meant (O -> 0, I and L -> 1).
"""

from __future__ import annotations

import base64
import re
import secrets
import unicodedata

from flask_babel import gettext

from certificates.errors import InvalidCertificateCode

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
GROUP_SIZE = 4
MAX_INPUT_LENGTH = 64
EXAMPLE_CODE = "7KQ2-M9XD-4HPT-ZR3B"

# Base32 maps each 5 bits to a symbol; RFC 4648's alphabet to Crockford's, symbol for symbol.
_RFC4648_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET)
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Spaces and every Unicode dash (a code pasted from a PDF or a word processor often has U+2010).
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\uFE58\uFE63\uFF0D]+")


def new_public_code() -> str:
    """A fresh code with 80 bits from the OS random source, grouped for reading aloud."""
    symbols = base64.b32encode(secrets.token_bytes(CODE_LENGTH * 5 // 8)).decode("ascii")
    return _grouped(symbols.translate(_RFC4648_TO_CROCKFORD))


def normalise_code(text: str) -> str:
    """The canonical grouped form of what someone typed, or InvalidCertificateCode saying why not.

    Accepts lower case, spaces, missing or extra dashes, full-width characters and the look-alikes
    O, I and L.
    """
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidCertificateCode(
            gettext(
                "That is too long to be a certificate code (at most %(num)d characters); a code "
                "looks like %(example)s.",
                num=MAX_INPUT_LENGTH,
                example=EXAMPLE_CODE,
            ),
            reason="too_long",
        )
    # NFKC turns full-width input from CJK keyboards into ASCII.
    symbols = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper().translate(_LOOK_ALIKES)
    if not symbols:
        raise InvalidCertificateCode(
            gettext(
                "Enter the code printed on the certificate, for example %(example)s.", example=EXAMPLE_CODE
            ),
            reason="empty",
        )
    invalid = sorted({ch for ch in symbols if ch not in ALPHABET})
    if invalid:
        shown = ", ".join(repr(ch) for ch in invalid)
        raise InvalidCertificateCode(
            gettext(
                "A certificate code has only digits and the letters A-Z except U; %(shown)s cannot be "
                "part of one (a code looks like %(example)s).",
                shown=shown,
                example=EXAMPLE_CODE,
            ),
            reason="invalid_character",
        )
    if len(symbols) != CODE_LENGTH:
        raise InvalidCertificateCode(
            gettext(
                "A certificate code has %(num)d letters and digits (for example %(example)s); this "
                "one has %(given)d. Check for a missing or extra character.",
                num=CODE_LENGTH,
                example=EXAMPLE_CODE,
                given=len(symbols),
            ),
            reason="wrong_length",
        )
    return _grouped(symbols)


def _grouped(symbols: str) -> str:
    return "-".join(symbols[i : i + GROUP_SIZE] for i in range(0, len(symbols), GROUP_SIZE))
