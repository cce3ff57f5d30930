"""Geometry of the dashboard's charts, drawn as SVG by reports/templates/reports/charts/.

Horizontal positions are percentages of the chart's width and vertical ones are CSS pixels, so
a chart fills any column from a phone to a desktop while its text keeps its size (a viewBox
would shrink the labels with the picture). Pure arithmetic: no database, no Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

ROW_HEIGHT = 46  # px: a label line above each bar
BAR_TOP = 24  # px below the row's top
BAR_HEIGHT = 14
TRACK_PERCENT = 84  # of the width; the percentage is written in the rest, right of the bar
LABEL_CHARS = 36  # longer names are shortened in the picture (the table has them whole)

PLOT_HEIGHT = 150  # px: the tallest column
PLOT_TOP = 22  # room for the count above the tallest column
AXIS_ROOM = 40  # month and year labels below the columns
COLUMN_FILL = 0.64  # of each month's slot


@dataclass(frozen=True)
class Bar:
    label: str  # as drawn (shortened)
    full_label: str
    percent_text: str  # right of the bar
    note: str  # after the label, e.g. the counts behind the percentage
    width_percent: float  # of the chart's width
    href: str | None
    count: int | None  # how many rows the link's list holds
    label_y: int
    bar_y: int

    @property
    def percent_y(self) -> int:
        return self.bar_y + BAR_HEIGHT - 2


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    row_height: int = ROW_HEIGHT
    bar_height: int = BAR_HEIGHT
    track_percent: int = TRACK_PERCENT

    @property
    def height(self) -> int:
        return len(self.bars) * self.row_height


def shorten(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def horizontal_bars(items: list[tuple[str, int | None, str, str, str | None, int | None]]) -> BarChart:
    """Rows of (label, percent or None, percent text, note, link, how many rows the link lists),
    top to bottom."""
    bars = [
        Bar(
            label=shorten(label),
            full_label=label,
            percent_text=percent_text,
            note=note,
            width_percent=round(max(0, min(percent or 0, 100)) * TRACK_PERCENT / 100, 3),
            href=href,
            count=count,
            label_y=index * ROW_HEIGHT + 16,
            bar_y=index * ROW_HEIGHT + BAR_TOP,
        )
        for index, (label, percent, percent_text, note, href, count) in enumerate(items)
    ]
    return BarChart(bars)


@dataclass(frozen=True)
class Column:
    first: date
    count: int
    href: str | None
    x_percent: float
    width_percent: float
    center_percent: float
    y: int
    height: int
    count_y: int
    show_year: bool  # under the first month and under each January


@dataclass(frozen=True)
class ColumnChart:
    columns: list[Column]
    tallest: int
    plot_top: int = PLOT_TOP
    plot_height: int = PLOT_HEIGHT

    @property
    def baseline_y(self) -> int:
        return self.plot_top + self.plot_height

    @property
    def month_y(self) -> int:
        return self.baseline_y + 17

    @property
    def year_y(self) -> int:
        return self.baseline_y + 33

    @property
    def height(self) -> int:
        return self.baseline_y + AXIS_ROOM


def monthly_columns(months: list[tuple[date, int, str | None]]) -> ColumnChart:
    """One column per (first day of the month, count, link), oldest first."""
    tallest = max((count for _, count, _ in months), default=0)
    slot = 100 / len(months) if months else 100
    columns = []
    for index, (first, count, href) in enumerate(months):
        height = round(count / tallest * PLOT_HEIGHT) if tallest else 0
        height = max(height, 2) if count else 0  # a month with one completion stays visible
        y = PLOT_TOP + PLOT_HEIGHT - height
        columns.append(
            Column(
                first=first,
                count=count,
                href=href,
                x_percent=round(index * slot + slot * (1 - COLUMN_FILL) / 2, 3),
                width_percent=round(slot * COLUMN_FILL, 3),
                center_percent=round(index * slot + slot / 2, 3),
                y=y,
                height=height,
                count_y=y - 6,
                show_year=index == 0 or first.month == 1,
            )
        )
    return ColumnChart(columns, tallest)
