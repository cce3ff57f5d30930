"""The content loader refuses malformed courses, naming the file and the field or line."""

from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import func, select

from courses import content, publishing
from courses.errors import ContentError
from courses.models import CourseVersion
from training_app.extensions import db

ORIENTATION = "social-media-orientation"


def load(root: Path, slug: str = ORIENTATION):
    return content.load_course(root / slug)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_built_in_courses_are_valid():
    courses, errors = content.load_all()
    assert errors == []
    slugs = {c.slug for c in courses}
    assert {"social-media-orientation", "social-media-refresher", "leaders-on-social-media"} <= slugs


def test_built_in_lessons_end_with_key_points_and_cite_the_research():
    courses, _ = content.load_all()
    for course in courses:
        for lesson in course.lessons:
            for locale, text in lesson.texts.items():
                heading = "## Puntos clave" if locale == "es" else "## Key points"
                assert heading in text.markdown, f"{course.slug}/{locale}/{lesson.slug} has no {heading}"


def test_orientation_is_bilingual_and_long_enough():
    course = load(content.CONTENT_ROOT)
    assert course.locales == ("en", "es") and len(course.lessons) >= 6
    lesson_minutes = sum(lesson.minutes for lesson in course.lessons)
    assert 20 <= lesson_minutes < course.estimated_minutes <= 45  # minutes left for the quiz; one sitting


def test_bad_yaml_names_the_line(content_copy):
    edit(content_copy / ORIENTATION / "course.yaml", "audience: orientation", "audience: [orientation")
    with pytest.raises(ContentError) as error:
        load(content_copy)
    assert "course.yaml" in error.value.message and "line" in error.value.message
    assert "invalid YAML" in error.value.message


def test_a_missing_field_is_named(content_copy):
    edit(content_copy / ORIENTATION / "course.yaml", "pass_mark: 80\n", "")
    with pytest.raises(ContentError, match=r"course.yaml: pass_mark: Missing data for required field"):
        load(content_copy)


def test_an_unknown_quiz_is_named(content_copy):
    edit(content_copy / ORIENTATION / "course.yaml", "quiz: orientation", "quiz: nonexistent-quiz")
    with pytest.raises(
        ContentError, match=r"course.yaml: quiz: unknown quiz 'nonexistent-quiz': its quiz.yaml"
    ):
        load(content_copy)


def test_a_duplicate_lesson_slug_is_named(content_copy):
    edit(
        content_copy / ORIENTATION / "course.yaml",
        "  - slug: who-runs-our-social-media",
        "  - slug: why-social-media-matter",
    )
    with pytest.raises(
        ContentError, match=r"course.yaml: lessons: duplicate lesson slug why-social-media-matter"
    ):
        load(content_copy)


def test_a_missing_lesson_file_is_named(content_copy):
    (content_copy / ORIENTATION / "lessons" / "es" / "brand-ambassador.md").unlink()
    with pytest.raises(ContentError) as error:
        load(content_copy)
    assert "lessons.brand-ambassador" in error.value.message
    assert "lessons/es/brand-ambassador.md is missing" in error.value.message


def test_an_unsupported_locale_is_named(content_copy):
    edit(content_copy / ORIENTATION / "course.yaml", "locales: [en, es]", "locales: [en, es, xx]")
    with pytest.raises(ContentError, match=r"course.yaml: locales.2: unsupported locale xx"):
        load(content_copy)


def test_a_lesson_without_a_title_line_is_named(content_copy):
    path = content_copy / ORIENTATION / "lessons" / "en" / "brand-ambassador.md"
    path.write_text("No heading here\n\nBody.")
    with pytest.raises(ContentError, match=r"brand-ambassador.md: line 1: a lesson starts with its title"):
        load(content_copy)


def test_validate_command_lists_problems_and_fails(app, content_copy):
    edit(content_copy / ORIENTATION / "course.yaml", "pass_mark: 80\n", "")
    result = app.test_cli_runner().invoke(args=["courses", "validate", "--content", str(content_copy)])
    assert result.exit_code == 1
    assert "ERROR" in result.output and "pass_mark" in result.output
    assert "ok social-media-refresher" in result.output


def test_nothing_is_published_from_a_malformed_folder(app, content_copy):
    edit(content_copy / ORIENTATION / "course.yaml", "pass_mark: 80\n", "")
    with app.app_context():
        with pytest.raises(ContentError):
            publishing.publish(ORIENTATION, material=True, actor="test", root=content_copy)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(CourseVersion)) == 0


class ElementCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def test_markdown_with_scripts_and_javascript_links_renders_inert():
    html = content.render_markdown(
        "Hi <script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n"
        '[ok](https://example.com) <a href="javascript:alert(4)">raw</a>\n\n'
        "[data](data:text/html;base64,PHNjcmlwdD4=) [JS](JaVaScRiPt:alert(5))"
    )
    parser = ElementCollector()
    parser.feed(html)
    tags = [tag for tag, _ in parser.elements]
    assert "script" not in tags and "img" not in tags
    assert all(not name.startswith("on") for _, attrs in parser.elements for name in attrs)
    hrefs = [attrs.get("href") for tag, attrs in parser.elements if tag == "a"]
    assert hrefs == ["https://example.com"]  # only the safe link became a link
    assert "&lt;script&gt;" in html  # the raw HTML is shown as text, never run


def test_publish_creates_a_version_once_then_nothing_for_the_same_content(app, content_copy):
    with app.app_context():
        first = publishing.publish(ORIENTATION, material=False, actor="test", root=content_copy)
        again = publishing.publish(ORIENTATION, material=True, actor="test", root=content_copy)
        db.session.commit()
        assert first.created and first.version.number == 1 and first.version.material  # first is material
        assert not again.created and again.version.id == first.version.id
        edit(
            content_copy / ORIENTATION / "lessons" / "en" / "brand-ambassador.md",
            "\n",
            "\n\nA new sentence.\n",
        )
        minor = publishing.publish(ORIENTATION, material=False, actor="test", root=content_copy)
        db.session.commit()
        assert minor.created and minor.version.number == 2 and not minor.version.material
        assert minor.version.content_hash != first.version.content_hash
        assert len(minor.version.lessons) == 6
        assert minor.version.files["quiz.yaml"].startswith("id: orientation")


def test_publish_command(app):
    runner = app.test_cli_runner()
    missing_flag = runner.invoke(args=["courses", "publish", ORIENTATION])
    assert missing_flag.exit_code == 2 and "--material or --minor" in missing_flag.output
    first = runner.invoke(args=["courses", "publish", ORIENTATION, "--material"])
    assert first.exit_code == 0 and f"Published {ORIENTATION} v1 (material)" in first.output
    second = runner.invoke(args=["courses", "publish", ORIENTATION, "--minor"])
    assert "Nothing new" in second.output
    unknown = runner.invoke(args=["courses", "publish", "no-such-course", "--minor"])
    assert unknown.exit_code == 1 and "There is no course folder 'no-such-course'" in unknown.output
