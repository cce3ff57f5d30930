"""Drawing one line with the patch: WeasyPrint 70.0's `draw_first_line`, wrapped.

Once Pango has laid the line out, and before it is drawn, the wrapper works out the text each
glyph stands for (as draw_first_line does), gives glyphs that already read as other text an alias
code (glyph_aliases.py) and finds the line's words (actual_text.py). The line is then drawn into a
TextRecorder (recorder.py), which writes it to the page with pen returns as spacing
(pen_returns.py) and each left-to-right word in an ActualText span; the glyph ids are restored.
"""

from __future__ import annotations

from typing import Any

from certificates.text_layer import internals
from certificates.text_layer.actual_text import words_of
from certificates.text_layer.glyph_aliases import alias_reused_glyphs
from certificates.text_layer.recorder import TextRecorder


def draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):  # type: ignore[no-untyped-def]
    draw = internals.originals["draw_first_line"]
    if not internals.active():
        return draw(stream, textbox, text_overflow, block_ellipsis, matrix)

    layout = textbox.pango_layout
    get_first_line = layout.get_first_line
    changed: list[tuple[Any, int]] = []  # (PangoGlyphInfo, its real glyph id)

    recorder = TextRecorder(stream)

    def first_line_with_aliases():  # type: ignore[no-untyped-def]
        line, index = get_first_line()
        runs = _runs_of(textbox, line)
        alias_reused_glyphs(recorder, textbox, runs, changed)
        recorder.words = words_of(runs)
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
    while run != internals.ffi.NULL:
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
    starts = internals.ffi.unpack(glyph_string.log_clusters, glyph_string.num_glyphs)
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
