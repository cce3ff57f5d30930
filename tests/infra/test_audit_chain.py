import itertools

import pytest
from flask import Flask
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
    assert "was inserted: the chain ends at seq 6 but the tenant's head records seq 5" in result.output


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
