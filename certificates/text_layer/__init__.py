"""An exact text layer for certificate PDFs: a small, version-pinned patch of WeasyPrint 70.0.

WHY
---
A verifier (and our tests) reads the holder's name back from the PDF with pypdf, and people copy,
search and hear it read aloud in their viewer: poppler (Evince, Okular) or PDFium (Chrome, Edge).
It must come back exactly as typed, in every script we print, and in every one of them. WeasyPrint
70.0 draws complex scripts correctly but writes a text layer that can read back wrong, for three
independent reasons. Each is fixed in a module of its own, whose docstring tells the whole story:

1. glyph_aliases.py: one string per glyph, first use wins (Kozea/WeasyPrint#2841), so
   "प्रिया शर्मा" read back "प्रिया शार्मा". Every (glyph, text) pair gets its own character code,
   which the font's /CIDToGIDMap maps to the real glyph: nothing is added to the font file.
2. pen_returns.py: a mark drawn left of the pen is followed by a rightward adjustment that pypdf
   reads as a word gap ("कृष्ण" read "कृ ष्ण"). The pen return becomes the mark's own advance (Tc).
3. actual_text.py: viewers read glyphs by position, and a cluster's glyphs do not each stand for a
   character (poppler read "अर्जुन शर्मा" as "अ न" / "र्जु श र्मा", letter-spaced labels as
   "C E R T I F I C AT E"). Each left-to-right word is a marked-content span with its exact text
   as /ActualText.

line.py wraps WeasyPrint's draw_first_line to do all three for each line, drawing it through
recorder.py's TextRecorder; tj.py reads the TJ strings 70.0 writes; internals.py holds the
WeasyPrint internals the patch uses. The patch applies only inside `exact_text_layer()`, which
render.py wraps around printing.

The page renders as before: pixel for pixel where only aliases are involved (spans draw nothing),
and within one grey level on a few anti-aliased edges where a mark's pen return moved into Tc or
a TJ string was split for a span (pdfium adds up adjustments in a different order in single
precision: 3e-5 pt).
tests/certify/test_text_layer.py checks this, and that names needing no alias draw the same
glyphs in the same places as before; tests/certify/test_text_in_viewers.py reads names and labels
in every script with pypdf, poppler's pdftotext and PDFium.

WHY IT IS PINNED
----------------
It wraps three WeasyPrint internals: `weasyprint.draw.text.draw_first_line`,
`weasyprint.pdf.fonts._build_vector_font_dictionary` and `weasyprint.pdf.fonts.Font.clean`, and
relies on how 70.0 builds TJ strings (one code per shown glyph, in the line's glyph order),
widths and /ToUnicode. `exact_text_layer()` raises UnsupportedWeasyPrint for any other version:
when upgrading WeasyPrint, check whether upstream fixed #2841 (and the mark gaps, and whether it
writes ActualText), then re-validate or delete this package, and update SUPPORTED_WEASYPRINT.
Outside `exact_text_layer()` the wrappers call the originals unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import weasyprint

from certificates.text_layer import internals
from certificates.text_layer.glyph_aliases import build_vector_font_dictionary, clean
from certificates.text_layer.line import draw_first_line

__all__ = ["SUPPORTED_WEASYPRINT", "UnsupportedWeasyPrint", "check_weasyprint_version", "exact_text_layer"]

SUPPORTED_WEASYPRINT = "70.0"


class UnsupportedWeasyPrint(RuntimeError):
    """The installed WeasyPrint is not the version this patch was written and checked for."""


_install_lock = threading.Lock()


def check_weasyprint_version(version: str | None = None) -> None:
    version = weasyprint.__version__ if version is None else version
    if version != SUPPORTED_WEASYPRINT:
        raise UnsupportedWeasyPrint(
            f"certificates/text_layer/ patches WeasyPrint {SUPPORTED_WEASYPRINT} internals so that "
            f"names in Devanagari and other complex scripts read back exactly from the PDF, but "
            f"WeasyPrint {version} is installed. Check whether that version fixes "
            f"Kozea/WeasyPrint#2841 and marks' pen returns, then re-validate this patch (run "
            f"tests/certify) and update SUPPORTED_WEASYPRINT, or remove the patch."
        )


@contextmanager
def exact_text_layer() -> Iterator[None]:
    """Apply the patch to WeasyPrint documents drawn and written by this thread in this block."""
    check_weasyprint_version()
    _install()
    internals.state.depth = getattr(internals.state, "depth", 0) + 1
    try:
        yield
    finally:
        internals.state.depth -= 1


def _install() -> None:
    with _install_lock:
        if internals.originals:
            return
        from weasyprint.draw import text as draw_text
        from weasyprint.pdf import fonts as pdf_fonts
        from weasyprint.text.ffi import FROM_UNITS, ffi, pango

        internals.ffi, internals.pango, internals.FROM_UNITS = ffi, pango, FROM_UNITS
        internals.originals["draw_first_line"] = draw_text.draw_first_line
        internals.originals["build_vector_font_dictionary"] = pdf_fonts._build_vector_font_dictionary
        internals.originals["clean"] = pdf_fonts.Font.clean
        draw_text.draw_first_line = draw_first_line
        pdf_fonts._build_vector_font_dictionary = build_vector_font_dictionary
        pdf_fonts.Font.clean = clean
