"""An exact text layer for certificate PDFs: a small, version-pinned patch of WeasyPrint 70.0.

WHY
---
A verifier (and our tests) reads the holder's name back from the PDF with pypdf, and it must come
back exactly as typed, in every script we print. WeasyPrint 70.0 draws complex scripts correctly
but writes a text layer that can read back wrong, for two independent reasons:

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

The page renders as before: pixel for pixel where only aliases are involved, and within one grey
level on a few anti-aliased edges where a mark's pen return moved into Tc (pdfium adds Tc and TJ
adjustments in a different order in single precision: 3e-5 pt). tests/certify/test_text_layer.py
checks both, and that names needing neither print byte for byte as before.

WHY IT IS PINNED
----------------
It wraps three WeasyPrint internals: `weasyprint.draw.text.draw_first_line`,
`weasyprint.pdf.fonts._build_vector_font_dictionary` and `weasyprint.pdf.fonts.Font.clean`, and
relies on how 70.0 builds TJ strings, widths and /ToUnicode. `exact_text_layer()` raises
UnsupportedWeasyPrint for any other version: when upgrading WeasyPrint, check whether upstream
fixed #2841 (and the mark gaps), then re-validate or delete this module, and update
SUPPORTED_WEASYPRINT. Outside `exact_text_layer()` the wrappers call the originals unchanged.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
        _alias_reused_glyphs(recorder, textbox, line, changed)
        return line, index

    layout.get_first_line = first_line_with_aliases
    try:
        emojis = draw(recorder, textbox, text_overflow, block_ellipsis, matrix)
    finally:
        del layout.get_first_line
        for glyph_info, glyph_id in reversed(changed):
            glyph_info.glyph = glyph_id
    recorder.replay()
    return emojis


def _alias_reused_glyphs(stream, textbox, line, changed: list[tuple[Any, int]]) -> None:  # type: ignore[no-untyped-def]
    """Give each glyph of `line` that already reads as other text an alias code of its own."""
    utf8_text = textbox.pango_layout.text.encode()
    run = line.runs
    while run != ffi.NULL:
        glyph_item = run.data
        run = run.next
        pango_font = glyph_item.item.analysis.font
        font, font_size = stream.add_font(pango_font)
        if font.bitmap or font.png or font.svg or font.colr or font.type == "otf":
            # Bitmap and colour glyphs are looked up by the code shown, and CFF fonts take no
            # CIDToGIDMap: these keep 70.0's behaviour (none of them needs aliases on our pages).
            continue
        if pango.pango_version() < 14802:
            font_size = textbox.style["font_size"]  # as draw_first_line does

        item = glyph_item.item
        glyph_string = glyph_item.glyphs
        count = glyph_string.num_glyphs
        # The text draw_first_line gives each glyph: the bytes from its cluster's start to the
        # next glyph's cluster in logical order, so the whole cluster for one glyph of the
        # cluster (the last drawn left-to-right, the first drawn right-to-left) and nothing
        # for its other glyphs.
        starts = ffi.unpack(glyph_string.log_clusters, count)
        if item.analysis.level % 2:  # right-to-left
            ends = [item.length, *starts[:-1]]
        else:
            ends = [*starts[1:], item.length]
        offset = item.offset
        glyphs = glyph_string.glyphs
        to_unicode = font.to_unicode
        for i in range(count):
            glyph_info = glyphs[i]
            glyph_id = glyph_info.glyph
            if glyph_id > 0xFFFF:
                continue  # PANGO_GLYPH_EMPTY, or a missing glyph (PANGO_GLYPH_UNKNOWN_FLAG)
            try:
                text = utf8_text[offset + starts[i] : offset + ends[i]].decode()
            except UnicodeDecodeError:
                continue
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
    rightward pen return after a zero-width glyph turned into that glyph's character spacing.
    """

    _RECORDED = ("set_text_matrix", "set_font_size", "set_text_rise", "show_text")
    _SCRATCH = ("ink_rect", "logical_rect", "length")  # buffers for Pango calls, not drawing

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._operations: list[tuple[str, tuple[Any, ...]]] = []
        self._fonts: dict[str, Any] = {}  # font resource name (Font.hash) -> Font
        self._added: dict[Any, tuple[Any, float]] = {}  # Pango font -> stream.add_font()

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

    def replay(self) -> None:
        operations, self._operations = self._operations, []
        if operations:
            _write_with_pen_returns_as_spacing(self._stream, operations, self._fonts)


# A glyph code directly followed by a rightward adjustment, maybe after "<>" (TJ strings of one
# font joined: 70.0 shows a raised glyph in a TJ string of its own, the adjustment opens the next).
_CODE_THEN_RIGHTWARD = re.compile(r"([0-9a-fA-F]{4})>(?:<>)*-")


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
