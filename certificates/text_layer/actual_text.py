"""ActualText spans: each left-to-right word of a line carries its exact text for viewers.

WHY
---
Viewers read glyphs by position, and a cluster's glyphs do not each stand for a character. A
multi-glyph cluster's text goes on one of its glyphs (in "शर्मा", all of र्मा on the zero-width reph
drawn last), its other glyphs stand for "" (an empty /ToUnicode entry). poppler places each
glyph's characters at the glyph and breaks words at gaps wider than 0.1 em: the glyphs that stand
for "" leave such a gap, so "अर्जुन शर्मा" read "अ न" / "र्जु श र्मा" (the zero-width glyph carrying
र्जु, on top of न, even went to a line of its own). PDFium reads a glyph that stands for "" as its
code taken as a character: "अ>र्जुन शP..." (codes 0x3E and 0x50). And CSS letter-spacing (0.12 em
on the labels) is such a gap after every letter: poppler read "C E R T I F I C AT E"; it
subtracts character spacing (Tc) from a glyph's advance, so writing the spacing as Tc would not
help.

WHAT
----
Each left-to-right word is a marked-content span with its exact text as /ActualText
(`/Span <</ActualText <FEFF...>>> BDC ... EMC`), which poppler and PDFium read instead of the
glyphs inside it (pypdf ignores ActualText and still reads the glyphs, fixed by glyph_aliases.py
and pen_returns.py). A word's text is the glyphs' texts joined, the space after it included
(PDFium skips a text object that draws nothing, a lone space, then guesses the gap, wrongly after
a mark). TJ strings are split where a span opens or closes; each goes on where the last one ended.
Right-to-left runs get no span: poppler and PDFium lay a span's characters out left to right and
then reverse right-to-left text, so an Arabic span would read backwards; their glyphs stand for one
character each and read right in all three readers. Known limit: Arabic written with its vowel
marks (مُحَمَّد) reads exactly with pypdf only, as poppler and PDFium take each raised mark for a
word of its own.

Spans draw nothing; a split TJ string draws within one grey level of the unsplit one.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

from certificates.text_layer import internals
from certificates.text_layer.tj import TJ_PART, code_digits


@dataclass(frozen=True)
class Words:
    """The words of a line that get an ActualText span, and the word of each glyph code shown."""

    texts: list[str]
    of_code: list[int | None]  # for each code draw_first_line shows, in order; None: no span


def words_of(runs: list[tuple[Any, list[str | None]]]) -> Words | None:
    """The left-to-right words of a line's `runs`, each with the whitespace that follows it.

    A word's text is its glyphs' texts joined: what pypdf reads glyph by glyph. Right-to-left runs,
    and a space that follows one, are in no word (see this module's docstring).
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
            if glyphs[i].glyph != internals.pango.PANGO_GLYPH_EMPTY:  # draw_first_line shows no code for it
                of_code.append(word)
    of_code = [w if w is not None and w not in unknown else None for w in of_code]
    if all(w is None for w in of_code):
        return None
    return Words(texts, of_code)


def _text_string(text: str) -> bytes:
    """`text` as a PDF text string: UTF-16BE with its byte order mark, written in hex."""
    return b"<" + (codecs.BOM_UTF16_BE + text.encode("utf-16-be")).hex().encode("ascii") + b">"


class ActualTextSpans:
    """Passes a line's text operators on to the page stream, each word in an ActualText span.

    A TJ string that holds glyphs of more than one word (or of a word and a space) is split
    where the word changes, so that the span's BDC/EMC can go in between; the adjustments
    between two glyphs stay in the first string. Split or not, every glyph lands where it did.
    """

    def __init__(self, stream: Any, words: Words, fonts: dict[str, Any]) -> None:
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
        self._digits = code_digits(self._fonts.get(str(font)))
        self._stream.set_font_size(font, size)

    def show_text(self, text: str) -> None:
        tj_parts = TJ_PART.findall(text)
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
