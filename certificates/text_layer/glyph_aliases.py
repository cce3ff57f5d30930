"""Alias codes: each (glyph, text) pair a font draws gets a character code of its own.

WHY
---
WeasyPrint 70.0 writes one string per glyph, and the first use wins. The PDF shows glyph ids; the
font's /ToUnicode CMap maps each id to ONE string, set the first time the glyph is drawn
(`weasyprint/draw/text.py`, `draw_first_line`: `if glyph_id not in font.to_unicode`). Shaping
reuses glyphs in different cluster contexts: in "प्रिया शर्मा" the aa-matra glyph first reads "ा"
(in या) and is then drawn inside the reph cluster र्मा, whose whole text WeasyPrint gives to
another glyph of the cluster, so pypdf reads "शार्मा"; in "दुर्गा प्रसाद" the same glyph first reads
"" (the silent member of र्गा) and "प्रसाद" loses its ा. Upstream: Kozea/WeasyPrint#2841; the fix
proposed in PR #2869 (not in 70.0) draws the extra ids as composite glyphs added to the font file
with fontTools.

WHAT
----
WeasyPrint already works out, glyph by glyph, the text each shown glyph stands for (the whole
cluster for one glyph of a multi-glyph cluster, "" for the others); only its keying by glyph id is
wrong. Before a line is drawn we compute the same per-glyph text (line.py); the first text a glyph
is drawn with keeps the glyph id as its code (exactly as before), any other text gets an alias code
taken from the top of the 16-bit code space (0xFFFF downwards). The alias is written into the
line's Pango glyph string for the duration of the draw, so WeasyPrint shows it, maps it in
/ToUnicode and records its width (the real glyph's); the glyph ids are restored afterwards.

With /Identity-H a code is a CID; the CIDFont's /CIDToGIDMap (70.0 writes /Identity) becomes a
stream that maps each alias CID to the real glyph id, so the page shows the very same glyph program
as before, pixel for pixel: nothing is added to the font file, and the subset keeps the real glyphs
only. (An /Encoding CMap from aliases to real CIDs would do the same for renderers, but pypdf
decodes two-byte codes only with /Identity-H; pypdf also ignores /ActualText.) This covers TrueType
outlines, which all our complex-script fonts are; CFF fonts (CIDToGIDMap does not apply), bitmap
and colour fonts (whose glyph data WeasyPrint looks up by the code it shows) keep 70.0's behaviour,
as does a font whose code space is full.
"""

from __future__ import annotations

from typing import Any

import pydyf

from certificates.text_layer import internals

# Alias codes are handed out from the top of the 16-bit code space, downwards. WeasyPrint hands
# out codes for missing glyphs upwards from the font's glyph count; this margin keeps the two apart.
_HIGHEST_CODE = 0xFFFF
_MISSING_GLYPHS_MARGIN = 256

# Attributes this module adds to WeasyPrint's Font objects.
_ALIASES = "_postwise_aliases"  # {(glyph id, text): alias code}
_TARGETS = "_postwise_alias_targets"  # {alias code: glyph id}


def alias_reused_glyphs(stream, textbox, runs, changed: list[tuple[Any, int]]) -> None:  # type: ignore[no-untyped-def]
    """Give each glyph of the line's `runs` that already reads as other text an alias code of its own."""
    for glyph_item, glyph_texts in runs:
        pango_font = glyph_item.item.analysis.font
        font, font_size = stream.add_font(pango_font)
        if font.bitmap or font.png or font.svg or font.colr or font.type == "otf":
            # Bitmap and colour glyphs are looked up by the code shown, and CFF fonts take no
            # CIDToGIDMap: these keep 70.0's behaviour (none of them needs aliases on our pages).
            continue
        if internals.pango.pango_version() < 14802:
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
            internals.pango.pango_font_get_glyph_extents(
                pango_font, glyph_id, stream.ink_rect, stream.logical_rect
            )
            font.widths[glyph_id] = round(stream.logical_rect.width * 1000 * internals.FROM_UNITS / font_size)
        font.widths[code] = font.widths[glyph_id]
    return code


# --- writing the fonts -------------------------------------------------------------------------


def clean(self, to_unicode, hinting):  # type: ignore[no-untyped-def]
    """Font.clean, subsetting the real glyphs only (alias codes are not glyph ids)."""
    targets = self.__dict__.get(_TARGETS)
    if targets:
        to_unicode = {code: text for code, text in to_unicode.items() if code not in targets}
    return internals.originals["clean"](self, to_unicode, hinting)


def build_vector_font_dictionary(font_dictionary, pdf, font, widths, compress, reference, pdf_version):  # type: ignore[no-untyped-def]
    build = internals.originals["build_vector_font_dictionary"]
    build(font_dictionary, pdf, font, widths, compress, reference, pdf_version)
    targets: dict[int, int] = font.__dict__.get(_TARGETS) or {}
    if not targets:
        return
    if widths is not font.widths or font.used_in_forms:
        # The whole font was embedded, and its /ToUnicode rebuilt from the font's cmap without
        # our alias codes: refuse rather than write a text layer that reads back wrong.
        raise RuntimeError(
            f"font {font.family!r}: certificates/text_layer/ needs subset fonts "
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
