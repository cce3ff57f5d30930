"""The verification QR code, drawn as vector paths straight into the certificate's PDF page.

The template lays out an empty box for it (`<div class="qr" id="verify-qr">`, sized in pdf.css);
after layout, `VerifyQr` (a WeasyPrint finisher) reads where that box landed and appends the
code's modules to the page as stroked lines, on top of the page content.

Why not inline SVG, as before: WeasyPrint parses and draws an SVG path in Python, command by
command. A verification URL gives a version 4 code with about 280 dark runs, some 560 path
commands, a large share of a certificate's printing time. Written here as PDF operators they
cost almost nothing (bench/README.md has the figures). The drawing is the one the SVG made (segno's
`svg_inline` with scale 1 and a 4-module quiet zone: a white square, then each run of dark
modules as a line of width 1 through the middle of its row), under the same transformations,
so the page renders pixel for pixel as before (tests/certify/test_qr.py).

Only public APIs are used: WeasyPrint's `finisher` (called with the document and the pydyf PDF
before it is written), `Page.anchors` (the box of each element with an id) and pydyf's objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import pydyf
import segno
from weasyprint.document import Document

QR_ANCHOR = "verify-qr"  # the id of the placeholder box in pdf.html
QUIET_ZONE = 4  # modules of white around the code, as the QR specification asks
DARK = "0.066667 0.066667 0.066667"  # #111111
PT_PER_PX = 0.75  # 72 PDF points per inch / 96 CSS pixels per inch (write_pdf zoom 1)


@lru_cache(maxsize=256)
def qr_matrix(url: str) -> tuple[bytes, ...]:
    """The modules of a QR code of `url` (1 = dark), without quiet zone; error level M or better.

    Cached: segno chooses the mask by scoring all eight, and the same certificate is often printed
    again (a preview, then downloads).
    """
    return tuple(bytes(row) for row in segno.make(url, error="m", micro=False).matrix)


class VerifyQr:
    """A WeasyPrint finisher that draws a QR code in the page box with id `QR_ANCHOR`."""

    def __init__(self, matrix: Sequence[Sequence[int]]) -> None:
        self.matrix = matrix

    def __call__(self, document: Document, pdf: pydyf.PDF) -> None:
        if len(document.pages) != 1:
            raise RuntimeError(f"a certificate is one page, this one has {len(document.pages)}")
        page = document.pages[0]
        try:
            left, top, right, bottom = page.anchors[QR_ANCHOR]
        except KeyError:
            raise RuntimeError(f'the template has no box with id="{QR_ANCHOR}" for the QR code') from None
        contents = pdf.objects[pdf.pages["Kids"][0]]["Contents"]
        stream = pdf.objects[int(contents.split()[0])]
        if not isinstance(stream, pydyf.Stream):
            raise RuntimeError("the page's content is not one stream: cannot add the QR code")

        side = len(self.matrix) + 2 * QUIET_ZONE
        scale = min(right - left, bottom - top) / side  # CSS px per module
        # Save the state WeasyPrint's content starts from (PDF user space) and restore it after
        # the content. Then the same chain of transformations WeasyPrint uses for an SVG in that
        # box (flip the page, points to CSS px, the box's corner, px per module), so that the
        # code rasterizes exactly as the inline SVG did, and draw in module units.
        stream.stream.insert(0, b"q")
        stream.stream += [
            b"Q",
            b"q",
            f"1 0 0 -1 0 {_real(page.height * PT_PER_PX)} cm".encode(),
            f"{PT_PER_PX} 0 0 {PT_PER_PX} 0 0 cm".encode(),
            f"1 0 0 1 {_real(left)} {_real(top)} cm".encode(),
            f"{_real(scale)} 0 0 {_real(scale)} 0 0 cm".encode(),
            f"1 1 1 rg 0 0 m {side} 0 l {side} {side} l 0 {side} l h f".encode(),
            f"{DARK} RG 1 w 0 J".encode(),
            *_dark_runs(self.matrix),
            b"S",
            b"Q",
        ]


def _dark_runs(matrix: Sequence[Sequence[int]]) -> list[bytes]:
    """A line through the middle of each horizontal run of dark modules."""
    lines = []
    for y, row in enumerate(matrix, start=QUIET_ZONE):
        x, width = 0, len(row)
        while x < width:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < width and row[x]:
                x += 1
            lines.append(b"%d %d.5 m %d %d.5 l" % (start + QUIET_ZONE, y, x + QUIET_ZONE, y))
    return lines


def _real(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")
