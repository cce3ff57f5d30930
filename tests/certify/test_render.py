"""Certificate PDFs, read back the way people and verifiers meet them: text, QR code, fonts."""

from __future__ import annotations

import io
import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from certificates import render
from certificates.errors import InvalidBranding, InvalidCertificate
from certificates.render import (
    Branding,
    CertificateDocument,
    Logo,
    fitted_font_size,
    render_certificate_pdf,
    render_preview_png,
)
from tests.certify.conftest import CODE, VERIFY_URL
from tests.certify.pdfs import fonts, image_count, nfkc, page_count, plain_text, qr_codes, text_lines

MakeCertificate = Callable[..., CertificateDocument]


def test_the_certificate_states_who_did_what_when_and_how_well(
    make_certificate: MakeCertificate, branding: Branding
) -> None:
    pdf = render_certificate_pdf(make_certificate(), branding)

    assert pdf.startswith(b"%PDF-")
    assert page_count(pdf) == 1
    lines = text_lines(pdf)
    text = plain_text(pdf)
    assert "José Müller-Łukasiewicz" in lines
    assert "Social Media Policy — Orientation" in lines
    assert "Policy version v3 · 2026-11-02" in text
    assert "November 2, 2026" in text  # completed
    assert "November 2, 2027" in text  # expires
    assert "90/100" in text
    assert CODE in text
    assert "CERTIFICATE OF COMPLETION" in text
    assert "Dana Whitfield" in lines
    assert "Chief People Officer" in lines
    assert "Issued by Acme Corporation" in lines


def test_labels_and_dates_follow_the_learners_language(
    make_certificate: MakeCertificate, branding: Branding
) -> None:
    pdf = render_certificate_pdf(make_certificate(locale="es-MX"), branding)

    text = plain_text(pdf)
    assert "CERTIFICADO DE FINALIZACIÓN" in text
    assert "2 de noviembre de 2026" in text
    assert "2 de noviembre de 2027" in text
    assert "Versión de la política v3 · 2026-11-02" in text


def test_a_language_without_labels_prints_in_english(
    make_certificate: MakeCertificate, branding: Branding
) -> None:
    text = plain_text(render_certificate_pdf(make_certificate(locale="sv"), branding))

    assert "CERTIFICATE OF COMPLETION" in text
    assert "November 2, 2026" in text


def test_a_certificate_without_expiry_says_so(make_certificate: MakeCertificate, branding: Branding) -> None:
    text = plain_text(render_certificate_pdf(make_certificate(expires_on=None), branding))

    assert "No expiry" in text
    assert "2027" not in text


def test_the_qr_code_on_the_printed_page_opens_the_verification_page(
    make_certificate: MakeCertificate, branding: Branding
) -> None:
    pdf = render_certificate_pdf(make_certificate(), branding)

    assert qr_codes(pdf, dpi=200) == [VERIFY_URL]
    assert "VERIFY AT" in plain_text(pdf)


def test_the_qr_code_is_vector_not_an_image(make_certificate: MakeCertificate, branding: Branding) -> None:
    pdf = render_certificate_pdf(make_certificate(), branding)

    assert image_count(pdf) == 0


# Debian packages: Noto Serif / Naskh Arabic / Serif Devanagari in fonts-noto-core,
# Noto Serif CJK in fonts-noto-cjk (scripts/system-packages.sh installs both).
@pytest.mark.parametrize(
    ("name", "font_family"),
    [
        pytest.param("José Müller-Łukasiewicz", "Noto-Serif-Bold", id="latin"),
        pytest.param("نور الهدى عبد الله", "Noto-Naskh-Arabic", id="arabic"),
        pytest.param("王小明", "Noto-Serif-CJK", id="chinese"),
        pytest.param("山田太郎", "Noto-Serif-CJK", id="japanese-kanji"),
        pytest.param("やまだ たろう", "Noto-Serif-CJK-JP", id="japanese-kana"),
        pytest.param("प्रिया शर्मा", "Noto-Serif-Devanagari", id="devanagari"),
    ],
)
def test_a_name_in_any_script_prints_with_embedded_fonts_and_no_missing_glyphs(
    name: str,
    font_family: str,
    make_certificate: MakeCertificate,
    branding: Branding,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf = render_certificate_pdf(make_certificate(holder_name=name), branding)

    assert not [r for r in caplog.records if "notdef" in r.getMessage()], "a glyph is missing"
    used = fonts(pdf)
    assert used, "no fonts found on the page"
    assert all(font.embedded for font in used), [font for font in used if not font.embedded]
    assert any(font_family in font.name for font in used), [font.name for font in used]
    assert page_count(pdf) == 1


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("José Müller-Łukasiewicz", id="latin"),
        # pypdf returns the Arabic letters (U+0600 block, not presentation forms) in logical order.
        pytest.param("نور الهدى عبد الله", id="arabic"),
        pytest.param("王小明", id="chinese"),
        pytest.param("山田太郎", id="japanese"),
        # Exact only with certificates/text_layer/ (WeasyPrint 70 maps each glyph to one string).
        pytest.param("प्रिया शर्मा", id="devanagari"),
    ],
)
def test_the_name_reads_back_from_the_pdf_exactly(
    name: str, make_certificate: MakeCertificate, branding: Branding
) -> None:
    pdf = render_certificate_pdf(make_certificate(holder_name=name), branding)

    assert name in text_lines(pdf)
    # The same holds after NFKC, which would also fold Arabic presentation forms if a producer used them.
    assert nfkc(name) in [nfkc(line) for line in text_lines(pdf)]


def test_a_name_with_combining_accents_prints_like_the_composed_one(
    make_certificate: MakeCertificate, branding: Branding
) -> None:
    decomposed = "Jose\u0301 Mu\u0308ller"

    pdf = render_certificate_pdf(make_certificate(holder_name=decomposed), branding)

    assert "José Müller" in text_lines(pdf)


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("W" * 200, "M" * 300),
        ("山" * 200, "山" * 300),
        ("Maximiliano Alejandro de la Santísima Trinidad Fernández-Villaverde y Ortega", "Policy"),
    ],
)
def test_the_longest_names_and_titles_still_fit_on_one_page(
    name: str, title: str, make_certificate: MakeCertificate, branding: Branding
) -> None:
    pdf = render_certificate_pdf(make_certificate(holder_name=name, course_title=title), branding)

    assert page_count(pdf) == 1
    assert qr_codes(pdf) == [VERIFY_URL]


def test_long_text_gets_smaller_but_never_below_the_floor() -> None:
    short = fitted_font_size("Ann Lee", largest=32, one_line_floor=22, smallest=12)
    medium = fitted_font_size(
        "Maximiliano Alejandro de la Santísima", largest=32, one_line_floor=22, smallest=12
    )
    huge = fitted_font_size("W" * 200, largest=32, one_line_floor=22, smallest=12)

    assert short == 32
    assert 22 <= medium < 32
    assert huge == 12


def test_what_people_typed_is_printed_as_text_never_as_markup(
    make_certificate: MakeCertificate, branding: Branding
) -> None:
    name = '<b>Bob</b> & <img src="http://127.0.0.1:9/x.png"> "Tables"'

    pdf = render_certificate_pdf(make_certificate(holder_name=name), branding)

    assert name in text_lines(pdf)
    assert image_count(pdf) == 0


def _png(width: int = 120, height: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "#0b6e4f").save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_tenant_logo_is_embedded_in_the_pdf(make_certificate: MakeCertificate) -> None:
    branding = Branding("Acme Corporation", logo=Logo(_png(), "image/png"))

    pdf = render_certificate_pdf(make_certificate(), branding)

    assert image_count(pdf) == 1
    assert qr_codes(pdf) == [VERIFY_URL]


@pytest.fixture
def web_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that records every GET it receives."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}", requested
    server.shutdown()
    server.server_close()


def test_rendering_never_fetches_from_the_network_or_the_disk(
    make_certificate: MakeCertificate, web_server: tuple[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    url, requested = web_server
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="100" height="40"><image href="{url}/tracker.png" width="10" height="10"/>'
        f'<image xlink:href="file:///etc/hostname" width="10" height="10"/>'
        f'<rect width="100" height="40" fill="#0b6e4f"/></svg>'
    ).encode()
    branding = Branding("Acme Corporation", logo=Logo(svg, "image/svg+xml"))

    with caplog.at_level(logging.ERROR, logger="weasyprint"):
        pdf = render_certificate_pdf(make_certificate(), branding)

    assert page_count(pdf) == 1
    assert requested == []


def test_the_preview_is_a_png_of_the_page(make_certificate: MakeCertificate, branding: Branding) -> None:
    png = render_preview_png(render_certificate_pdf(make_certificate(), branding), width_px=900)

    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.width == 900
    assert 630 <= image.height <= 640  # A4 landscape: 210/297 of the width


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"primary_colour": "red"}, "primary_colour", "#rrggbb"),
        ({"accent_colour": "#12345"}, "accent_colour", "#rrggbb"),
        ({"accent_colour": "#12345g"}, "accent_colour", "#rrggbb"),
        ({"organisation_name": "  "}, "organisation_name", "empty"),
    ],
)
def test_branding_refuses_what_cannot_be_printed(changes: dict[str, str], field: str, says: str) -> None:
    values = {"organisation_name": "Acme Corporation", **changes}

    with pytest.raises(InvalidBranding) as caught:
        Branding(**values)

    assert caught.value.field == field
    assert says in caught.value.message


def test_colours_are_stored_in_lower_case() -> None:
    assert Branding("Acme", primary_colour="#AABBCC").primary_colour == "#aabbcc"


@pytest.mark.parametrize(
    ("data", "mime_type", "says"),
    [
        (b"GIF89a...", "image/bmp", "not a supported image type"),
        (_png(), "image/jpeg", "does not contain image/jpeg data"),
        (b"<html></html>", "image/svg+xml", "does not contain image/svg+xml data"),
        (b"", "image/png", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * render.MAX_LOGO_BYTES, "image/png", "larger than"),
    ],
)
def test_a_logo_must_be_a_small_image_of_the_type_it_claims(data: bytes, mime_type: str, says: str) -> None:
    with pytest.raises(InvalidBranding) as caught:
        Logo(data, mime_type)

    assert caught.value.field == "logo"
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"holder_name": "   "}, "holder_name"),
        ({"holder_name": "x" * 201}, "holder_name"),
        ({"course_title": ""}, "course_title"),
        ({"score": 101}, "score"),
        ({"score": -1}, "score"),
        ({"score": True}, "score"),
        ({"expires_on": date(2026, 11, 1)}, "expires_on"),
        ({"verify_url": "javascript:alert(1)"}, "verify_url"),
    ],
)
def test_certificate_data_that_cannot_be_printed_is_refused(
    changes: dict[str, object], field: str, make_certificate: MakeCertificate
) -> None:
    with pytest.raises(InvalidCertificate) as caught:
        make_certificate(**changes)

    assert caught.value.field == field


def test_the_code_on_a_certificate_is_normalised(make_certificate: MakeCertificate) -> None:
    assert make_certificate(code="7kq2 m9xd 4hpt zr3b").code == CODE


def test_each_thread_prints_with_its_own_fonts(make_certificate: MakeCertificate, branding: Branding) -> None:
    results: dict[str, bytes] = {}

    def work(name: str) -> None:
        results[name] = render_certificate_pdf(make_certificate(holder_name=name), branding)

    names = ("Ann Lee", "王小明", "نور", "प्रिया शर्मा")
    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {name for name, pdf in results.items() if name in text_lines(pdf)} == set(names)


def test_the_signature_line_is_drawn_only_above_a_named_signatory(make_certificate: MakeCertificate) -> None:
    unsigned = render.certificate_html(make_certificate(), Branding(organisation_name="Acme Corporation"))
    assert '<div class="signature">' in unsigned  # "Issued by" alone, under no empty line
    signed = render.certificate_html(
        make_certificate(), Branding(organisation_name="Acme Corporation", signatory_name="Hannah Reyes")
    )
    assert '<div class="signature signed">' in signed and "Hannah Reyes" in signed


def test_pdfs_subset_fonts_with_harfbuzz_and_emoji_have_a_font(
    make_certificate: MakeCertificate, branding: Branding, caplog: pytest.LogCaptureFixture
) -> None:
    """scripts/system-packages.sh installs both: without them every PDF logs two fontTools
    warnings, and an emoji prints as a box."""
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        render_certificate_pdf(make_certificate(holder_name="Ada Lovelace 🙂"), branding)
    assert not [r for r in caplog.records if "fontTools instead of HarfBuzz" in r.getMessage()]
    matched = subprocess.run(["fc-match", "emoji"], capture_output=True, text=True, check=True).stdout
    assert "Emoji" in matched, matched
