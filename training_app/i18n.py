"""Locale helpers shared by the packages."""

from flask import g
from flask_babel import refresh


def use_locale(locale: str) -> None:
    """Render the rest of this request in `locale` (e.g. the course content's locale)."""
    g.ui_locale = locale
    refresh()
