"""Forward hand-offs from certificates without forward imports: packages later in the flow (webhooks)
register here at start-up and are called in the same transaction when a certificate is issued or
revoked. Hooks only write rows and outbox messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certificates.models import Certificate
    from courses.services import RecordedResult

IssuedHook = Callable[[int, "RecordedResult"], None]  # the new certificate's id, the result it proves
RevokedHook = Callable[["Certificate"], None]
_issued_hooks: list[IssuedHook] = []
_revoked_hooks: list[RevokedHook] = []


def on_issued(hook: IssuedHook) -> None:
    if hook not in _issued_hooks:
        _issued_hooks.append(hook)


def on_revoked(hook: RevokedHook) -> None:
    if hook not in _revoked_hooks:
        _revoked_hooks.append(hook)


def run_issued_hooks(certificate_id: int, result: RecordedResult) -> None:
    for hook in _issued_hooks:
        hook(certificate_id, result)


def run_revoked_hooks(certificate: Certificate) -> None:
    for hook in _revoked_hooks:
        hook(certificate)
