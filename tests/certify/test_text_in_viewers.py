"""A certificate copies, searches and reads aloud right in the viewers people use, in every script.

Three readers, three ways of reading a PDF's text: pypdf (our verifier and tests) maps each glyph
through the font's /ToUnicode; poppler (pdftotext: Evince, Okular) and PDFium (Chrome, Edge) also
place the characters by the glyphs' positions, infer spaces from gaps, and honour ActualText.
certificates/text_layer/ gives each left-to-right word an ActualText span for the latter two;
right-to-left text reads from its glyphs in all three.

Known limit, not tested here: Arabic written with its optional vowel marks (مُحَمَّد) reads
exactly with pypdf only. Its marks are drawn raised, so poppler and PDFium take each for a word of
its own, and an ActualText span cannot help: both lay a span's characters out left to right and
then reverse right-to-left text, so the span would read backwards. Names are rarely typed with
vowel marks; without them (below) Arabic reads exactly everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from certificates.render import Branding, CertificateDocument, render_certificate_pdf
from tests.certify.conftest import CODE
from tests.certify.pdfs import nfc, text_by_reader, text_lines

MakeCertificate = Callable[..., CertificateDocument]

NAMES = [
    pytest.param("Ada Lovelace", id="latin"),
    pytest.param("José Müller-Łukasiewicz", id="latin-accents"),
    pytest.param("Анна Каренина", id="cyrillic"),
    pytest.param("Пётр Ильич Чайковский", id="cyrillic-yo"),
    # Right to left, read back in logical order (poppler wraps the run in U+202B ... U+202C).
    pytest.param("محمد عبد الله", id="arabic"),
    pytest.param("لطيفة الأحمد", id="arabic-lam-alef"),
    pytest.param("محمدرضا شجریان", id="persian"),
    # No space between Han characters.
    pytest.param("王小明", id="chinese"),
    pytest.param("欧阳娜娜", id="chinese-four"),
    # Before the spans, poppler read "अ न" / "र्जु श र्मा": a cluster's text is on one glyph, its
    # other glyphs stand for "", and the gap they leave is a word break to poppler. PDFium read
    # "अ>र्जुन शP…र्मा !": a glyph that stands for "" reads as its code (0x3E ">", 0x50 "P").
    pytest.param("अर्जुन शर्मा", id="devanagari-arjun-sharma"),
    pytest.param("प्रिया शर्मा", id="devanagari-priya-sharma"),
    pytest.param("कृष्ण", id="devanagari-krishna"),
    pytest.param("सिद्धार्थ मिश्र", id="devanagari-siddharth-mishra"),
    pytest.param("दुर्गा प्रसाद", id="devanagari-durga-prasad"),
    pytest.param("श्रीनिवास त्रिपाठी", id="devanagari-shrinivas-tripathi"),
    pytest.param("রবীন্দ্রনাথ ঠাকুর", id="bengali-rabindranath-thakur"),
    pytest.param("সত্যজিৎ রায়", id="bengali-satyajit-ray"),
    pytest.param("சுப்பிரமணிய பாரதி", id="tamil-subramania-bharati"),
    pytest.param("ஸ்ரீனிவாச ராமானுஜன்", id="tamil-srinivasa-ramanujan"),
]


def _misread(expected: list[str], pdf: bytes) -> dict[str, str]:
    """Each reader that does not get every one of `expected`, with the text it got instead."""
    return {
        reader: text
        for reader, text in text_by_reader(pdf).items()
        if not all(nfc(phrase) in nfc(text) for phrase in expected)
    }


@pytest.mark.parametrize("name", NAMES)
def test_every_reader_gets_the_name_exactly(
    name: str, make_certificate: MakeCertificate, branding: Branding
) -> None:
    pdf = render_certificate_pdf(make_certificate(holder_name=name), branding)

    assert _misread([name], pdf) == {}


LABELS = {
    "en": [
        "CERTIFICATE NO.",
        "COMPLETED ON",
        "VALID UNTIL",
        "SCORE",
        "VERIFY AT",
        "CERTIFICATE OF COMPLETION",  # the title, spaced 0.05 em: it read right before too
    ],
    "es": ["CERTIFICADO N.º", "COMPLETADO EL", "VÁLIDO HASTA", "PUNTUACIÓN", "VERIFÍQUELO EN"],
}


@pytest.mark.parametrize("locale", LABELS)
def test_letter_spaced_labels_read_as_words_not_letters(
    locale: str, make_certificate: MakeCertificate, branding: Branding
) -> None:
    # Spaced 0.12 em apart, the letters of a label were each a word to poppler ("C E R T I F I C AT E":
    # it breaks words at gaps over 0.1 em); the code is spaced too.
    pdf = render_certificate_pdf(make_certificate(locale=locale), branding)

    assert _misread([*LABELS[locale], CODE], pdf) == {}


@pytest.mark.parametrize(
    ("name", "course_title", "signatory_name"),
    [
        ("Ada Lovelace", "Social Media Policy — Orientation", "Dana Whitfield"),
        ("अर्जुन शर्मा", "सोशल मीडिया नीति — परिचय", "कृष्ण मूर्ति"),
        ("রবীন্দ্রনাথ ঠাকুর", "সামাজিক মাধ্যম নীতি", "সত্যজিৎ রায়"),
    ],
)
def test_every_line_pypdf_reads_the_other_readers_read_too(
    name: str,
    course_title: str,
    signatory_name: str,
    make_certificate: MakeCertificate,
    branding: Branding,
) -> None:
    cert = make_certificate(holder_name=name, course_title=course_title)
    pdf = render_certificate_pdf(cert, replace(branding, signatory_name=signatory_name))

    lines = text_lines(pdf)
    assert {name, course_title, signatory_name} <= set(lines)
    assert _misread(lines, pdf) == {}
