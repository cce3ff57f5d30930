"""Pen returns as spacing: no word gap after a mark drawn left of the pen.

WHY
---
A zero-width mark placed under or over the preceding letter (ृ, ु, ू in "कृष्ण", "फुले"; ু in "ঠাকুর")
is shown after a leftward TJ adjustment and is followed by a rightward one that brings the pen
back. pypdf reads any rightward TJ adjustment wider than half a space as a word gap, so "कृष्ण"
reads back "कृ ष्ण".

WHAT
----
The pen return after a zero-width glyph becomes that glyph's own advance. When a glyph whose width
is 0 is followed by a rightward TJ adjustment, the glyph is shown with character spacing (Tc) equal
to that adjustment and the adjustment is dropped: the glyph lands where it did, the pen ends where
it did, and no extractor sees a gap after the mark. Empty `<>` strings that 70.0 leaves after a
raised glyph are dropped there too (they show nothing). Lines without such a mark are written
exactly as 70.0 writes them. The page draws the same (within one grey level on a few anti-aliased
edges: pdfium adds up adjustments in a different order in single precision, 3e-5 pt).
"""

from __future__ import annotations

import re

from certificates.text_layer.tj import TJ_PART

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


def write_with_pen_returns_as_spacing(stream, operations, fonts) -> None:  # type: ignore[no-untyped-def]
    if not _has_pen_return(operations, fonts):
        for name, args in operations:
            getattr(stream, name)(*args)  # as draw_first_line wrote it
        return

    # Parts of each TJ string: [is_number, text], None for other operators.
    parts = [
        [[bool(amount), amount or hex_codes] for hex_codes, amount in TJ_PART.findall(args[0])]
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
