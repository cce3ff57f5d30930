import hashlib
import itertools
import threading
from datetime import UTC

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from tests import factories
from training_app import audit
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant


@pytest.fixture
def chain(app: Flask):
    """Five events in acme's chain and two in globex's."""
    with app.app_context():
        acme, globex = factories.tenant("acme"), factories.tenant("globex", "Globex")
        for n in range(5):
            audit.record_event(
                acme.id, "staff:1", "thing.done", subject=("thing", n), data={"n": n, "note": "é"}
            )
        for n in range(2):
            audit.record_event(globex.id, "staff:9", "other.done", data={"n": n})
        db.session.commit()
    return app


def run_verify(app: Flask):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def event_id(seq: int) -> int:
    return db.session.scalar(
        select(AuditEvent.id).join(Tenant).where(Tenant.slug == "acme", AuditEvent.seq == seq)
    )


def test_intact_chains_verify(chain):
    result = run_verify(chain)
    assert result.exit_code == 0, result.output
    assert "ok tenant acme: 5 event(s), chain intact" in result.output
    assert "ok tenant globex: 2 event(s), chain intact" in result.output


@pytest.mark.parametrize("count", [1, 8, 9, 300])
def test_a_transaction_s_events_chain_whatever_their_number(app: Flask, count: int):
    """A request's few events and the head move in one statement on PostgreSQL; a bulk operation's
    many take an executemany. Either way the chain links in order and verifies."""
    with app.app_context():
        tenant = factories.tenant("acme")
        audit.record_event(tenant.id, "staff:1", "before", data={})
        db.session.commit()
        for n in range(count):
            audit.record_event(tenant.id, "staff:1", "bulk.done", subject=("thing", n), data={"n": n})
        db.session.commit()
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [e.seq for e in events] == list(range(1, count + 2))
        assert [e.data.get("n") for e in events[1:]] == list(range(count))
        assert all(e.prev_hash == before.hash for before, e in itertools.pairwise(events))
        db.session.refresh(tenant)
        assert (tenant.audit_seq, tenant.audit_head) == (count + 1, events[-1].hash)
    assert "chain intact" in run_verify(app).output


def test_an_edited_row_is_named(chain):
    with chain.app_context():
        target = event_id(3)
        db.session.execute(text("UPDATE audit_events SET actor = 'staff:666' WHERE id = :id"), {"id": target})
        db.session.commit()
    result = run_verify(chain)
    assert result.exit_code == 1
    assert f"TAMPERED tenant acme: event #{target} (seq 3) was edited" in result.output
    assert "ok tenant globex" in result.output


def test_a_deleted_row_is_named(chain):
    with chain.app_context():
        db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event_id(2)})
        db.session.commit()
    result = run_verify(chain)
    assert result.exit_code == 1
    assert "tenant acme: seq 2 was deleted: seq 2 is missing" in result.output


def test_deleting_the_newest_row_is_caught_by_the_chain_head(chain):
    with chain.app_context():
        db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event_id(5)})
        db.session.commit()
    result = run_verify(chain)
    assert result.exit_code == 1
    assert "tenant acme: seq 4 was deleted" in result.output


def test_an_inserted_row_is_named(chain):
    with chain.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        forged = AuditEvent(
            tenant_id=tenant.id,
            seq=6,
            actor="staff:1",
            action="thing.done",
            data={},
            prev_hash="f" * 64,
            occurred_at=audit.utcnow(),
        )
        forged.hash = audit.event_hash(forged)  # self-consistent, but not linked
        db.session.add(forged)
        db.session.commit()
        forged_id = forged.id
    result = run_verify(chain)
    assert result.exit_code == 1
    assert f"event #{forged_id} (seq 6) was inserted" in result.output


def test_a_row_inserted_and_linked_at_the_end_still_disagrees_with_the_head(chain):
    with chain.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        last = db.session.get(AuditEvent, event_id(5))
        forged = AuditEvent(
            tenant_id=tenant.id,
            seq=6,
            actor="staff:1",
            action="thing.done",
            data={},
            prev_hash=last.hash,
            occurred_at=audit.utcnow(),
        )
        forged.hash = audit.event_hash(forged)
        db.session.add(forged)
        db.session.commit()
    result = run_verify(chain)
    assert result.exit_code == 1
    assert "(seq 6) was inserted: it comes after the chain's head" in result.output


def test_the_console_shows_a_broken_chain(chain, client):
    with chain.app_context():
        acme = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        factories.staff(acme, "hr@acme.example")
        db.session.commit()
        db.session.execute(text("UPDATE audit_events SET data = '{}' WHERE id = :id"), {"id": event_id(1)})
        db.session.commit()
    client.login("hr@acme.example", factories.PASSWORD)
    page = client.get("/console/audit").get_data(as_text=True)
    assert "The audit chain is broken" in page and "was edited" in page


# --- the chain built by PostgreSQL ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    actor=st.text(),
    action=st.text(min_size=1),
    subject=st.none() | st.tuples(st.text(max_size=12), st.text(max_size=12)),
    data=st.dictionaries(st.text(max_size=12), json_values, max_size=4),
    ip_address=st.none() | st.ip_addresses().map(str),
    seq=st.integers(min_value=1, max_value=10**12),
    prev_hash=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    occurred_at=st.datetimes(timezones=st.just(UTC)),
)
def test_the_canonical_halves_around_prev_hash_and_seq_give_event_hash(
    actor, action, subject, data, ip_address, seq, prev_hash, occurred_at
):
    """PostgreSQL hashes before + prev_hash + '","seq":' + seq + after; it must be event_hash."""
    event = audit.PendingEvent(
        tenant_id=7,
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        data=data,
        ip_address=ip_address,
        seq=seq,
        prev_hash=prev_hash,
    )
    before, after = audit.canonical_around_link(event)
    canonical = f'{before}{prev_hash}","seq":{seq}{after}'
    assert hashlib.sha256(canonical.encode()).hexdigest() == audit.event_hash(event)


@pytest.mark.postgresql_only
def test_requests_chaining_at_the_same_moment_queue_on_the_head_and_link_in_order(app: Flask):
    """Each transaction's statement locks the head, so concurrent ones chain one after another."""
    writers, events_each = 12, 3
    with app.app_context():
        tenant_id = factories.tenant("acme").id
        db.session.commit()
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            with app.app_context():
                for n in range(events_each):
                    audit.record_event(tenant_id, f"learner:{writer}", "thing.done", data={"n": n})
                barrier.wait(timeout=10)
                db.session.commit()
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [e.seq for e in events] == list(range(1, writers * events_each + 1))
        by_writer = {}
        for event in events:
            by_writer.setdefault(event.actor, []).append(event.seq)
        assert all(seqs == list(range(seqs[0], seqs[0] + events_each)) for seqs in by_writer.values())
    result = run_verify(app)
    assert result.exit_code == 0, result.output
    assert f"ok tenant acme: {writers * events_each} event(s), chain intact" in result.output
