"""Cursor pagination: a list is read in a fixed order (an id or the audit log's sequence number),
and a page's `next_cursor` says where the next one starts. A cursor is opaque to clients: it names
its list and a position, so rows added meanwhile are not skipped and no row comes twice.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

import marshmallow as ma

from training_app.errors import DomainError

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_POSITION = 2**63 - 1


class BadCursor(DomainError):
    status = 400
    code = "bad_cursor"
    title = "Bad cursor"


class PageArgs(ma.Schema):
    cursor = ma.fields.String(
        validate=ma.validate.Length(max=200),
        metadata={"description": "The `next_cursor` of the previous page; leave it out for the first"},
    )
    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=ma.validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Rows a page, 1 to {MAX_LIMIT}"},
    )


def page_schema(name: str, row_schema: type[ma.Schema]) -> type[ma.Schema]:
    """A page of `row_schema` rows with the cursor of the next page."""
    return ma.Schema.from_dict(
        {
            "data": ma.fields.List(ma.fields.Nested(row_schema), required=True),
            "next_cursor": ma.fields.String(
                required=True,
                allow_none=True,
                metadata={"description": "Pass it as `cursor` for the next page; null on the last page"},
            ),
        },
        name=name,
    )


def encode(list_name: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{list_name}:{position}".encode()).decode().rstrip("=")


def position(cursor: str | None, list_name: str) -> int:
    """Where a page starts: after this id (0 for the first page). BadCursor (400) for a cursor
    that is not one of this list's."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    name, _sep, number = text.partition(":")
    if name != list_name or not number.isascii() or not number.isdigit() or int(number) > MAX_POSITION:
        raise BadCursor(
            f"This cursor is not one of the {list_name} list's. Pass the `next_cursor` of a page of "
            f"this list unchanged, or leave `cursor` out for the first page.",
            errors={"cursor": "not a cursor of this list"},
        )
    return int(number)


def page(rows: Sequence[Any], limit: int, list_name: str, key: Callable[[Any], int]) -> dict[str, Any]:
    """The page of a query that read `limit + 1` rows: the extra row only tells there is more."""
    shown = list(rows[:limit])
    more = len(rows) > limit
    return {"data": shown, "next_cursor": encode(list_name, key(shown[-1])) if more and shown else None}
