"""Recording a cycle's result: once per cycle, handed to the hooks in the same transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from certificates.models import Certificate
from certificates.services import holder_name
from courses import publishing
from courses import services as learning
from courses.models import Attestation, Completion, Enrolment
from training_app.errors import Conflict
from training_app.extensions import db
from training_app.models import AuditEvent, User

COURSE = "social-media-orientation"


def record(
    enrolment: Enrolment, *, passed: bool, score: int, attestation_id: int | None = None
) -> learning.RecordedResult:
    _, version = publishing.course_by_slug(COURSE)
    return learning.record_result(
        learning.cycle_of(enrolment.id),
        passed=passed,
        score=score,
        source_ref="test",
        actor="staff:1",
        version=version,
        attestation_id=attestation_id,
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_cycle_is_completed_once_and_its_hooks_run_once(app, learner):
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == learner))
        result = record(enrolment, passed=True, score=90)
        assert (result.status, result.score, result.course_slug) == ("completed", 90, COURSE)
        assert result.expires_at is not None and result.version_label.startswith("v1")
        db.session.commit()
        for passed in (True, False):
            with pytest.raises(Conflict, match="already completed for the current cycle"):
                record(enrolment, passed=passed, score=100)
            db.session.rollback()
        assert count(Completion) == 1 and count(Certificate) == 1
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        assert actions[-2:] == ["course.completed", "certificate.issued"]
        db.session.refresh(enrolment)
        assert enrolment.completed_at == result.completed_at


def test_a_failed_result_issues_no_certificate_and_leaves_the_cycle_open(app, learner):
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == learner))
        failed = record(enrolment, passed=False, score=40)
        assert failed.status == "failed" and failed.expires_at is None
        passed = record(enrolment, passed=True, score=80)
        db.session.commit()
        assert passed.id != failed.id and count(Completion) == 2 and count(Certificate) == 1


@pytest.mark.parametrize(
    ("name", "typed_name", "email", "holder"),
    [
        ("Ada Lovelace", "A. Lovelace", "ada@acme.example", "Ada Lovelace"),
        ("  Ada Lovelace\t", None, "ada@acme.example", "Ada Lovelace"),
        ("", "A. Lovelace", "ada@acme.example", "A. Lovelace"),
        (" \t\n", "A. Lovelace", "ada@acme.example", "A. Lovelace"),  # a blank name is no name
        ("", None, "ada@acme.example", "ada@acme.example"),
        ("", " ", "", "—"),
        (
            "\u00a0Ada\u00a0\u00a0Lovelace\u3000",
            None,
            "ada@acme.example",
            "Ada Lovelace",
        ),  # no-break, ideographic
        (
            "\u200b\ufeff",
            "\u2003Zoë  Ångström\u200b",
            "z@acme.example",
            "Zoë Ångström",
        ),  # invisible, em space
        ("\u200b \u00a0", "\u2060", "x@acme.example", "x@acme.example"),
        ("李\u3000小龍", None, "l@acme.example", "李 小龍"),
        (" محمد  عبد الله ", None, "m@acme.example", "محمد عبد الله"),
        ("Иван\u202fПетров", None, "i@acme.example", "Иван Петров"),  # narrow no-break space
        ("देवनागरी नाम\n", None, "d@acme.example", "देवनागरी नाम"),
        ("Zoe\u0308", None, "z@acme.example", "Zo\u00eb"),  # composed (NFC)
    ],
)
def test_the_certificate_names_its_holder_by_the_one_rule(app, learner, name, typed_name, email, holder):
    """certificates.services.holder_name, on both databases: spaces of every script trimmed and
    collapsed, invisible characters at the ends dropped, the attestation's name or the email next."""
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == learner))
        user = db.session.get(User, learner)
        user.name, user.email = name, email
        attestation = db.session.scalar(select(Attestation).where(Attestation.enrolment_id == enrolment.id))
        attestation.typed_name, attestation.locale = typed_name or "unused", "es"
        db.session.flush()
        attested = attestation.id if typed_name is not None else None  # None: no attestation
        result = record(enrolment, passed=True, score=95, attestation_id=attested)
        assert holder_name(result) == holder
        certificate = db.session.scalar(select(Certificate).where(Certificate.completion_id == result.id))
        assert (certificate.holder_name, certificate.holder_email) == (holder, email)
        locale = "es" if attested else "en"
        assert (certificate.locale, certificate.score, certificate.user_id) == (locale, 95, learner)
        assert (certificate.course_slug, certificate.policy_version) == (COURSE, result.version_label)
        assert certificate.completed_at == result.completed_at and certificate.expires_at == result.expires_at
        assert certificate.code and certificate.credential_id.startswith("urn:uuid:")
        db.session.rollback()
