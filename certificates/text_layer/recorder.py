"""The text recorder: the page stream's stand-in while WeasyPrint draws one line.

draw_first_line writes a line's text operators one glyph run at a time; the recorder keeps them
until the line is complete, so that pen returns (pen_returns.py) and ActualText spans
(actual_text.py), which look across runs, can be written.
"""

from __future__ import annotations

from typing import Any

from certificates.text_layer.actual_text import ActualTextSpans, Words
from certificates.text_layer.pen_returns import write_with_pen_returns_as_spacing
from certificates.text_layer.tj import codes_shown


class TextRecorder:
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
        self.words: Words | None = None

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
        if words is None or codes_shown(operations, self._fonts) != len(words.of_code):
            write_with_pen_returns_as_spacing(self._stream, operations, self._fonts)
            return
        spans = ActualTextSpans(self._stream, words, self._fonts)
        write_with_pen_returns_as_spacing(spans, operations, self._fonts)
        spans.close()
