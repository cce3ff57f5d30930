"""The tenant's webhook settings (`tenants.settings["webhooks"]`) and the app's."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext

from training_app.errors import ValidationFailed
from training_app.models import Tenant

SETTINGS_KEY = "webhooks"
DEFAULT_DISABLE_AFTER_DAYS = 3
MAX_DISABLE_AFTER_DAYS = 30
DEFAULT_TIMEOUT_SECONDS = 10.0  # TRAINING_WEBHOOK_TIMEOUT_SECONDS: a slow receiver fails after this


def disable_after_days(tenant: Tenant) -> int:
    """After how many days of failing deliveries an endpoint is turned off (default 3)."""
    stored = ((tenant.settings or {}).get(SETTINGS_KEY) or {}).get("disable_after_days")
    return stored if isinstance(stored, int) and stored > 0 else DEFAULT_DISABLE_AFTER_DAYS


def set_disable_after_days(tenant: Tenant, days: int) -> None:
    if not 1 <= days <= MAX_DISABLE_AFTER_DAYS:
        raise ValidationFailed(
            gettext("Choose between 1 and %(n)d days.", n=MAX_DISABLE_AFTER_DAYS),
            errors={"disable_after_days": gettext("between 1 and %(n)d", n=MAX_DISABLE_AFTER_DAYS)},
        )
    settings = dict(tenant.settings or {})
    settings[SETTINGS_KEY] = {**(settings.get(SETTINGS_KEY) or {}), "disable_after_days": days}
    tenant.settings = settings


def timeout_seconds() -> float:
    return float(current_app.config.get("WEBHOOK_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
