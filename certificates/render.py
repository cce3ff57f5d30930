"""Certificate PDFs: an HTML/CSS template printed by WeasyPrint, with a vector QR code.

The QR code is not part of the HTML: the template leaves a box for it and certificates/qr.py
draws it into the PDF page after layout (printing it as inline SVG cost an eighth of a page).

Rendering needs no Flask app and no database: give it a CertificateDocument and the tenant's
Branding. Fonts come from the system (Debian fonts-noto-core and fonts-noto-cjk); the font
stacks in pdf.css cover Latin, Arabic, Devanagari, Chinese and Japanese names.

WeasyPrint's FontConfiguration (a Pango font map) and the parsed stylesheet (one per tenant
colour scheme, see compiled_stylesheet) are built once per thread and reused: building them
costs more than printing a page, and Pango objects are not safe to share between threads.

WeasyPrint (with Pango, fontTools and pypdfium2: about 33 MB) is imported when the first page is
printed, not when a worker starts: most workers' requests (launches, quizzes, exports) print none.

Printing runs inside text_layer.exact_text_layer(), a patch pinned to WeasyPrint 70.0 that makes
names in Devanagari and other complex scripts, and letter-spaced labels, read back exactly from
the PDF: with pypdf, and in viewers built on poppler or PDFium (Chrome).
"""

from __future__ import annotations

import base64
import io
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from flask_babel import gettext
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from certificates.codes import normalise_code
from certificates.errors import InvalidBranding, InvalidCertificate
from certificates.labels import LABELS, language_of, long_date

if TYPE_CHECKING:
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import URLFetcher

TEMPLATES = Path(__file__).resolve().parent / "templates"
PDF_TEMPLATE = "certificates/pdf.html"
PDF_STYLESHEET = TEMPLATES / "certificates" / "pdf.css"

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
LOGO_TYPES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "image/svg+xml": (),
}
MAX_LOGO_BYTES = 1024 * 1024
MAX_CACHED_IMAGES = 32
MAX_CACHED_STYLESHEETS = 32  # per thread: one per tenant colour scheme
MAX_NAME_LENGTH = 200
MAX_TITLE_LENGTH = 300
LINE_WIDTH_MM = 230  # the text width inside the frame, less a margin for the estimate
MM_PER_PT = 25.4 / 72


# --- what a certificate says and how the tenant wants it to look ----------------------------


@dataclass(frozen=True)
class Logo:
    data: bytes
    mime_type: str

    def __post_init__(self) -> None:
        if self.mime_type not in LOGO_TYPES:
            allowed = ", ".join(sorted(LOGO_TYPES))
            raise InvalidBranding(
                "logo",
                gettext(
                    "%(type)s is not a supported image type (%(allowed)s)",
                    type=self.mime_type,
                    allowed=allowed,
                ),
            )
        if not self.data:
            raise InvalidBranding("logo", gettext("the file is empty"))
        if len(self.data) > MAX_LOGO_BYTES:
            raise InvalidBranding(
                "logo", gettext("the file is larger than %(n)d KiB", n=MAX_LOGO_BYTES // 1024)
            )
        if not _looks_like(self.data, self.mime_type):
            raise InvalidBranding(
                "logo", gettext("the file does not contain %(type)s data", type=self.mime_type)
            )

    def data_uri(self) -> str:
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class Branding:
    organisation_name: str
    primary_colour: str = "#1f3a5f"
    accent_colour: str = "#b8860b"
    signatory_name: str = ""
    signatory_title: str = ""
    logo: Logo | None = None

    def __post_init__(self) -> None:
        for name in ("primary_colour", "accent_colour"):
            value = getattr(self, name)
            if not isinstance(value, str) or not HEX_COLOUR.match(value):
                raise InvalidBranding(
                    name,
                    gettext("%(value)s is not a colour written as #rrggbb, e.g. #1f3a5f", value=repr(value)),
                )
            object.__setattr__(self, name, value.lower())
        if not self.organisation_name.strip():
            raise InvalidBranding("organisation_name", gettext("the organisation name is empty"))


@dataclass(frozen=True)
class CertificateDocument:
    holder_name: str
    course_title: str
    policy_version: str
    completed_on: date
    expires_on: date | None
    score: int
    code: str
    verify_url: str
    locale: str = "en"
    issuer_name: str = ""

    def __post_init__(self) -> None:
        name = " ".join(self.holder_name.split())
        if not name:
            raise InvalidCertificate("holder_name", "the name is empty")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidCertificate("holder_name", f"the name is longer than {MAX_NAME_LENGTH} characters")
        if not self.course_title.strip() or len(self.course_title) > MAX_TITLE_LENGTH:
            raise InvalidCertificate("course_title", f"give a title of 1 to {MAX_TITLE_LENGTH} characters")
        if isinstance(self.score, bool) or not isinstance(self.score, int) or not 0 <= self.score <= 100:
            raise InvalidCertificate("score", f"{self.score!r} is not a whole number from 0 to 100")
        if self.expires_on is not None and self.expires_on < self.completed_on:
            raise InvalidCertificate("expires_on", "the certificate expires before it was earned")
        if not self.verify_url.startswith(("https://", "http://")):
            raise InvalidCertificate("verify_url", "the verification address must start with https://")
        # NFC so that a name typed with combining accents prints and extracts like the composed one.
        object.__setattr__(self, "holder_name", unicodedata.normalize("NFC", name))
        object.__setattr__(self, "code", normalise_code(self.code))


# --- rendering ---------------------------------------------------------------------------------


@dataclass
class _Printer:
    """Per-thread WeasyPrint state: fonts, parsed stylesheets and an offline URL fetcher."""

    font_config: FontConfiguration
    url_fetcher: URLFetcher
    image_cache: dict[str, object] = field(default_factory=dict)
    # Parsed pdf.css for each (primary, accent) colour pair, see compiled_stylesheet.
    stylesheets: dict[tuple[str, str], CSS] = field(default_factory=dict)

    def stylesheet(self, branding: Branding) -> CSS:
        colours = (branding.primary_colour, branding.accent_colour)
        stylesheet = self.stylesheets.get(colours)
        if stylesheet is None:
            from weasyprint import CSS

            if len(self.stylesheets) >= MAX_CACHED_STYLESHEETS:
                self.stylesheets.clear()
            stylesheet = self.stylesheets[colours] = CSS(
                string=compiled_stylesheet(*colours),
                font_config=self.font_config,
                url_fetcher=self.url_fetcher,
            )
        return stylesheet


_local = threading.local()


def _printer() -> _Printer:
    printer: _Printer | None = getattr(_local, "printer", None)
    if printer is None:
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import URLFetcher

        # Only data: URIs (the logo) may load: a template can never reach the network or disk.
        url_fetcher = URLFetcher(allowed_protocols={"data"})
        printer = _local.printer = _Printer(FontConfiguration(), url_fetcher)
    return printer


_CUSTOM_PROPERTIES = re.compile(r":root\s*\{(?P<body>[^}]*)\}")
_CUSTOM_PROPERTY = re.compile(r"--(?P<name>[a-z0-9-]+)\s*:\s*(?P<value>[^;]+);")
_VAR = re.compile(r"var\(\s*--(?P<name>[a-z0-9-]+)\s*\)")


@cache
def _stylesheet_source() -> tuple[str, dict[str, str]]:
    """pdf.css without its `:root { --name: value; ... }` rule, and those values."""
    source = PDF_STYLESHEET.read_text(encoding="utf-8")
    root = _CUSTOM_PROPERTIES.search(source)
    if root is None:
        raise ValueError(f"{PDF_STYLESHEET.name} has no :root rule with its custom properties")
    values = {match["name"]: match["value"].strip() for match in _CUSTOM_PROPERTY.finditer(root["body"])}
    if any("var(" in value for value in values.values()):
        raise ValueError(f"{PDF_STYLESHEET.name}: a custom property's value uses var()")
    return source[: root.start()] + source[root.end() :], values


def compiled_stylesheet(primary_colour: str, accent_colour: str) -> str:
    """pdf.css with every var(--name) replaced by its value, the tenant's colours included.

    WeasyPrint 70 resolves var() element by element, and custom properties are inherited by
    every element, so the values are written in beforehand (bench/README.md has the figures).
    """
    source, values = _stylesheet_source()
    values = {**values, "primary": primary_colour, "accent": accent_colour}
    return _VAR.sub(lambda match: values[match["name"]], source)


@cache
def _template() -> Template:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(PDF_TEMPLATE)


def certificate_html(cert: CertificateDocument, branding: Branding) -> str:
    """The HTML that WeasyPrint prints (also handy to look at in a browser while styling).

    The QR code's box is empty: render_certificate_pdf draws the code into it (certificates/qr.py).
    """
    from certificates.qr import QR_ANCHOR

    language = language_of(cert.locale)
    return _template().render(
        cert=cert,
        branding=branding,
        labels=LABELS[language],
        lang=language,
        completed_on=long_date(cert.completed_on, language),
        expires_on=long_date(cert.expires_on, language) if cert.expires_on else None,
        name_lang=name_language(cert.holder_name),
        name_pt=fitted_font_size(cert.holder_name, largest=32, one_line_floor=22, smallest=12),
        course_pt=fitted_font_size(cert.course_title, largest=18, one_line_floor=13, smallest=9),
        qr_anchor=QR_ANCHOR,
        logo_uri=branding.logo.data_uri() if branding.logo else None,
    )


def render_certificate_pdf(cert: CertificateDocument, branding: Branding) -> bytes:
    """One A4 landscape page, fonts embedded (subset), QR code as vector paths."""
    from weasyprint import HTML

    from certificates.qr import VerifyQr, qr_matrix
    from certificates.text_layer import exact_text_layer

    printer = _printer()
    if len(printer.image_cache) > MAX_CACHED_IMAGES:
        printer.image_cache.clear()
    document = HTML(string=certificate_html(cert, branding), url_fetcher=printer.url_fetcher)
    draw_qr = VerifyQr(qr_matrix(cert.verify_url))
    # The patch that makes names in complex scripts (Devanagari, Bengali...) read back exactly
    # from the PDF, in viewers too; it refuses to run on a WeasyPrint version it was not checked
    # against.
    with exact_text_layer():
        return document.write_pdf(
            stylesheets=[printer.stylesheet(branding)],
            font_config=printer.font_config,
            # Decoded logos, keyed by their data: URI, so a tenant's bulk export decodes its logo once.
            cache=printer.image_cache,
            finisher=draw_qr,
        )


def render_preview_png(pdf_bytes: bytes, *, width_px: int = 1200) -> bytes:
    """The first page as a PNG `width_px` wide, for the HR branding preview."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(pdf_bytes)
    try:
        page = pdf[0]
        width, height = page.get_size()
        image = page.render(scale=width_px / width).to_pil()
        # pdfium rounds the bitmap size up, which can add a pixel of margin.
        image = image.crop((0, 0, width_px, round(height * width_px / width)))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()
    finally:
        pdf.close()


# --- pieces of the page ------------------------------------------------------------------------


def name_language(name: str) -> str | None:
    """'ja' when the name has kana, so Han characters take Japanese glyph forms; else unknown.

    A name in Han characters only (山田太郎, 王小明) cannot be told apart and prints with the
    Simplified Chinese forms, which differ from the Japanese ones in a few strokes only.
    """
    if any("\u3040" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff" for ch in name):
        return "ja"
    if any("\uac00" <= ch <= "\ud7af" for ch in name):
        return "ko"
    return None


def fitted_font_size(text: str, *, largest: float, one_line_floor: float, smallest: float) -> float:
    """A font size (pt) at which `text` fits the page width: on one line if that keeps it at least
    `one_line_floor`, else on two lines, never below `smallest` (so everything stays on one page).
    """
    # Average advance of Noto Serif Bold is about 0.6 em; East Asian wide characters take 1 em.
    ems = sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text)
    one_line = LINE_WIDTH_MM / (ems * MM_PER_PT)
    if one_line >= one_line_floor:
        return _half_points(min(largest, one_line))
    # Two lines hold a little less than twice one line: lines break between words.
    return _half_points(max(smallest, min(one_line_floor, 1.8 * one_line)))


def _half_points(size: float) -> float:
    return int(size * 2) / 2


def _looks_like(data: bytes, mime_type: str) -> bool:
    if mime_type == "image/svg+xml":
        return b"<svg" in data[:4096]
    if mime_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith(LOGO_TYPES[mime_type])
