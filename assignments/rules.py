"""Per-tenant assignment rules: who must take which course, by when.

- Orientation: every employee with a hire date, due `orientation_due_days` after it.
- Refresher: `rolling` (assigned `refresher_days_before_expiry` days before the person's current
  certificate expires, due on its expiry) or `calendar` (every year in `refresher_month`, due
  `refresher_due_days` after the window opens; people hired within `refresher_exempt_months`
  months are exempt that year).
- Leaders: everyone who is somebody's manager, due `leaders_due_days` after they are assigned.
- A material policy change re-assigns, with `policy_change_grace_days` to complete it again.
- Reminders: `reminder_days_before` the due date, on it, and every `reminder_every_days_after`
  after it with the manager copied; `reminders_enabled` turns them off for the tenant.

Stored in `tenants.settings["assignment_rules"]`; what a tenant leaves out takes the defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from training_app.errors import ValidationFailed
from training_app.models import Tenant

SETTINGS_KEY = "assignment_rules"
REFRESHER_MODES = ("rolling", "calendar")


@dataclass(frozen=True)
class Rules:
    orientation_course: str = "social-media-orientation"
    orientation_due_days: int = 30
    refresher_course: str = "social-media-refresher"
    refresher_mode: str = "rolling"
    refresher_days_before_expiry: int = 30
    refresher_month: int = 1
    refresher_due_days: int = 31
    refresher_exempt_months: int = 3
    leaders_course: str = "leaders-on-social-media"
    leaders_due_days: int = 30
    policy_change_grace_days: int = 30
    expiring_soon_days: int = 30
    reminders_enabled: bool = True
    reminder_days_before: tuple[int, ...] = (7, 1)
    reminder_every_days_after: int = 7


def rules_of(tenant: Tenant) -> Rules:
    stored = (tenant.settings or {}).get(SETTINGS_KEY) or {}
    known = {f.name for f in fields(Rules)}
    values = {name: value for name, value in stored.items() if name in known}
    if "reminder_days_before" in values:
        values["reminder_days_before"] = tuple(values["reminder_days_before"])
    return Rules(**values)


def change_rules(tenant: Tenant, **changes: Any) -> Rules:
    """Save changed rules for the tenant (validated); the caller's transaction keeps them."""
    rules = replace(rules_of(tenant), **{k: v for k, v in changes.items() if v is not None})
    problems = validate(rules)
    if problems:
        raise ValidationFailed(
            "The assignment rules are not valid: " + "; ".join(problems.values()), errors=problems
        )
    stored = asdict(rules)
    stored["reminder_days_before"] = list(rules.reminder_days_before)
    tenant.settings = {**(tenant.settings or {}), SETTINGS_KEY: stored}
    return rules


def validate(rules: Rules) -> dict[str, str]:
    problems = {}
    if rules.refresher_mode not in REFRESHER_MODES:
        problems["refresher_mode"] = f"refresher_mode is one of {', '.join(REFRESHER_MODES)}"
    if not 1 <= rules.refresher_month <= 12:
        problems["refresher_month"] = "refresher_month is a month, 1 to 12"
    for name in (
        "orientation_due_days",
        "refresher_days_before_expiry",
        "refresher_due_days",
        "leaders_due_days",
        "policy_change_grace_days",
        "expiring_soon_days",
        "reminder_every_days_after",
    ):
        if not 0 <= getattr(rules, name) <= 730:
            problems[name] = f"{name} is a number of days from 0 to 730"
    if not 0 <= rules.refresher_exempt_months <= 24:
        problems["refresher_exempt_months"] = "refresher_exempt_months is 0 to 24"
    if any(not 0 <= days <= 365 for days in rules.reminder_days_before):
        problems["reminder_days_before"] = "reminder_days_before are numbers of days from 0 to 365"
    return problems
