"""The TJ strings WeasyPrint 70.0's draw_first_line writes: hex glyph codes and adjustments.

One code per shown glyph, in the line's glyph order: four hex digits (two for bitmap fonts).
"""

from __future__ import annotations

import re

# The parts of the TJ strings draw_first_line builds: <hex glyph codes> and numbers.
TJ_PART = re.compile(r"<([0-9a-fA-F]*)>|([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)")


def code_digits(font) -> int:  # type: ignore[no-untyped-def]
    """Hex digits per glyph code in draw_first_line's TJ strings for `font`."""
    return 2 if font is not None and font.bitmap else 4


def codes_shown(operations, fonts) -> int:  # type: ignore[no-untyped-def]
    digits, count = 4, 0
    for name, args in operations:
        if name == "set_font_size":
            digits = code_digits(fonts.get(str(args[0])))
        elif name == "show_text":
            for hex_codes, _ in TJ_PART.findall(args[0]):
                if len(hex_codes) % digits:
                    return -1  # not codes of this width: never matches a line's glyph count
                count += len(hex_codes) // digits
    return count
