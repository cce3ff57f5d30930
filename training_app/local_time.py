"""Moments shown in the reader's own time zone: the server writes the UTC time inside a <time>
element, and static/js/local-time.js rewrites it in the browser's zone and language. Without
the script (or JavaScript) the page still says the time, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape

FORMATS = {"time": "%H:%M UTC", "datetime": "%Y-%m-%d %H:%M UTC", "date": "%Y-%m-%d"}


def local_time(moment: datetime | None, style: str = "time") -> Markup:
    if moment is None:
        return Markup("")
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    stamp = aware.astimezone(UTC)
    return Markup('<time datetime="{}" data-local="{}">{}</time>').format(
        stamp.isoformat(), escape(style), stamp.strftime(FORMATS[style])
    )
