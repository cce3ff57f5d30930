from datetime import timedelta

from sqlalchemy import func, select, text

from assignments.models import Reminder
from assignments.status import STATUSES, status_column
from courses.models import Attestation, Completion, CourseVersion, Enrolment
from quizzes.models import QuizAttempt
from tests import factories
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent, StaffAccount, Tenant, User


def cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_create_admin_prompts_for_the_password(app, client):
    assert cli(app, "tenants", "create", "--slug", "acme", "--name", "Acme Corporation").exit_code == 0
    result = cli(
        app,
        "users",
        "create-admin",
        "--email",
        "Boss@Acme.example",
        "--tenant",
        "acme",
        input="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created hr_admin boss@acme.example for tenant acme" in result.output
    assert "a long enough password" not in result.output
    assert client.login("boss@acme.example", "a long enough password").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action)) == "staff.created"


def test_create_admin_can_print_a_generated_password_once(app, client):
    cli(app, "tenants", "create", "--slug", "acme", "--name", "Acme")
    result = cli(
        app,
        "users",
        "create-admin",
        "--email",
        "a@acme.example",
        "--tenant",
        "acme",
        "--role",
        "auditor",
        "--generate-password",
    )
    assert result.exit_code == 0
    password = result.output.split("Password (shown once): ")[1].strip()
    assert client.login("a@acme.example", password).status_code == 302


def test_create_admin_for_an_unknown_tenant_says_how_to_create_it(app):
    cli(app, "tenants", "create", "--slug", "acme", "--name", "Acme")
    result = cli(
        app, "users", "create-admin", "--email", "a@x.example", "--tenant", "initech", "--generate-password"
    )
    assert result.exit_code == 1
    assert "There is no tenant 'initech'. Known tenants: acme." in result.output
    assert "tenants create --slug initech" in result.output
    assert "Traceback" not in result.output


def test_create_admin_refuses_a_short_password_and_a_duplicate(app):
    cli(app, "tenants", "create", "--slug", "acme", "--name", "Acme")
    short = cli(
        app, "users", "create-admin", "--email", "a@acme.example", "--tenant", "acme", input="short\nshort\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    cli(app, "users", "create-admin", "--email", "a@acme.example", "--tenant", "acme", "--generate-password")
    duplicate = cli(
        app, "users", "create-admin", "--email", "a@acme.example", "--tenant", "acme", "--generate-password"
    )
    assert duplicate.exit_code == 1 and "already has a staff account in this organisation" in duplicate.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffAccount)) == 1


def demo_counts() -> tuple[int, ...]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(table))
        for table in (User, Tenant, Enrolment, Completion, Reminder)
    )


def demo_statuses() -> set[str]:
    status = status_column(utcnow(), 30)
    return set(db.session.scalars(select(status).select_from(Enrolment).distinct()))


def incoherent_demo_dates() -> list[str]:
    """Every demo record's dates in the order they happen: enrolled, started, done; lessons and the
    attestation before the attempts and the result; results after their version was published."""
    problems = []
    for enrolment, person in db.session.execute(select(Enrolment, User).join(User)):
        if person.hire_date and enrolment.enrolled_at.date() < person.hire_date:
            problems.append(f"enrolment {enrolment.id}: enrolled before {person.name} was hired")
        if enrolment.due_at and enrolment.due_at < enrolment.enrolled_at:
            problems.append(f"enrolment {enrolment.id}: due before enrolled")
        if enrolment.started_at and enrolment.started_at < enrolment.enrolled_at - timedelta(seconds=1):
            problems.append(f"enrolment {enrolment.id}: started before enrolled")
    for completion, attestation in db.session.execute(
        select(Completion, Attestation).join(Attestation, Attestation.id == Completion.attestation_id)
    ):
        if attestation.attested_at > completion.completed_at:
            problems.append(f"completion {completion.id}: attested after the result")
    for attempt, attestation in db.session.execute(
        select(QuizAttempt, Attestation).join(Attestation, Attestation.id == QuizAttempt.attestation_id)
    ):
        if attempt.started_at < attestation.attested_at:
            problems.append(f"attempt {attempt.id}: started before the attestation it needs")
    for completion, version in db.session.execute(
        select(Completion, CourseVersion).join(
            CourseVersion, CourseVersion.id == Completion.course_version_id
        )
    ):
        if completion.completed_at < version.published_at:
            problems.append(f"completion {completion.id}: before its version was published")
    return problems


def test_demo_load_is_idempotent_and_prints_a_staff_login(app, client):
    first = cli(app, "demo", "load")
    assert first.exit_code == 0, first.output
    assert "hr@acme.example / demo-password-2026" in first.output
    assert "Employees of Acme Corporation: 240 hired." in first.output
    with app.app_context():
        counts = demo_counts()
        assert demo_statuses() == set(STATUSES), "the demo shows HR every status"
        assert incoherent_demo_dates() == [], incoherent_demo_dates()
    second = cli(app, "demo", "load")
    assert second.exit_code == 0, second.output
    assert "already told by an earlier `demo load`" in second.output
    assert "Leavers of Acme Corporation: 0 ended." in second.output
    with app.app_context():
        assert demo_counts() == counts
    assert client.login("hr@acme.example", "demo-password-2026").status_code == 302
    assert cli(app, "audit", "verify").exit_code == 0
    with app.app_context():
        emails = set(db.session.scalars(select(User.email)))
    assert {"jonas.muller@acme.example", "maria.jose.fernandez@acme.example"} <= emails
    assert all(email.isascii() for email in emails), emails


def test_readyz_says_when_no_course_is_published_and_publish_all_is_the_first_run(app, client):
    waiting = client.get("/readyz")
    assert waiting.status_code == 503
    assert "no course is published; run `flask --app wsgi courses publish --all`" in waiting.json["message"]
    first = cli(app, "courses", "publish", "--all")
    assert first.exit_code == 0, first.output
    assert first.output.count("Published ") == 3 and "(material)" in first.output
    assert client.get("/readyz").json == {"status": "ok", "database": "reachable", "migrations": "at head"}
    again = cli(app, "courses", "publish", "--all")
    assert again.exit_code == 0 and again.output.count("Nothing new: ") == 3
    assert cli(app, "courses", "publish").exit_code == 2  # neither a SLUG nor --all


def test_publish_all_asks_material_or_minor_for_a_course_whose_content_changed(app, tmp_path):
    import shutil

    from courses.content import CONTENT_ROOT

    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT, root)
    assert cli(app, "courses", "publish", "--all", "--content", str(root)).exit_code == 0
    lesson = sorted((root / "social-media-refresher" / "lessons" / "en").glob("*.md"))[0]
    lesson.write_text(lesson.read_text(encoding="utf-8") + "\nOne more sentence.\n", encoding="utf-8")
    undecided = cli(app, "courses", "publish", "--all", "--content", str(root))
    assert undecided.exit_code == 2
    assert "social-media-refresher: say whether the change is --material or --minor" in undecided.output
    minor = cli(app, "courses", "publish", "--all", "--minor", "--content", str(root))
    assert "Published social-media-refresher v2 (minor)" in minor.output


def test_readyz_is_ok_at_head_and_503_with_advice_when_not(app, client, request):
    assert cli(app, "courses", "publish", "--all").exit_code == 0
    assert client.get("/readyz").json == {"status": "ok", "database": "reachable", "migrations": "at head"}
    with app.app_context():
        head = db.session.scalar(text("SELECT version_num FROM alembic_version"))

    def restore_version() -> None:  # the PostgreSQL database is shared by the session's tests
        with app.app_context():
            db.session.execute(text("DELETE FROM alembic_version"))
            db.session.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})
            db.session.commit()

    request.addfinalizer(restore_version)
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = '0000'"))
        db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "flask --app wsgi db upgrade" in response.json["message"]
    with app.app_context():
        db.session.execute(text("DELETE FROM alembic_version"))
        db.session.commit()
    assert client.get("/readyz").status_code == 503


def test_healthz_is_always_ok(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_audit_verify_for_one_tenant(app):
    with app.app_context():
        factories.tenant("acme")
        db.session.commit()
    result = cli(app, "audit", "verify", "--tenant", "acme")
    assert result.exit_code == 0 and "ok tenant acme: 0 event(s)" in result.output
