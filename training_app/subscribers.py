"""Which senders have work for a tenant, answered by one statement per unit of work.

The packages that send outside (webhooks, feeds) subscribe to hooks that run inside the hottest
writes: a passing quiz submit runs three of them. Most tenants configure none of these senders, so
each would read its configuration only to learn it has nothing to do. Instead each sender
registers here, at start-up, a condition that says "this tenant has work for me" (an EXISTS over
its own table); `has_work` answers every sender at once with one statement, the first time a
tenant is asked in a transaction, and keeps the answer until the transaction ends or the unit of
work changes one of the senders' tables through the ORM.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, CompoundSelect, Select, event, literal, select, union_all
from sqlalchemy.orm import Session

from training_app.extensions import db, run_core

_conditions: dict[str, ColumnElement[bool]] = {}  # sender -> EXISTS (...) using bindparam("tenant_id")
_tables: set[str] = set()  # the senders' tables: an ORM change to one forgets the answers
_statement: list[Select | CompoundSelect] = []
_INFO_KEY = "senders_with_work"


def register(sender: str, condition: ColumnElement[bool], table: str) -> None:
    """`condition` is true when the tenant (bindparam "tenant_id") has work for `sender`."""
    _conditions[sender] = condition
    _tables.add(table)
    _statement.clear()


def has_work(tenant_id: int, sender: str) -> bool:
    if sender not in _conditions:
        return False
    answers = db.session.info.setdefault(_INFO_KEY, {})
    if tenant_id not in answers:
        answers[tenant_id] = {name for (name,) in run_core(_senders_statement(), {"tenant_id": tenant_id})}
    return sender in answers[tenant_id]


def _senders_statement() -> Select | CompoundSelect:
    if not _statement:
        parts = [select(literal(name).label("sender")).where(cond) for name, cond in _conditions.items()]
        _statement.append(union_all(*parts) if len(parts) > 1 else parts[0])
    return _statement[0]


def _forget(session: Session, *_args) -> None:
    session.info.pop(_INFO_KEY, None)


def _forget_if_a_sender_changed(session: Session, _flush_context) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(getattr(type(obj), "__tablename__", None) in _tables for obj in changed):
        _forget(session)


event.listen(Session, "after_commit", _forget)
event.listen(Session, "after_soft_rollback", _forget)
event.listen(Session, "after_flush", _forget_if_a_sender_changed)
