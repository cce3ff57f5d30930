"""Demo data: certificates follow their completions when the demo moves stories into the past."""

from __future__ import annotations

from sqlalchemy import select

from certificates.models import Certificate
from courses.models import Completion
from training_app.demo import DemoContext
from training_app.extensions import db


def align_with_completions(context: DemoContext) -> None:
    rows = db.session.execute(
        select(Certificate, Completion).join(Completion, Completion.id == Certificate.completion_id)
    )
    moved = 0
    for certificate, completion in rows:
        if certificate.completed_at != completion.completed_at:
            certificate.completed_at, certificate.expires_at = completion.completed_at, completion.expires_at
            certificate.issued_at = completion.completed_at
            moved += 1
    if moved:
        db.session.flush()
        context.lines.append(f"Certificates dated like their demo completions: {moved}.")
