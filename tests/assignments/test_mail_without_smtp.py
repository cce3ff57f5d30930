"""Without an SMTP server (development, the demo), reminder emails are written to the instance
folder as .eml files, delivered like any other message."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import select

from tests.assignments.test_reminders_and_sign_in import DUE_SOON, acme, deliver, tick  # noqa: F401
from training_app.extensions import db
from training_app.models import OutboxMessage


def test_reminders_are_written_to_the_instance_folder(app, acme):  # noqa: F811
    assert "1 reminder email(s) queued" in tick(app)
    deliver(app)
    with app.app_context():
        statuses = set(db.session.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "email")))
    assert statuses == {"delivered"}
    [written] = sorted((Path(app.instance_path) / "mail").glob("*.eml"))
    email = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert email["To"] == "ann@acme.example" and "/sign-in" in email.get_body(("plain",)).get_content()
