"""The verification QR code drawn after layout (certificates/qr.py) and the stylesheet compiled per
colour scheme (render.compiled_stylesheet): both exist for speed, so they must print the page
exactly as the inline SVG and the CSS custom properties did."""

from __future__ import annotations

import re
from collections.abc import Callable

import pypdfium2
import pytest
import segno
from PIL import Image, ImageChops
from weasyprint import CSS, HTML

from certificates import render
from certificates.qr import QR_ANCHOR, VerifyQr, qr_matrix
from certificates.render import Branding, CertificateDocument, render_certificate_pdf
from certificates.text_layer import exact_text_layer
from tests.certify.conftest import VERIFY_URL
from tests.certify.pdfs import qr_codes

MakeCertificate = Callable[..., CertificateDocument]


def _page_image(pdf: bytes, dpi: int = 150) -> Image.Image:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()


def _printed_the_old_way(cert: CertificateDocument, branding: Branding) -> bytes:
    """The certificate as it was printed before: the QR code as inline SVG in the HTML, and the
    colours as CSS custom properties resolved by WeasyPrint."""
    printer = render._printer()
    svg = segno.make(cert.verify_url, error="m", micro=False).svg_inline(
        scale=1, border=4, dark="#111111", light="#ffffff", omitsize=True
    )
    html = render.certificate_html(cert, branding)
    html = html.replace(f'<div class="qr" id="{QR_ANCHOR}"></div>', f'<div class="qr">{svg}</div>')
    colours = f"--primary: {branding.primary_colour}; --accent: {branding.accent_colour};"
    html = html.replace("</head>", f"<style>:root {{ {colours} }}</style></head>")
    assert svg in html and colours in html
    stylesheet = CSS(
        string=render.PDF_STYLESHEET.read_text() + "\n.qr svg { width: 30mm; height: 30mm; }",
        font_config=printer.font_config,
        url_fetcher=printer.url_fetcher,
    )
    with exact_text_layer():
        return HTML(string=html, url_fetcher=printer.url_fetcher).write_pdf(
            stylesheets=[stylesheet], font_config=printer.font_config
        )


@pytest.mark.parametrize(
    "colours",
    [
        pytest.param(("#1f3a5f", "#b8860b"), id="default-colours"),
        pytest.param(("#c0392b", "#27ae60"), id="tenant-colours"),
    ],
)
def test_the_page_prints_pixel_for_pixel_as_with_inline_svg_and_custom_properties(
    colours: tuple[str, str], make_certificate: MakeCertificate
) -> None:
    branding = Branding("Acme Corporation", *colours, signatory_name="Dana Whitfield")
    cert = make_certificate()

    now = _page_image(render_certificate_pdf(cert, branding))
    before = _page_image(_printed_the_old_way(cert, branding))

    assert ImageChops.difference(now, before).getbbox() is None


def test_the_qr_code_fills_its_box_on_top_of_the_page(make_certificate: MakeCertificate) -> None:
    # A background on the page must not hide the code: it is drawn after everything else.
    branding = Branding("Acme Corporation")
    cert = make_certificate()
    printer = render._printer()
    html = render.certificate_html(cert, branding).replace("<body>", '<body style="background: #fdf6e3">')

    pdf = HTML(string=html, url_fetcher=printer.url_fetcher).write_pdf(
        stylesheets=[printer.stylesheet(branding)],
        font_config=printer.font_config,
        finisher=VerifyQr(qr_matrix(cert.verify_url)),
    )

    assert qr_codes(pdf) == [VERIFY_URL]
    image = _page_image(pdf, dpi=96)  # 1 px = 1 CSS px
    document = HTML(string=html, url_fetcher=printer.url_fetcher).render(
        stylesheets=[printer.stylesheet(branding)], font_config=printer.font_config
    )
    left, top, right, bottom = (round(value) for value in document.pages[0].anchors[QR_ANCHOR])
    # The quiet zone is white, the rest of the page keeps its background.
    assert image.getpixel((left + 2, top + 2)) == (255, 255, 255)
    assert image.getpixel((right - 3, bottom - 3)) == (255, 255, 255)
    assert image.getpixel((left - 3, top - 3)) == (0xFD, 0xF6, 0xE3)


def test_a_template_without_the_qr_box_is_refused(make_certificate: MakeCertificate) -> None:
    printer = render._printer()

    with pytest.raises(RuntimeError, match=f'no box with id="{QR_ANCHOR}"'):
        HTML(string="<p>No QR code box</p>").write_pdf(
            font_config=printer.font_config, finisher=VerifyQr(qr_matrix(VERIFY_URL))
        )


def test_the_qr_modules_are_cached_per_url_and_read_only() -> None:
    first = qr_matrix("https://training.example.com/verify/AAAA-BBBB-CCCC-DDDD")

    assert qr_matrix("https://training.example.com/verify/AAAA-BBBB-CCCC-DDDD") is first
    assert all(isinstance(row, bytes) for row in first)
    assert len(first) == len(first[0]) == 33  # version 4


def test_the_compiled_stylesheet_has_the_tenant_colours_and_no_custom_properties() -> None:
    css = re.sub(r"/\*.*?\*/", "", render.compiled_stylesheet("#c0392b", "#27ae60"), flags=re.S)

    assert "var(" not in css
    assert not re.search(r"--[a-z]", css)
    assert "solid #c0392b" in css and "solid #27ae60" in css
    assert '"Noto Serif", "Noto Naskh Arabic"' in css


def test_each_colour_scheme_is_parsed_once_per_thread() -> None:
    printer = render._printer()
    acme = Branding("Acme Corporation", "#102030", "#405060")

    same_colours = Branding("Other tenant", "#102030", "#405060")
    other_accent = Branding("Acme Corporation", "#102030", "#405061")

    assert printer.stylesheet(acme) is printer.stylesheet(same_colours)
    assert printer.stylesheet(acme) is not printer.stylesheet(other_accent)
