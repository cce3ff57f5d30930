"""The learner's path over HTTP: overview, lessons in order, attestation. SQLite and PostgreSQL."""

import re
import shutil

import pytest
import yaml
from sqlalchemy import func, select

from courses import publishing
from courses.models import Attestation, Enrolment, LessonProgress
from courses.services import enrol
from tests.helpers import sign_in_learner, text_of
from tests.learn.conftest import ORIENTATION
from training_app.extensions import db
from training_app.models import AuditEvent, User

LESSONS = [
    "why-social-media-matter",
    "who-runs-our-social-media",
    "using-internal-social-media",
    "brand-ambassador",
    "when-things-go-wrong",
    "policy-summary",
]
BASE = f"/courses/{ORIENTATION}"


@pytest.fixture
def ada(app, client, world):
    with app.app_context():
        enrol(db.session.get(User, world["ada"]), ORIENTATION, source="hr")
        db.session.commit()
    sign_in_learner(client, world["ada"])
    return world["ada"]


def complete(client, lesson: str):
    return client.submit(f"{BASE}/lessons/{lesson}", {}, action=f"{BASE}/lessons/{lesson}/complete")


def progress_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LessonProgress))


def test_overview_shows_lessons_time_left_and_a_continue_button(client, ada):
    page = client.get(f"{BASE}/")
    html = text_of(page)
    assert page.status_code == 200
    assert "Social media policy orientation" in html and "About 40 minutes left" in html
    assert "0 of 6 lessons done" in html and "Start the course" in html
    assert html.count("Not done") == 1 and html.count("Locked: finish the lessons before it") == 5
    assert client.get(f"{BASE}/continue").headers["Location"].endswith(f"/lessons/{LESSONS[0]}")


def test_the_whole_path_through_to_a_stored_attestation(app, client, ada):
    for index, lesson in enumerate(LESSONS):
        page = client.get(f"{BASE}/lessons/{lesson}")
        assert page.status_code == 200 and f"Lesson {index + 1} of 6" in text_of(page)
        done = complete(client, lesson)
        assert done.status_code == 303
        expected = f"/lessons/{LESSONS[index + 1]}" if index + 1 < len(LESSONS) else "/attestation"
        assert done.headers["Location"].endswith(expected)
    overview = text_of(client.get(f"{BASE}/"))
    assert "6 of 6 lessons done" in overview and "Not signed" in overview
    assert client.get(f"{BASE}/continue").headers["Location"].endswith("/attestation")

    attestation_page = text_of(client.get(f"{BASE}/attestation"))
    assert "Our social media policy in brief" in attestation_page
    signed = client.submit(
        f"{BASE}/attestation",
        {"confirm": "y", "typed_name": "  ada   LOVELACE "},
        headers={"User-Agent": "TestBrowser/1.0"},
    )
    assert signed.status_code == 303
    with app.app_context():
        attestation = db.session.scalar(select(Attestation))
        version = publishing.course_by_slug(ORIENTATION)[1]
        assert attestation.course_version_id == version.id
        assert attestation.content_hash == version.content_hash and len(attestation.policy_text_hash) == 64
        assert attestation.typed_name == "ada LOVELACE" and attestation.locale == "en"
        assert attestation.ip_address == "127.0.0.1" and attestation.user_agent == "TestBrowser/1.0"
        assert "I will follow it" in attestation.statement
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "attestation.signed"))
        assert event.data["content_hash"] == version.content_hash and event.actor == f"learner:{ada}"
    overview = text_of(client.get(f"{BASE}/"))
    assert "Signed " in overview
    assert client.get(f"{BASE}/continue").headers["Location"].endswith(f"/quiz/{ORIENTATION}/")


def test_progress_is_saved_and_continue_resumes(client, ada):
    complete(client, LESSONS[0])
    complete(client, LESSONS[1])
    assert client.get(f"{BASE}/continue").headers["Location"].endswith(f"/lessons/{LESSONS[2]}")
    assert "About 31 minutes left" in text_of(client.get(f"{BASE}/"))
    # Going back to a done lesson and completing it again changes nothing.
    complete(client, LESSONS[0])
    assert "2 of 6 lessons done" in text_of(client.get(f"{BASE}/"))


def test_jumping_ahead_is_refused_and_records_nothing(app, client, ada):
    response = client.get(f"{BASE}/lessons/{LESSONS[3]}")
    assert response.status_code == 409
    assert "Finish “Why our social media matter" in text_of(response) or "Finish “" in text_of(response)
    page = client.get(f"{BASE}/lessons/{LESSONS[0]}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', text_of(page)).group(1)
    skipped = client.post(f"{BASE}/lessons/{LESSONS[4]}/complete", data={"csrf_token": token})
    assert skipped.status_code == 409
    assert progress_rows(app) == 0
    early_attestation = client.get(f"{BASE}/attestation")
    assert early_attestation.status_code == 409 and "Finish the lessons first: 6 to go" in text_of(
        early_attestation
    )


def test_unknown_lessons_and_other_courses_lessons_get_a_clear_404(client, ada):
    missing = client.get(f"{BASE}/lessons/no-such-lesson")
    assert missing.status_code == 404 and "has no lesson 'no-such-lesson'" in text_of(missing)
    other = client.get(f"{BASE}/lessons/scenarios")  # a refresher lesson
    assert other.status_code == 404


def test_a_course_the_learner_is_not_enrolled_in_is_refused(client, ada):
    response = client.get("/courses/social-media-refresher/")
    assert response.status_code == 403 and "You are not enrolled in this course" in text_of(response)
    assert client.get("/courses/no-such-course/").status_code == 403


def test_a_learner_of_another_tenant_cannot_see_anothers_progress(app, client, ada, world):
    complete(client, LESSONS[0])
    sign_in_learner(client, world["otto"])
    assert client.get(f"{BASE}/").status_code == 403
    assert client.get(f"{BASE}/lessons/{LESSONS[1]}").status_code == 403


def test_signed_out_visitors_are_told_to_start_from_their_lms(client, world):
    response = client.get(f"{BASE}/")
    assert response.status_code == 401 and "Open this training from your company" in text_of(response)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"confirm": "y", "typed_name": ""}, "Type your full name to sign."),
        ({"confirm": "y", "typed_name": "Grace Hopper"}, "does not match the name your company"),
        ({"typed_name": "Ada Lovelace"}, "Tick the box to confirm"),
    ],
)
def test_a_bad_attestation_is_refused_and_nothing_is_stored(app, client, ada, form, message):
    for lesson in LESSONS:
        complete(client, lesson)
    response = client.submit(f"{BASE}/attestation", form)
    assert response.status_code == 422 and message in text_of(response)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attestation)) == 0
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "attestation.signed")
            )
            == 0
        )


def test_a_material_version_requires_a_new_attestation_and_a_minor_one_does_not(
    app, client, ada, content_copy
):
    for lesson in LESSONS:
        complete(client, lesson)
    client.submit(f"{BASE}/attestation", {"confirm": "y", "typed_name": "Ada Lovelace"})
    lesson_file = content_copy / ORIENTATION / "lessons" / "en" / "policy-summary.md"
    lesson_file.write_text(lesson_file.read_text() + "\nA clarified sentence.\n")
    with app.app_context():
        publishing.publish(ORIENTATION, material=False, actor="test", root=content_copy)
        db.session.commit()
    assert "Not signed" not in text_of(client.get(f"{BASE}/"))
    lesson_file.write_text(lesson_file.read_text() + "\n13. A new rule.\n")
    with app.app_context():
        result = publishing.publish(ORIENTATION, material=True, actor="test", root=content_copy)
        db.session.commit()
        assert result.version.number == 3
    overview = text_of(client.get(f"{BASE}/"))
    assert "Not signed" in overview
    assert client.get(f"{BASE}/continue").headers["Location"].endswith("/attestation")
    assert "A new rule." in text_of(client.get(f"{BASE}/attestation"))


def test_the_overview_shows_a_newly_published_version_at_once(app, client, ada, content_copy):
    """Published versions are kept per process (they never change): a new one is still seen at once."""
    before = text_of(client.get(f"{BASE}/"))
    assert "Why our social media matter" in before and "v1 ·" in before
    lesson_file = content_copy / ORIENTATION / "lessons" / "en" / "why-social-media-matter.md"
    text = lesson_file.read_text()
    lesson_file.write_text(text.replace("# Why our social media matter", "# Why it matters"))
    with app.app_context():
        assert publishing.publish(ORIENTATION, material=False, actor="test", root=content_copy).created
        db.session.commit()
    after = text_of(client.get(f"{BASE}/"))
    assert "Why it matters" in after and "v2 ·" in after and "Why our social media matter" not in after


def test_spanish_learners_get_spanish_content_and_interface(app, client, world, content_copy):
    refresher_slug = "social-media-refresher"
    with app.app_context():
        enrol(db.session.get(User, world["maria"]), ORIENTATION, source="hr")
        enrol(db.session.get(User, world["maria"]), refresher_slug, source="hr")
        db.session.commit()
    sign_in_learner(client, world["maria"])
    overview = text_of(client.get(f"{BASE}/"))
    assert '<html lang="es"' in overview
    assert "Orientación sobre la política de redes sociales" in overview
    lesson = text_of(client.get(f"{BASE}/lessons/{LESSONS[0]}"))
    assert "Puntos clave" in lesson
    refresher = text_of(client.get(f"/courses/{refresher_slug}/"))
    assert "Repaso anual de la política de redes sociales" in refresher and '<html lang="es"' in refresher
    # A version without Spanish: the course default (English) is used.
    _drop_spanish(content_copy / refresher_slug)
    with app.app_context():
        assert publishing.publish(refresher_slug, material=False, actor="test", root=content_copy).created
        db.session.commit()
    refresher = text_of(client.get(f"/courses/{refresher_slug}/"))
    assert "Annual social media policy refresher" in refresher and '<html lang="en"' in refresher


def _drop_spanish(folder) -> None:
    """The course folder as it would be in English only: its Spanish files and entries removed."""
    course = yaml.safe_load((folder / "course.yaml").read_text(encoding="utf-8"))
    course["locales"] = ["en"]
    course.pop("translations")
    (folder / "course.yaml").write_text(yaml.safe_dump(course, allow_unicode=True), encoding="utf-8")
    (folder / "quiz.es.yaml").unlink()
    shutil.rmtree(folder / "lessons" / "es")


def test_staff_preview_as_learner_uses_the_enrolment_service(app, client, world):
    client.login("hr@acme.example", "correct horse battery staple")
    courses_page = client.get("/console/courses")
    assert "Preview as learner" in text_of(courses_page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', text_of(courses_page)).group(1)
    preview = client.post(f"/courses/{ORIENTATION}/preview", data={"csrf_token": token})
    assert preview.status_code == 303
    overview = text_of(client.get(f"{BASE}/"))
    assert "You are previewing this course as a learner" in overview
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.source == "preview"))
        assert enrolment.tenant_id == world["acme"]
    end = client.post("/courses/preview/end", data={"csrf_token": token})
    assert end.status_code == 303 and end.headers["Location"].endswith("/console/courses")
    assert client.get("/console/").status_code == 200


@pytest.mark.parametrize(
    "learner, slug, label",
    [
        ("ada", ORIENTATION, "Orientation"),
        ("ada", "social-media-refresher", "Refresher"),
        ("ada", "leaders-on-social-media", "For people leaders"),
        ("maria", "leaders-on-social-media", "Para responsables de equipos"),
    ],
)
def test_the_overview_names_the_courses_audience(app, client, world, learner, slug, label):
    with app.app_context():
        enrol(db.session.get(User, world[learner]), slug, source="hr")
        db.session.commit()
    sign_in_learner(client, world[learner])
    eyebrow = re.search(r'<p class="eyebrow">(.*?)</p>', text_of(client.get(f"/courses/{slug}/")), re.S)
    assert eyebrow and eyebrow.group(1).startswith(f"{label} ·"), eyebrow
