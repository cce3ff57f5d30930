"""The exact text layer (certificates/text_layer/): names in Indic scripts read back from the PDF
exactly as typed, the page looks the same as WeasyPrint draws it, and the patch stays pinned to
the one WeasyPrint version it was checked against. What poppler and PDFium (the viewers) read:
test_text_in_viewers.py."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable

import pypdf
import pypdfium2
import pytest
import weasyprint
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops
from weasyprint import HTML

from certificates import render, text_layer
from certificates.qr import VerifyQr, qr_matrix
from certificates.render import Branding, CertificateDocument, render_certificate_pdf
from certificates.text_layer import UnsupportedWeasyPrint, check_weasyprint_version
from tests.certify.pdfs import fonts, page_count, text_lines

MakeCertificate = Callable[..., CertificateDocument]

# Before the patch, each name marked * read back wrong with pypdf: a glyph reused in another
# cluster kept its first text (शार्मा, प्रसद, हर्षवर्षन), or a mark drawn left of the pen was
# followed by a gap that pypdf reads as a space (कृ ष्ण, फु ले, ঠাকু র).
INDIC_NAMES = [
    # Hindi
    pytest.param("प्रिया शर्मा", id="hi-priya-sharma*"),
    pytest.param("अर्जुन क्षत्रिय", id="hi-arjun-kshatriya"),
    pytest.param("श्रीनिवास त्रिपाठी", id="hi-shrinivas-tripathi"),
    pytest.param("कृष्ण मूर्ति", id="hi-krishna-murti*"),
    pytest.param("ज्योति वर्मा", id="hi-jyoti-varma"),
    pytest.param("सिद्धार्थ मिश्र", id="hi-siddharth-mishra"),
    pytest.param("दुर्गा प्रसाद", id="hi-durga-prasad*"),
    pytest.param("विद्या पाण्डेय", id="hi-vidya-pandey"),
    pytest.param("हर्षवर्धन", id="hi-harshvardhan*"),
    pytest.param("स्मृति ईरानी", id="hi-smriti-irani"),
    pytest.param("हृदयनाथ मंगेशकर", id="hi-hridaynath-mangeshkar"),
    pytest.param("रुक्मिणी कृष्णमूर्ति", id="hi-rukmini-krishnamurti"),
    pytest.param("क्षितिज त्र्यंबक द्विवेदी", id="hi-kshitij-dwivedi"),
    # Marathi
    pytest.param("ज्ञानेश्वर पाटील", id="mr-dnyaneshwar-patil"),
    pytest.param("सावित्रीबाई फुले", id="mr-savitribai-phule*"),
    # Nepali
    pytest.param("पुष्पकमल दाहाल", id="ne-pushpa-kamal-dahal"),
    pytest.param("शेरबहादुर देउवा", id="ne-sher-bahadur-deuba"),
    # Bengali and Tamil (Noto Sans Bengali / Tamil, by fontconfig fallback)
    pytest.param("রবীন্দ্রনাথ ঠাকুর", id="bn-rabindranath-thakur*"),
    pytest.param("সত্যজিৎ রায়", id="bn-satyajit-ray"),
    pytest.param("ক্ষিতীশ চন্দ্র", id="bn-kshitish-chandra"),
    pytest.param("சுப்பிரமணிய பாரதி", id="ta-subramania-bharati"),
    pytest.param("ஸ்ரீனிவாச ராமானுஜன்", id="ta-srinivasa-ramanujan"),
    pytest.param("திருவள்ளுவர்", id="ta-thiruvalluvar"),
    # Mixed scripts
    pytest.param("Priya शर्मा Sharma", id="latin-and-devanagari"),
]


@pytest.mark.parametrize("name", INDIC_NAMES)
def test_a_name_in_an_indic_script_reads_back_exactly_with_embedded_fonts(
    name: str, make_certificate: MakeCertificate, branding: Branding, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf = render_certificate_pdf(make_certificate(holder_name=name), branding)

    assert name in text_lines(pdf)
    assert not [r for r in caplog.records if "notdef" in r.getMessage()], "a glyph is missing"
    used = fonts(pdf)
    assert used and all(font.embedded for font in used), used
    assert page_count(pdf) == 1


def test_the_same_glyphs_read_back_right_in_the_name_and_the_title_at_another_size(
    make_certificate: MakeCertificate, branding: Branding
) -> None:
    # One font file at two sizes and several lines shares one set of alias codes.
    title = "हर्षवर्धन कृष्ण मूर्ति: प्रिया शर्मा प्रशिक्षण"
    name = "दुर्गा प्रसाद " * 6

    pdf = render_certificate_pdf(make_certificate(holder_name=name, course_title=title), branding)

    text = " ".join(text_lines(pdf))
    assert " ".join(name.split()) in text
    assert title in text_lines(pdf)


def _unpatched_pdf(cert: CertificateDocument, branding: Branding) -> bytes:
    """The certificate as WeasyPrint 70 writes it without certificates/text_layer/."""
    printer = render._printer()
    document = HTML(string=render.certificate_html(cert, branding), url_fetcher=printer.url_fetcher)
    return document.write_pdf(
        stylesheets=[printer.stylesheet(branding)],
        font_config=printer.font_config,
        finisher=VerifyQr(qr_matrix(cert.verify_url)),
    )


def _page_image(pdf: bytes, dpi: int) -> Image.Image:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()


_SPAN_OPERATOR = re.compile(rb"/Span <</ActualText <[0-9a-f]*>>> BDC|EMC")
_TJ_PART = re.compile(rb"<([0-9a-f]*)>|([-+]?[0-9.]+)")


def _drawing(pdf: bytes) -> list[bytes | list[tuple[str, object]]]:
    """The page's operators without the ActualText spans, the glyph codes and adjustments of
    consecutive TJ strings joined into one list: what the page draws, and where."""
    content = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()
    drawing: list[bytes | list[tuple[str, object]]] = []
    for operation in content.split(b"\n"):
        if _SPAN_OPERATOR.fullmatch(operation):
            continue
        if not operation.endswith(b"] TJ"):
            drawing.append(operation)
            continue
        if not drawing or not isinstance(drawing[-1], list):
            drawing.append([])
        shown = drawing[-1]
        assert isinstance(shown, list)
        for codes, amount in _TJ_PART.findall(operation[1:-4]):
            shown.extend(("glyph", codes[i : i + 4]) for i in range(0, len(codes), 4))
            if amount:
                shown.append(("move", float(amount)))
    return drawing


@pytest.mark.parametrize(
    "name",
    ["José Müller-Łukasiewicz", "نور الهدى عبد الله", "王小明", "やまだ たろう"],
)
def test_names_that_need_no_alias_draw_the_same_glyphs_in_the_same_places_as_before(
    name: str, make_certificate: MakeCertificate, branding: Branding
) -> None:
    """Only the ActualText spans are new: a TJ string split where a span opens or closes goes on
    from where the last one ended."""
    cert = make_certificate(holder_name=name)
    patched, unpatched = render_certificate_pdf(cert, branding), _unpatched_pdf(cert, branding)

    assert b"/ActualText" in pypdf.PdfReader(io.BytesIO(patched)).pages[0].get_contents().get_data()
    assert _drawing(patched) == _drawing(unpatched)
    assert [font.name for font in fonts(patched)] == [font.name for font in fonts(unpatched)]


@pytest.mark.parametrize(
    "name",
    [
        "Ada Lovelace",
        "محمد عبد الله",
        "王小明",
        "प्रिया शर्मा",
        "अर्जुन शर्मा",
        "कृष्ण मूर्ति",
        "दुर्गा प्रसाद",
        "ज्ञानेश्वर पाटील",
        "शेरबहादुर देउवा",
        "রবীন্দ্রনাথ ঠাকুর",
        "சுப்பிரமணிய பாரதி",
    ],
)
def test_the_patch_does_not_change_how_the_page_looks(
    name: str, make_certificate: MakeCertificate, branding: Branding
) -> None:
    """Alias codes show the very same glyph, and ActualText spans draw nothing. A mark's pen
    return written as character spacing (Tc) instead of a TJ adjustment lands on the same
    position, as does a glyph after a TJ string split for a span, but pdfium adds up the
    adjustments in a different order in single precision: glyph positions can differ by one
    float32 step (3e-5 pt), which can change an anti-aliased edge pixel by one grey level out of
    255 and never more."""
    cert = make_certificate(holder_name=name)
    patched, unpatched = render_certificate_pdf(cert, branding), _unpatched_pdf(cert, branding)

    difference = ImageChops.difference(_page_image(patched, 150), _page_image(unpatched, 150))
    assert all(high <= 1 for _, high in difference.getextrema()), difference.getextrema()
    assert [font.name for font in fonts(patched)] == [font.name for font in fonts(unpatched)]


def _to_unicode(font: pypdf.generic.DictionaryObject) -> dict[int, str]:
    cmap = font["/ToUnicode"].get_object().get_data().decode("ascii")
    entries = re.findall(r"beginbfchar(.*?)endbfchar", cmap, flags=re.S)
    return {
        int(code, 16): bytes.fromhex(text).decode("utf-16-be")
        for block in entries
        for code, text in re.findall(r"<([0-9a-f]+)> <([0-9a-f]*)>", block)
    }


def test_an_alias_code_shows_the_real_glyph_and_adds_nothing_to_the_font(
    make_certificate: MakeCertificate, branding: Branding
) -> None:
    pdf = render_certificate_pdf(make_certificate(holder_name="प्रिया शर्मा"), branding)

    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    (font,) = [
        font.get_object()
        for font in page["/Resources"]["/Font"].values()
        if "Devanagari" in str(font.get_object()["/BaseFont"])
    ]
    descendant = font["/DescendantFonts"][0].get_object()
    font_file = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
    glyph_count = TTFont(io.BytesIO(font_file))["maxp"].numGlyphs
    to_unicode = _to_unicode(font)
    cid_to_gid = descendant["/CIDToGIDMap"].get_object().get_data()

    assert font["/Encoding"] == "/Identity-H"  # codes are CIDs, as pypdf expects
    aliases = [code for code in to_unicode if code >= glyph_count]
    assert aliases, "no alias was needed: this name no longer exercises the patch"
    for alias in aliases:
        glyph = int.from_bytes(cid_to_gid[2 * alias : 2 * alias + 2], "big")
        assert 0 < glyph < glyph_count
        assert to_unicode[glyph] != to_unicode[alias]  # one glyph, two texts
    for code in to_unicode.keys() - set(aliases):
        assert int.from_bytes(cid_to_gid[2 * code : 2 * code + 2], "big") == code


def test_the_patch_only_applies_to_certificates(
    make_certificate: MakeCertificate, branding: Branding
) -> None:
    render_certificate_pdf(make_certificate(holder_name="प्रिया शर्मा"), branding)  # installs the patch

    pdf = _unpatched_pdf(make_certificate(holder_name="प्रिया शर्मा"), branding)

    # Plain WeasyPrint output: the first-use text layer, no alias codes, no character spacing,
    # no ActualText.
    assert "प्रिया शार्मा" in text_lines(pdf)
    content = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()
    assert b" Tc" not in content
    assert b"BDC" not in content


def test_the_patch_is_pinned_to_the_weasyprint_version_it_was_checked_against(
    make_certificate: MakeCertificate, branding: Branding, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An upgrade fails here first: re-validate certificates/text_layer/, then move the pin.
    assert weasyprint.__version__ == text_layer.SUPPORTED_WEASYPRINT == "70.0"
    check_weasyprint_version()

    monkeypatch.setattr(weasyprint, "__version__", "71.0")

    with pytest.raises(UnsupportedWeasyPrint, match=r"WeasyPrint 71\.0 is installed"):
        render_certificate_pdf(make_certificate(holder_name="प्रिया शर्मा"), branding)
    with pytest.raises(UnsupportedWeasyPrint, match="Kozea/WeasyPrint#2841"):
        check_weasyprint_version("69.0")
