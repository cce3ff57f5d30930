"""The filters of the people and completions table and of its exports, read from a URL's query
string (or the CLI's options, which take the same names): one parser, one set of messages.

An impossible value is never ignored: a bad date, an unknown status or sort field, a version that
is not a whole number or a range that ends before it starts is a 400 naming the filter and saying
what to write. Values that are possible but match nothing (a department nobody is in) are simply
filters that select no row.

Besides the eight statuses, `status` takes a group: `counted`, every assignment a completion rate
counts (all but waived ones and those of people who have left), the dashboard's denominator.
People without a department are `no_department=yes`, a filter of its own: any text can be a
department's name (an HR file or an LMS writes it), so no value of `department` could stand for
"none" without being some department's name too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date

from flask_babel import gettext

from assignments.status import STATUSES
from training_app.errors import N_, DomainError

SORT_FIELDS = (
    "name",
    "email",
    "employee_id",
    "department",
    "manager",
    "course",
    "version",
    "status",
    "score",
    "due",
    "completed",
    "expires",
)
DEFAULT_SORT = "name"
MAX_LENGTHS = {"course": 100, "department": 120, "manager": 320, "q": 200}
DATE_RANGES = (("due_from", "due_to"), ("completed_from", "completed_to"), ("expires_from", "expires_to"))
NOT_COUNTED = ("waived", "ended")  # left out of a completion rate's denominator
STATUS_GROUPS = {"counted": tuple(status for status in STATUSES if status not in NOT_COUNTED)}
YES = "yes"
ATTEMPTS_USED_UP = "used_up"  # out of quiz attempts (reports.attempts)
MAX_VERSION = 2**31 - 1  # an INTEGER column
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat also takes 20270301 and 2027-W09-1


class BadFilter(DomainError):
    status = 400
    code = "bad_filter"
    title = N_("Some filters cannot be used")


@dataclass(frozen=True)
class CompletionFilter:
    course: str | None = None
    version: int | None = None
    department: str | None = None
    no_department: str | None = None  # YES: people without a department
    manager: str | None = None
    status: str | None = None  # a status, or a group of them (STATUS_GROUPS)
    attempts: str | None = None  # ATTEMPTS_USED_UP
    due_from: date | None = None
    due_to: date | None = None
    completed_from: date | None = None
    completed_to: date | None = None
    expires_from: date | None = None
    expires_to: date | None = None
    q: str | None = None
    sort: str = DEFAULT_SORT

    @property
    def statuses(self) -> tuple[str, ...] | None:
        """The statuses the status filter selects (one, or a group's)."""
        if self.status is None:
            return None
        return STATUS_GROUPS.get(self.status, (self.status,))

    @property
    def sort_field(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def query_args(self) -> dict[str, str]:
        """The filters as URL parameters (the URL contract), without the empty ones and the
        default sort: what a bookmark of this view holds."""
        args = {name: _text(value) for name, value in asdict(self).items() if value not in (None, "")}
        if args.get("sort") == DEFAULT_SORT:
            del args["sort"]
        return args

    def described(self) -> dict[str, str]:
        """The filters chosen, for the audit log."""
        return self.query_args()

    @property
    def chosen(self) -> bool:
        return any(name != "sort" for name in self.query_args())


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


FILTER_NAMES = tuple(field.name for field in fields(CompletionFilter))


def parse_filter(args: Mapping[str, str | None]) -> CompletionFilter:
    """The filters in `args` (a query string, or the CLI's options by the same names); BadFilter
    listing every impossible value with what to write instead."""
    problems: dict[str, str] = {}
    values: dict[str, object] = {}
    for name in FILTER_NAMES:
        raw = _raw(name, args.get(name) or "")
        if not raw:
            continue
        parsed = _parse(name, raw, problems)
        if parsed is not None:
            values[name] = parsed
    for start, end in DATE_RANGES:
        if start in values and end in values and values[start] > values[end]:  # type: ignore[operator]
            problems[start] = gettext(
                "%(start)s (%(from)s) is after %(end)s (%(to)s): write a range that starts on or "
                "before its end.",
                start=start,
                end=end,
                **{"from": values[start].isoformat(), "to": values[end].isoformat()},  # type: ignore[attr-defined]
            )
    if values.get("department") and values.get("no_department"):
        problems["no_department"] = gettext(
            "a department is chosen too: choose a department or people without one, not both."
        )
    if problems:
        raise BadFilter(
            gettext("Fix the filters below and try again; nothing was listed or exported."),
            errors=problems,
        )
    return CompletionFilter(**values)  # type: ignore[arg-type]


def _raw(name: str, value: str) -> str:
    """The value without the white space around it; a department as written, its name matched
    exactly (an LMS may send one with spaces around it, and the dashboard links to each department
    by its stored name). Only spaces make a department blank, as SQL's trim() (reports.completions
    .department_or_none) decides which are."""
    if name == "department":
        return value if value.strip(" ") else ""
    return value.strip()


def _parse(name: str, raw: str, problems: dict[str, str]) -> object | None:
    if name in MAX_LENGTHS and len(raw) > MAX_LENGTHS[name]:
        problems[name] = gettext("write at most %(n)d characters.", n=MAX_LENGTHS[name])
    elif name == "version":
        if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_VERSION:
            return int(raw)
        problems[name] = gettext("“%(value)s” is not a version: write a whole number, e.g. 2.", value=raw)
    elif name == "status":
        if raw in STATUSES or raw in STATUS_GROUPS:
            return raw
        problems[name] = gettext(
            "“%(value)s” is not a status: write one of %(choices)s.",
            value=raw,
            choices=", ".join((*STATUSES, *STATUS_GROUPS)),
        )
    elif name == "no_department":
        if raw == YES:
            return raw
        problems[name] = gettext(
            "“%(value)s” is not a choice here: write %(yes)s for people without a department, or "
            "leave it out.",
            value=raw,
            yes=YES,
        )
    elif name == "attempts":
        if raw == ATTEMPTS_USED_UP:
            return raw
        problems[name] = gettext(
            "“%(value)s” is not a choice here: write %(used_up)s for people out of quiz attempts, or "
            "leave it out.",
            value=raw,
            used_up=ATTEMPTS_USED_UP,
        )
    elif name.endswith(("_from", "_to")):
        return _parse_date(name, raw, problems)
    elif name == "sort":
        if raw.removeprefix("-") in SORT_FIELDS:
            return raw
        problems[name] = gettext(
            "“%(value)s” cannot be sorted on: write one of %(choices)s, with a - before it for "
            "descending order (e.g. -due).",
            value=raw,
            choices=", ".join(SORT_FIELDS),
        )
    elif name == "manager":
        return raw.lower()
    else:
        return raw
    return None


LAST_DAY = date(9999, 12, 30)  # a range ends at the next midnight, which must exist


def _parse_date(name: str, raw: str, problems: dict[str, str]) -> date | None:
    try:
        if ISO_DATE.fullmatch(raw):
            day = date.fromisoformat(raw)
            if day <= LAST_DAY:
                return day
            problems[name] = gettext("“%(value)s” is too late: write a day up to 9999-12-30.", value=raw)
            return None
    except ValueError:  # a day that does not exist, e.g. 2027-02-30
        pass
    problems[name] = gettext("“%(value)s” is not a date: write it as YYYY-MM-DD, e.g. 2027-03-01.", value=raw)
    return None
