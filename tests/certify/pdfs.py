"""Reading rendered certificates back: text, fonts and the QR code, the way a verifier would."""

from __future__ import annotations

import io
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import pypdf
import pypdfium2
import pytest
import zxingcpp
from pypdf.generic import DictionaryObject


def page_count(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def text_lines(pdf: bytes) -> list[str]:
    """The first page's text as pypdf extracts it, one entry per line, whitespace collapsed."""
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def plain_text(pdf: bytes) -> str:
    return " ".join(text_lines(pdf))


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", " ".join(text.split()))


def nfc(text: str) -> str:
    """`text` in NFC with each run of whitespace (line breaks, layout padding) as one space."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


# --- the text other readers get: what people copy, search and hear read aloud in their viewer ---


def poppler_text(pdf: bytes, *, layout: bool = False) -> str:
    """The first page's text as poppler's pdftotext gives it (poppler is the engine of Evince,
    Okular and most Linux viewers): in reading order, or with `layout` as laid out on the page."""
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.fail("pdftotext is missing: install poppler-utils (scripts/system-packages.sh --test)")
    command = [pdftotext, "-q", "-enc", "UTF-8", "-f", "1", "-l", "1", *(["-layout"] * layout), "-", "-"]
    return subprocess.run(command, input=pdf, capture_output=True, check=True).stdout.decode("utf-8")


def pdfium_text(pdf: bytes) -> str:
    """The first page's text as PDFium gives it: the engine of Chrome's and Edge's PDF viewer."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        page = document[0]
        text_page = page.get_textpage()
        try:
            return text_page.get_text_range()
        finally:
            text_page.close()
            page.close()
    finally:
        document.close()


def text_by_reader(pdf: bytes) -> dict[str, str]:
    """The first page's text as each reader gets it: pypdf (our verifier and tests), poppler
    without and with -layout (a viewer's copy keeps either), and PDFium."""
    return {
        "pypdf": pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text(),
        "pdftotext": poppler_text(pdf),
        "pdftotext -layout": poppler_text(pdf, layout=True),
        "pdfium": pdfium_text(pdf),
    }


@dataclass(frozen=True)
class PdfFont:
    name: str
    subtype: str
    embedded: bool


def fonts(pdf: bytes) -> list[PdfFont]:
    """Every font the first page uses (also inside form XObjects), and whether its file is embedded."""
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    return list(_fonts_in(page["/Resources"].get_object()))


def _fonts_in(resources: DictionaryObject) -> Iterator[PdfFont]:
    for font in (resources.get("/Font") or DictionaryObject()).values():
        font = font.get_object()
        descriptor_owner = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
        descriptor = descriptor_owner.get("/FontDescriptor")
        descriptor = descriptor.get_object() if descriptor is not None else DictionaryObject()
        embedded = any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
        yield PdfFont(str(font["/BaseFont"]), str(font["/Subtype"]), embedded)
    for xobject in (resources.get("/XObject") or DictionaryObject()).values():
        xobject = xobject.get_object()
        if xobject.get("/Subtype") == "/Form" and "/Resources" in xobject:
            yield from _fonts_in(xobject["/Resources"].get_object())


def image_count(pdf: bytes) -> int:
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    return len(page.images)


def qr_codes(pdf: bytes, dpi: int = 200) -> list[str]:
    """The QR codes found on the first page printed at `dpi`, as a phone camera would read them."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    return [
        barcode.text
        for barcode in zxingcpp.read_barcodes(image)
        if barcode.format == zxingcpp.BarcodeFormat.QRCode and barcode.valid
    ]
