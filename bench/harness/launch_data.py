"""The launch benchmark's database: the LMS registered as a platform, a pool of learners who
launched once before, and the check of what the launches wrote."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from courses.models import Enrolment
from harness import lms
from harness.database import migrated_app, vacuum_analyze
from lti import services as lti_services
from lti.models import GradeTarget, LaunchState, Platform
from training_app.auth import services as accounts
from training_app.extensions import db
from training_app.models import User


def set_up_database(url: str, jwks_url: str, pool: list[str]) -> tuple[Flask, float]:
    """The database as a tool in use finds it; `pool` learners have launched once before.

    The pool's earlier launches go through `lti.services.process_launch`, the service the launch
    view calls with a validated id_token (user, resource link, enrolment, grade target), in this
    process: the same rows as launches over HTTP, without waiting for them. Returns the app and the
    seconds the pool took.
    """
    app = migrated_app(url, SECRET_KEY="setup", **lms.TOOL_SETTINGS)
    with app.app_context():
        tenant = accounts.create_tenant("acme", "Acme Corporation")
        fields = lti_services.PlatformFields(
            issuer=lms.ISSUER,
            client_id=lms.CLIENT_ID,
            deployment_ids=[lms.DEPLOYMENT_ID],
            auth_login_url=lms.AUTH_LOGIN_URL,
            auth_token_url=f"{lms.ISSUER}/mod/lti/token.php",
            key_set_url=jwks_url,
            name="Bench Moodle",
        )
        lti_services.add_platform(tenant, fields, actor="bench")
        db.session.commit()
        started = time.perf_counter()
        for number, sub in enumerate(pool, 1):
            platform = db.session.scalar(select(Platform))
            claims = {**lms.CLAIMS, **lms.person(sub), "iss": lms.ISSUER, "aud": lms.CLIENT_ID, "nonce": sub}
            lti_services.process_launch(platform, claims)
            if number % 500 == 0:
                db.session.commit()
        db.session.commit()
        pool_seconds = time.perf_counter() - started
        db.engine.dispose()
    vacuum_analyze(url)
    return app, pool_seconds


def verify_database(app: Flask, launched: set[str], state_in_database: bool) -> dict[str, Any]:
    """Every launched learner exists once, enrolled once with one grade target; no login left over."""
    with app.app_context():
        subjects = set(db.session.scalars(select(User.subject).where(User.issuer == lms.ISSUER)))
        count = {m: db.session.scalar(select(func.count()).select_from(m)) for m in (Enrolment, GradeTarget)}
        left = db.session.scalar(select(func.count()).select_from(LaunchState))
        db.session.rollback()
        db.engine.dispose()
    counts = {"users": len(subjects), "enrolments": count[Enrolment], "grade_targets": count[GradeTarget]}
    problems = []
    if subjects != launched:
        problems.append(
            f"{len(launched - subjects)} launched learners missing, {len(subjects - launched)} unexpected"
        )
    if not counts["users"] == counts["enrolments"] == counts["grade_targets"]:
        problems.append(f"users, enrolments and grade targets differ: {counts}")
    if left and state_in_database:
        problems.append(f"{left} login states were never consumed")
    return {
        "launched_learners": len(launched),
        **counts,
        "launch_state_rows_left": left,
        "problems": problems,
    }
