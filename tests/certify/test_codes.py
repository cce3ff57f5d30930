"""Public certificate codes: enough randomness, easy to read aloud and to type back."""

from __future__ import annotations

import math
import re

import pytest

from certificates.codes import ALPHABET, CODE_LENGTH, new_public_code, normalise_code
from certificates.errors import InvalidCertificateCode
from training_app.errors import DomainError

GROUPED = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def test_a_code_carries_at_least_80_random_bits_in_crockford_base32() -> None:
    assert len(ALPHABET) == 32 and len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)
    assert CODE_LENGTH * math.log2(len(ALPHABET)) >= 80

    code = new_public_code()

    assert GROUPED.match(code), code
    assert len(code.replace("-", "")) == CODE_LENGTH


def test_codes_do_not_repeat_and_use_the_whole_alphabet() -> None:
    codes = {new_public_code() for _ in range(5000)}

    assert len(codes) == 5000
    assert set("".join(codes).replace("-", "")) == set(ALPHABET)


def test_a_fresh_code_normalises_to_itself() -> None:
    code = new_public_code()

    assert normalise_code(code) == code


@pytest.mark.parametrize(
    "typed",
    [
        "7KQ2-M9XD-4HPT-ZR3B",
        "7kq2-m9xd-4hpt-zr3b",
        "7KQ2M9XD4HPTZR3B",
        " 7KQ2 M9XD 4HPT ZR3B ",
        "7KQ2--M9XD---4HPT-ZR3B",
        "7-K-Q-2-M-9-X-D-4-H-P-T-Z-R-3-B",
        "7KQ2\u2010M9XD\u20134HPT\u2014ZR3B",  # dashes from a word processor or a PDF
        "７ＫＱ２－Ｍ９ＸＤ－４ＨＰＴ－ＺＲ３Ｂ",  # full-width, from a CJK keyboard
        "7KQ2\tM9XD\n4HPT ZR3B",
    ],
)
def test_what_people_type_is_read_back_as_the_code(typed: str) -> None:
    assert normalise_code(typed) == "7KQ2-M9XD-4HPT-ZR3B"


def test_look_alike_letters_are_read_as_the_digits_they_resemble() -> None:
    assert normalise_code("OOOO-IIII-LLLL-oil0") == "0000-1111-1111-0110"


@pytest.mark.parametrize(
    ("typed", "reason", "says"),
    [
        ("", "empty", "Enter the code printed on the certificate"),
        ("  - -- ", "empty", "Enter the code printed on the certificate"),
        ("7KQ2-M9XD-4HPT-ZR3", "wrong_length", "has 15"),
        ("7KQ2-M9XD-4HPT-ZR3B-X", "wrong_length", "has 17"),
        ("7KQ2-M9XD-4HPT-ZRUB", "invalid_character", "'U'"),
        ("7KQ2/M9XD/4HPT/ZR3B", "invalid_character", "'/'"),
        ("7KQ2-M9XD-4HPT-ZR3Ü", "invalid_character", "'Ü'"),
        ("'; DROP TABLE certificates;--", "invalid_character", "cannot be part of one"),
        ("7" * 65, "too_long", "at most 64 characters"),
    ],
)
def test_bad_input_is_refused_with_a_message_that_says_why(typed: str, reason: str, says: str) -> None:
    with pytest.raises(InvalidCertificateCode) as caught:
        normalise_code(typed)

    assert caught.value.reason == reason
    assert says in str(caught.value)
    assert "7KQ2-M9XD-4HPT-ZR3B" in str(caught.value) or reason == "wrong_length"


def test_over_long_input_is_refused_before_any_work() -> None:
    with pytest.raises(InvalidCertificateCode, match="too long"):
        normalise_code("A" * 10_000)


def test_a_bad_code_is_a_value_error_and_a_400_domain_error_for_the_verification_page() -> None:
    with pytest.raises(ValueError) as caught:
        normalise_code("nope")

    error = caught.value
    assert isinstance(error, DomainError)
    assert error.status == 400
    assert error.code == "invalid_certificate_code"
    assert error.errors == {"code": error.message}
