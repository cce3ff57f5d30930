"""An exact text layer for certificate PDFs: a small, version-pinned patch of WeasyPrint 70.0.

WHY
---
A verifier (and our tests) reads the holder's name back from the PDF with pypdf, and people copy,
search and hear it read aloud in their viewer: poppler (Evince, Okular) or PDFium (Chrome, Edge).
It must come back exactly as typed, in every script we print, and in every one of them. WeasyPrint
70.0 draws complex scripts correctly but writes a text layer that can read back wrong, for three
independent reasons:

1. One string per glyph, first use wins. The PDF shows glyph ids; the font's /ToUnicode CMap
   maps each id to ONE string, set the first time the glyph is drawn
   (`weasyprint/draw/text.py`, `draw_first_line`: `if glyph_id not in font.to_unicode`). Shaping
   reuses glyphs in different cluster contexts: in "प्रिया शर्मा" the aa-matra glyph first reads
   "ा" (in या) and is then drawn inside the reph cluster र्मा, whose whole text WeasyPrint gives to
   another glyph of the cluster, so pypdf reads "शार्मा"; in "दुर्गा प्रसाद" the same glyph first
   reads "" (the silent member of र्गा) and "प्रसाद" loses its ा. Upstream: Kozea/WeasyPrint#2841;
   the fix proposed in PR #2869 (not in 70.0) draws the extra ids as composite glyphs added to
   the font file with fontTools.

2. Marks drawn left of the pen. A zero-width mark placed under or over the preceding letter
   (ृ, ु, ू in "कृष्ण", "फुले"; ু in "ঠাকুর") is shown after a leftward TJ adjustment and is followed
   by a rightward one that brings the pen back. pypdf reads any rightward TJ adjustment wider
   than half a space as a word gap, so "कृष्ण" reads back "कृ ष्ण".

3. Viewers read glyphs by position, and a cluster's glyphs do not each stand for a character.
   A multi-glyph cluster's text goes on one of its glyphs (in "शर्मा", all of र्मा on the zero-width
   reph drawn last), its other glyphs stand for "" (an empty /ToUnicode entry). poppler places
   each glyph's characters at the glyph and breaks words at gaps wider than 0.1 em: the glyphs
   that stand for "" leave such a gap, so "अर्जुन शर्मा" read "अ न" / "र्जु श र्मा" (the zero-width
   glyph carrying र्जु, on top of न, even went to a line of its own). PDFium reads a glyph that
   stands for "" as its code taken as a character: "अ>र्जुन शP..." (codes 0x3E and 0x50). And CSS
   letter-spacing (0.12 em on the labels) is such a gap after every letter: poppler read
   "C E R T I F I C AT E"; it subtracts character spacing (Tc) from a glyph's advance, so
   writing the spacing as Tc would not help.

WHAT THIS PATCH DOES (only inside `exact_text_layer()`, which render.py wraps around printing)
-------------------------------------------------------------------------------------------
1. Every (glyph, text) pair gets its own character code. WeasyPrint already works out, glyph by
   glyph, the text each shown glyph stands for (the whole cluster for one glyph of a multi-glyph
   cluster, "" for the others); only its keying by glyph id is wrong. Before a line is drawn we
   compute the same per-glyph text; the first text a glyph is drawn with keeps the glyph id as
   its code (exactly as before), any other text gets an alias code taken from the top of the
   16-bit code space (0xFFFF downwards). The alias is written into the line's Pango glyph string
   for the duration of the draw, so WeasyPrint shows it, maps it in /ToUnicode and records its
   width (the real glyph's); the glyph ids are restored afterwards.
   With /Identity-H a code is a CID; the CIDFont's /CIDToGIDMap (70.0 writes /Identity) becomes
   a stream that maps each alias CID to the real glyph id, so the page shows the very same glyph
   program as before: nothing is added to the font file, and the subset keeps the real glyphs
   only. (An /Encoding CMap from aliases to real CIDs would do the same for renderers, but pypdf
   decodes two-byte codes only with /Identity-H; pypdf also ignores /ActualText.) This covers
   TrueType outlines, which all our complex-script fonts are; CFF fonts (CIDToGIDMap does not
   apply), bitmap and colour fonts (whose glyph data WeasyPrint looks up by the code it shows)
   keep 70.0's behaviour, as does a font whose code space is full.

2. The pen return after a zero-width glyph becomes that glyph's own advance. When a glyph whose
   width is 0 is followed by a rightward TJ adjustment, the glyph is shown with character spacing
   (Tc) equal to that adjustment and the adjustment is dropped: the glyph lands where it did, the
   pen ends where it did, and no extractor sees a gap after the mark. Empty `<>` strings that
   70.0 leaves after a raised glyph are dropped there too (they show nothing). Lines without
   such a mark are written exactly as 70.0 writes them.

3. Each left-to-right word is a marked-content span with its exact text as /ActualText
   (`/Span <</ActualText <FEFF...>>> BDC ... EMC`), which poppler and PDFium read instead of the
   glyphs inside it (pypdf ignores ActualText and still reads the glyphs, fixed by 1 and 2). A
   word's text is the glyphs' texts joined, the space after it included (PDFium skips a text
   object that draws nothing, a lone space, then guesses the gap, wrongly after a mark). TJ
   strings are split where a span opens or closes; each goes on where the last one ended.
   Right-to-left runs get no span: poppler and PDFium lay a span's characters out left to right
   and then reverse right-to-left text, so an Arabic span would read backwards; their glyphs
   stand for one character each and read right in all three readers. Known limit: Arabic written
   with its vowel marks (مُحَمَّد) reads exactly with pypdf only, as poppler and PDFium take each
   raised mark for a word of its own.

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
writes ActualText), then re-validate or delete this module, and update SUPPORTED_WEASYPRINT.
Outside `exact_text_layer()` the wrappers call the originals unchanged.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pydyf
import weasyprint

SUPPORTED_WEASYPRINT = "70.0"

# WeasyPrint internals, imported by _install() once the version is checked, so that another
# version fails with UnsupportedWeasyPrint at render time rather than an ImportError here.
_draw_text: Any = None  # weasyprint.draw.text
_pdf_fonts: Any = None  # weasyprint.pdf.fonts
ffi: Any = None  # weasyprint.text.ffi.ffi
pango: Any = None  # weasyprint.text.ffi.pango
FROM_UNITS: float = 0.0  # weasyprint.text.ffi.FROM_UNITS

# Alias codes are handed out from the top of the 16-bit code space, downwards. WeasyPrint hands
# out codes for missing glyphs upwards from the font's glyph count; this margin keeps the two apart.
_HIGHEST_CODE = 0xFFFF
_MISSING_GLYPHS_MARGIN = 256

# Attributes this module adds to WeasyPrint's Font objects.
_ALIASES = "_postwise_aliases"  # {(glyph id, text): alias code}
_TARGETS = "_postwise_alias_targets"  # {alias code: glyph id}


class UnsupportedWeasyPrint(RuntimeError):
    """The installed WeasyPrint is not the version this patch was written and checked for."""


_state = threading.local()
_install_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}


def check_weasyprint_version(version: str | None = None) -> None:
    version = weasyprint.__version__ if version is None else version
    if version != SUPPORTED_WEASYPRINT:
        raise UnsupportedWeasyPrint(
            f"certificates/text_layer.py patches WeasyPrint {SUPPORTED_WEASYPRINT} internals so that "
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
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def _active() -> bool:
    return getattr(_state, "depth", 0) > 0


def _install() -> None:
    global _draw_text, _pdf_fonts, ffi, pango, FROM_UNITS
    with _install_lock:
        if _originals:
            return
        from weasyprint.draw import text as _draw_text
        from weasyprint.pdf import fonts as _pdf_fonts
        from weasyprint.text.ffi import FROM_UNITS, ffi, pango

        _originals["draw_first_line"] = _draw_text.draw_first_line
        _originals["build_vector_font_dictionary"] = _pdf_fonts._build_vector_font_dictionary
        _originals["clean"] = _pdf_fonts.Font.clean
        _draw_text.draw_first_line = _draw_first_line
        _pdf_fonts._build_vector_font_dictionary = _build_vector_font_dictionary
        _pdf_fonts.Font.clean = _clean


# --- drawing a line ----------------------------------------------------------------------------


def _draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):  # type: ignore[no-untyped-def]
    draw = _originals["draw_first_line"]
    if not _active():
        return draw(stream, textbox, text_overflow, block_ellipsis, matrix)

    layout = textbox.pango_layout
    get_first_line = layout.get_first_line
    changed: list[tuple[Any, int]] = []  # (PangoGlyphInfo, its real glyph id)

    recorder = _TextRecorder(stream)

    def first_line_with_aliases():  # type: ignore[no-untyped-def]
        line, index = get_first_line()
        runs = _runs_of(textbox, line)
        _alias_reused_glyphs(recorder, textbox, runs, changed)
        recorder.words = _words_of(runs)
        return line, index

    layout.get_first_line = first_line_with_aliases
    try:
        emojis = draw(recorder, textbox, text_overflow, block_ellipsis, matrix)
    finally:
        del layout.get_first_line
        for glyph_info, glyph_id in reversed(changed):
            glyph_info.glyph = glyph_id
    recorder.replay(last=True)
    return emojis


def _runs_of(textbox, line) -> list[tuple[Any, list[str | None]]]:  # type: ignore[no-untyped-def]
    """The runs of `line` (Pango glyph items) in drawing order, with each glyph's text."""
    utf8_text = textbox.pango_layout.text.encode()
    runs = []
    run = line.runs
    while run != ffi.NULL:
        runs.append((run.data, _glyph_texts(utf8_text, run.data)))
        run = run.next
    return runs


def _glyph_texts(utf8_text: bytes, glyph_item) -> list[str | None]:  # type: ignore[no-untyped-def]
    """The text draw_first_line gives each glyph of a run (None where it is not valid UTF-8).

    The bytes from the glyph's cluster start to the next glyph's cluster in logical order: the
    whole cluster for one glyph of the cluster (the last drawn left-to-right, the first drawn
    right-to-left) and nothing for its other glyphs.
    """
    item = glyph_item.item
    glyph_string = glyph_item.glyphs
    starts = ffi.unpack(glyph_string.log_clusters, glyph_string.num_glyphs)
    if item.analysis.level % 2:  # right-to-left
        ends = [item.length, *starts[:-1]]
    else:
        ends = [*starts[1:], item.length]
    texts: list[str | None] = []
    for start, end in zip(starts, ends, strict=True):
        try:
            texts.append(utf8_text[item.offset + start : item.offset + end].decode())
        except UnicodeDecodeError:
            texts.append(None)
    return texts


@dataclass(frozen=True)
class _Words:
    """The words of a line that get an ActualText span, and the word of each glyph code shown."""

    texts: list[str]
    of_code: list[int | None]  # for each code draw_first_line shows, in order; None: no span


def _words_of(runs: list[tuple[Any, list[str | None]]]) -> _Words | None:
    """The left-to-right words of a line's `runs`, each with the whitespace that follows it.

    A word's text is its glyphs' texts joined: what pypdf reads glyph by glyph. Right-to-left runs,
    and a space that follows one, are in no word (see the module's docstring, point 3).
    """
    texts: list[str] = []
    unknown: set[int] = set()  # words with a glyph whose text is not known
    of_code: list[int | None] = []
    word: int | None = None
    ended = False  # the word has had its following space: a letter opens the next one
    for glyph_item, glyph_texts in runs:
        right_to_left = glyph_item.item.analysis.level % 2
        glyphs = glyph_item.glyphs.glyphs
        for i, text in enumerate(glyph_texts):
            space = bool(text) and text.isspace()
            if right_to_left or (space and word is None):
                word = None  # right-to-left text, and a space after it, show their glyphs' text
            elif space:
                texts[word] += text
                ended = True
            else:
                if word is None or ended:
                    word, ended = len(texts), False
                    texts.append("")
                if text is None:
                    unknown.add(word)
                else:
                    texts[word] += text
            if glyphs[i].glyph != pango.PANGO_GLYPH_EMPTY:  # draw_first_line shows no code for it
                of_code.append(word)
    of_code = [w if w is not None and w not in unknown else None for w in of_code]
    if all(w is None for w in of_code):
        return None
    return _Words(texts, of_code)


def _alias_reused_glyphs(stream, textbox, runs, changed: list[tuple[Any, int]]) -> None:  # type: ignore[no-untyped-def]
    """Give each glyph of the line's `runs` that already reads as other text an alias code of its own."""
    for glyph_item, glyph_texts in runs:
        pango_font = glyph_item.item.analysis.font
        font, font_size = stream.add_font(pango_font)
        if font.bitmap or font.png or font.svg or font.colr or font.type == "otf":
            # Bitmap and colour glyphs are looked up by the code shown, and CFF fonts take no
            # CIDToGIDMap: these keep 70.0's behaviour (none of them needs aliases on our pages).
            continue
        if pango.pango_version() < 14802:
            font_size = textbox.style["font_size"]  # as draw_first_line does

        glyphs = glyph_item.glyphs.glyphs
        to_unicode = font.to_unicode
        for i, text in enumerate(glyph_texts):
            glyph_info = glyphs[i]
            glyph_id = glyph_info.glyph
            if glyph_id > 0xFFFF or text is None:
                continue  # PANGO_GLYPH_EMPTY, or a missing glyph (PANGO_GLYPH_UNKNOWN_FLAG)
            known = to_unicode.get(glyph_id)
            if known is None:
                to_unicode[glyph_id] = text  # first use keeps the real id, as in 70.0
            elif known != text:
                code = _alias_code(font, glyph_id, text, pango_font, font_size, stream)
                if code is not None:
                    changed.append((glyph_info, glyph_id))
                    glyph_info.glyph = code


def _alias_code(font, glyph_id: int, text: str, pango_font, font_size: float, stream) -> int | None:  # type: ignore[no-untyped-def]
    aliases: dict[tuple[int, str], int] = font.__dict__.setdefault(_ALIASES, {})
    targets: dict[int, int] = font.__dict__.setdefault(_TARGETS, {})
    code = aliases.get((glyph_id, text))
    if code is None:
        code = _HIGHEST_CODE - len(aliases)
        if code < font.glyph_count + len(font.missing) + _MISSING_GLYPHS_MARGIN:
            return None  # no room left in this font's code space: keep 70.0's behaviour
        aliases[glyph_id, text] = code
        targets[code] = glyph_id
        font.to_unicode[code] = text
        if glyph_id not in font.widths:
            # The width draw_first_line would record for the real glyph.
            pango.pango_font_get_glyph_extents(pango_font, glyph_id, stream.ink_rect, stream.logical_rect)
            font.widths[glyph_id] = round(stream.logical_rect.width * 1000 * FROM_UNITS / font_size)
        font.widths[code] = font.widths[glyph_id]
    return code


# The parts of the TJ strings draw_first_line builds: <hex glyph codes> and numbers.
_TJ_PART = re.compile(r"<([0-9a-fA-F]*)>|([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)")


class _TextRecorder:
    """Stands in for the page stream while draw_first_line draws one line.

    The text operators are recorded, then `replay` writes them to the real stream, with each
    rightward pen return after a zero-width glyph turned into that glyph's character spacing,
    and each left-to-right word in an ActualText span (`words`, set when the line is laid out).
    """

    _RECORDED = ("set_text_matrix", "set_font_size", "set_text_rise", "show_text")
    _SCRATCH = ("ink_rect", "logical_rect", "length")  # buffers for Pango calls, not drawing

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._operations: list[tuple[str, tuple[Any, ...]]] = []
        self._fonts: dict[str, Any] = {}  # font resource name (Font.hash) -> Font
        self._added: dict[Any, tuple[Any, float]] = {}  # Pango font -> stream.add_font()
        self.words: _Words | None = None

    def add_font(self, pango_font):  # type: ignore[no-untyped-def]
        # Asked twice per run (aliasing, then drawing): look the Pango font up once per line.
        added = self._added.get(pango_font)
        if added is None:
            added = self._added[pango_font] = self._stream.add_font(pango_font)
            self._fonts[added[0].hash] = added[0]
        return added

    def __getattr__(self, name: str) -> Any:
        if name in self._RECORDED:
            return lambda *args: self._operations.append((name, args))
        if name not in self._SCRATCH:
            # Something 70.0's draw_first_line does not do: write what came before it first.
            self.replay()
        return getattr(self._stream, name)

    def replay(self, *, last: bool = False) -> None:
        operations, self._operations = self._operations, []
        if not last:
            self.words = None  # the line is written in parts: no spans rather than wrong ones
        if not operations:
            return
        words = self.words
        if words is None or _codes_shown(operations, self._fonts) != len(words.of_code):
            _write_with_pen_returns_as_spacing(self._stream, operations, self._fonts)
            return
        spans = _ActualTextSpans(self._stream, words, self._fonts)
        _write_with_pen_returns_as_spacing(spans, operations, self._fonts)
        spans.close()


# A glyph code directly followed by a rightward adjustment, maybe after "<>" (TJ strings of one
# font joined: 70.0 shows a raised glyph in a TJ string of its own, the adjustment opens the next).
_CODE_THEN_RIGHTWARD = re.compile(r"([0-9a-fA-F]{4})>(?:<>)*-")


def _code_digits(font) -> int:  # type: ignore[no-untyped-def]
    """Hex digits per glyph code in draw_first_line's TJ strings for `font`."""
    return 2 if font is not None and font.bitmap else 4


def _codes_shown(operations, fonts) -> int:  # type: ignore[no-untyped-def]
    digits, count = 4, 0
    for name, args in operations:
        if name == "set_font_size":
            digits = _code_digits(fonts.get(str(args[0])))
        elif name == "show_text":
            for hex_codes, _ in _TJ_PART.findall(args[0]):
                if len(hex_codes) % digits:
                    return -1  # not codes of this width: never matches a line's glyph count
                count += len(hex_codes) // digits
    return count


def _text_string(text: str) -> bytes:
    """`text` as a PDF text string: UTF-16BE with its byte order mark, written in hex."""
    return b"<" + (codecs.BOM_UTF16_BE + text.encode("utf-16-be")).hex().encode("ascii") + b">"


class _ActualTextSpans:
    """Passes a line's text operators on to the page stream, each word in an ActualText span.

    A TJ string that holds glyphs of more than one word (or of a word and a space) is split
    where the word changes, so that the span's BDC/EMC can go in between; the adjustments
    between two glyphs stay in the first string. Split or not, every glyph lands where it did.
    """

    def __init__(self, stream: Any, words: _Words, fonts: dict[str, Any]) -> None:
        self._stream = stream
        self.stream = stream.stream  # the operators, where Tc is written directly
        self._words = words
        self._fonts = fonts
        self._digits = 4
        self._shown = 0  # glyph codes shown so far
        self._open: int | None = None  # the word whose span is open

    def set_text_matrix(self, *args: Any) -> None:
        self._stream.set_text_matrix(*args)

    def set_text_rise(self, *args: Any) -> None:
        self._stream.set_text_rise(*args)

    def set_font_size(self, font: Any, size: Any) -> None:
        self._digits = _code_digits(self._fonts.get(str(font)))
        self._stream.set_font_size(font, size)

    def show_text(self, text: str) -> None:
        tj_parts = _TJ_PART.findall(text)
        count = sum(len(hex_codes) for hex_codes, _ in tj_parts) // self._digits
        words = self._words.of_code[self._shown : self._shown + count]
        if words.count(words[0] if words else None) == count:  # within one word: no split
            if words:
                self._enter(words[0])
            self._shown += count
            self._stream.show_text(text)
            return

        leading: list[str] = []  # adjustments before the string's first glyph
        chunks: list[tuple[int | None, list[str]]] = []  # (word, TJ parts)
        for hex_codes, amount in tj_parts:
            if amount:
                (chunks[-1][1] if chunks else leading).append(amount)
                continue
            for start in range(0, len(hex_codes), self._digits):
                word = self._words.of_code[self._shown]
                self._shown += 1
                if not chunks or chunks[-1][0] != word:
                    chunks.append((word, []))
                parts = chunks[-1][1]
                code = hex_codes[start : start + self._digits]
                if parts and parts[-1].startswith("<"):
                    parts[-1] = f"{parts[-1][:-1]}{code}>"
                else:
                    parts.append(f"<{code}>")
        chunks[0][1][:0] = leading
        for word, parts in chunks:
            self._enter(word)
            self._stream.show_text(" ".join(parts))

    def close(self) -> None:
        self._enter(None)

    def _enter(self, word: int | None) -> None:
        if word == self._open:
            return
        if self._open is not None:
            self._stream.end_marked_content()
        if word is not None:
            self.stream.append(b"/Span <</ActualText " + _text_string(self._words.texts[word]) + b">> BDC")
        self._open = word


def _has_pen_return(operations, fonts) -> bool:  # type: ignore[no-untyped-def]
    """Whether a zero-width glyph is followed by a rightward adjustment (most lines: no)."""
    font, strings = None, []
    for name, args in [*operations, ("set_font_size", (None, None))]:
        if name == "show_text":
            strings.append(args[0])
        elif name == "set_font_size":
            if font is not None and not font.bitmap:
                for match in _CODE_THEN_RIGHTWARD.finditer("".join(strings)):
                    if font.widths.get(int(match[1], 16)) == 0:
                        return True
            font, strings = fonts.get(str(args[0])), []
    return False


def _write_with_pen_returns_as_spacing(stream, operations, fonts) -> None:  # type: ignore[no-untyped-def]
    if not _has_pen_return(operations, fonts):
        for name, args in operations:
            getattr(stream, name)(*args)  # as draw_first_line wrote it
        return

    # Parts of each TJ string: [is_number, text], None for other operators.
    parts = [
        [[bool(amount), amount or hex_codes] for hex_codes, amount in _TJ_PART.findall(args[0])]
        if name == "show_text"
        else None
        for name, args in operations
    ]

    # Zero-width glyphs followed by a rightward adjustment (a negative TJ number), possibly in
    # the next TJ string after a text rise change (70.0 shows raised glyphs on their own).
    spacing: dict[tuple[int, int], float] = {}  # (operation, part) of the glyph -> Tc
    dropped: set[tuple[int, int]] = set()  # (operation, part) of the adjustments
    font = size = None
    for op_index, (name, args) in enumerate(operations):
        if name == "set_font_size":
            font, size = fonts.get(str(args[0])), _as_written(args[1])
        op_parts = parts[op_index]
        if op_parts is None or font is None or font.bitmap or not size:
            continue
        for part_index, (is_number, value) in enumerate(op_parts):
            if is_number or not value or font.widths.get(int(value[-4:], 16)) != 0:
                continue
            after = _next_adjustment(operations, parts, op_index, part_index)
            if after is not None:
                amount = float(parts[after[0]][after[1]][1])
                if amount < 0:
                    spacing[op_index, part_index] = -amount / 1000 * size
                    dropped.add(after)

    touched = {op_index for op_index, _ in spacing} | {op_index for op_index, _ in dropped}
    for op_index, (name, args) in enumerate(operations):
        if op_index not in touched:
            getattr(stream, name)(*args)  # as draw_first_line wrote it
            continue
        pending: list[str] = []
        for part_index, (is_number, value) in enumerate(parts[op_index]):
            if (op_index, part_index) in dropped or not value:
                continue  # the pen return, now in Tc; or "<>", which shows nothing
            if is_number:
                pending.append(value)
                continue
            tc = spacing.get((op_index, part_index))
            if tc is None:
                pending.append(f"<{value}>")
                continue
            if len(value) > 4:
                pending.append(f"<{value[:-4]}>")
            # The leftward adjustment that places the glyph goes with it; Tc moves glyphs only.
            lead = pending.pop() if pending and not pending[-1].startswith("<") else ""
            if pending:
                stream.show_text(" ".join(pending))
                pending = []
            stream.stream.append(_number(tc) + b" Tc")
            stream.show_text(f"{lead} <{value[-4:]}>")
            stream.stream.append(b"0 Tc")
        if pending:
            stream.show_text(" ".join(pending))


def _next_adjustment(operations, parts, op_index: int, part_index: int) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
    """Where the TJ number right after the glyph at (op_index, part_index) is, if there is one."""
    part_index += 1
    while op_index < len(operations):
        op_parts = parts[op_index]
        if op_parts is None:
            if operations[op_index][0] != "set_text_rise":
                return None
        else:
            while part_index < len(op_parts) and not op_parts[part_index][1]:
                part_index += 1  # "<>"
            if part_index < len(op_parts):
                return (op_index, part_index) if op_parts[part_index][0] else None
        op_index, part_index = op_index + 1, 0
    return None


def _as_written(value: float) -> float:
    """`value` as pydyf writes it in the content stream (6 decimals): the size renderers use."""
    return float(f"{value:f}") if isinstance(value, float) else value


def _number(value: float) -> bytes:
    """A PDF real for `value` (no exponent), precise enough to land on the same device pixel."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return (text if text not in ("", "-0") else "0").encode("ascii")


# --- writing the fonts -------------------------------------------------------------------------


def _clean(self, to_unicode, hinting):  # type: ignore[no-untyped-def]
    """Font.clean, subsetting the real glyphs only (alias codes are not glyph ids)."""
    targets = self.__dict__.get(_TARGETS)
    if targets:
        to_unicode = {code: text for code, text in to_unicode.items() if code not in targets}
    return _originals["clean"](self, to_unicode, hinting)


def _build_vector_font_dictionary(font_dictionary, pdf, font, widths, compress, reference, pdf_version):  # type: ignore[no-untyped-def]
    build = _originals["build_vector_font_dictionary"]
    build(font_dictionary, pdf, font, widths, compress, reference, pdf_version)
    targets: dict[int, int] = font.__dict__.get(_TARGETS) or {}
    if not targets:
        return
    if widths is not font.widths or font.used_in_forms:
        # The whole font was embedded, and its /ToUnicode rebuilt from the font's cmap without
        # our alias codes: refuse rather than write a text layer that reads back wrong.
        raise RuntimeError(
            f"font {font.family!r}: certificates/text_layer.py needs subset fonts "
            "(no full_fonts option, no PDF forms)"
        )
    if not targets.keys().isdisjoint(font.missing.values()):
        raise RuntimeError(f"font {font.family!r}: alias and missing-glyph codes collide")

    # CID -> glyph id: the real glyph for every CID shown (identity, or the aliased glyph),
    # .notdef for the rest, which nothing shows. 70.0 wrote /Identity.
    cid_to_gid = bytearray(2 * (max(font.to_unicode) + 1))
    for cid in font.to_unicode:
        gid = targets.get(cid, cid)
        if gid < font.glyph_count:
            cid_to_gid[2 * cid : 2 * cid + 2] = gid.to_bytes(2, "big")
    cid_to_gid_map = pydyf.Stream([bytes(cid_to_gid)], compress=compress)
    pdf.add_object(cid_to_gid_map)
    (descendant,) = font_dictionary["DescendantFonts"]
    pdf.objects[int(descendant.split()[0])]["CIDToGIDMap"] = cid_to_gid_map.reference
