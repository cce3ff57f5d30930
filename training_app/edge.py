"""Rules applied to every request at the edge, before any view reads it.

- Ids in URLs fit the id columns (INTEGER: 32-bit on PostgreSQL): a larger number is simply not a
  page (404), never an OverflowError or an out-of-range error from the database.
- Page numbers come from `page_number()`: a number from 1 to MAX_PAGE, else 404.
- No control character (NUL included) and no bidirectional override in any form field or query
  parameter: PostgreSQL refuses NUL in text, and a right-to-left override prints a name reversed
  in a certificate or a page (a spoofing trick). Tabs and line breaks stay allowed. The answer is
  a 400 naming the field.
- Values that arrive other than through a form a page validates (LTI claims) are checked with
  `check_text` and, against the size of the column they go to, `check_lengths`: a 400 naming the
  value, never a database error (PostgreSQL refuses a value longer than its VARCHAR).
"""

from __future__ import annotations

import re

from flask import Flask, abort, request
from flask_babel import gettext
from werkzeug.routing import IntegerConverter

from training_app.errors import N_, DomainError

MAX_ID = 2**31 - 1  # the largest INTEGER (PostgreSQL); SQLite's are larger
MAX_PAGE = 1_000_000
# C0 controls but tab, LF and CR; DEL and the C1 controls; the bidi embeddings, overrides and
# isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI).
UNSAFE_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` that matches only what fits a database id."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class UnsafeText(DomainError):
    status = 400
    code = "unsafe_characters"
    title = N_("Please check what you entered")


def unsafe_character(value: str) -> str | None:
    """The first control or bidi-override character in `value`, as U+XXXX; None if there is none."""
    match = UNSAFE_CHARACTERS.search(value)
    return f"U+{ord(match.group()):04X}" if match else None


def check_text(fields: dict[str, str | None]) -> None:
    """Refuse text with control or bidi-override characters, naming the field (for values that do not
    come through a form or a query string: LTI claims, CSV cells, API bodies)."""
    for name, value in fields.items():
        character = unsafe_character(value or "")
        if character:
            raise UnsafeText(
                gettext(
                    "%(field)s contains a control or text-direction character (%(character)s) that "
                    "cannot be stored or printed safely. Remove it and try again.",
                    field=name,
                    character=character,
                ),
                errors={name: gettext("contains %(character)s", character=character)},
            )


class TooLong(DomainError):
    status = 400
    code = "too_long"
    title = N_("Please check what you entered")


def check_lengths(fields: dict[str, tuple[str | None, int]]) -> None:
    """Refuse a value longer than it may be ({name: (value, most characters)}), naming it."""
    for name, (value, limit) in fields.items():
        if value is not None and len(value) > limit:
            raise TooLong(
                gettext(
                    "%(field)s is %(length)d characters long; at most %(limit)d can be stored. "
                    "Shorten it and try again.",
                    field=name,
                    length=len(value),
                    limit=limit,
                ),
                errors={name: gettext("at most %(limit)d characters", limit=limit)},
            )


def _refuse_unsafe_input() -> None:
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            check_text({name: value})
    for name in request.args:
        check_text({"parameter name": name})


def page_number(argument: str = "page") -> int:
    raw = request.args.get(argument, "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        abort(404)
    return int(raw)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(_refuse_unsafe_input)
