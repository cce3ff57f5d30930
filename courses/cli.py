"""`flask --app wsgi courses validate|publish|list`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from courses import content, publishing
from training_app import scheduling
from training_app.cli import TrainingGroup
from training_app.extensions import db

courses_cli = TrainingGroup("courses", help="Course content: validate and publish versions.")


CONTENT_OPTION = click.option(
    "--content",
    "content_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=content.CONTENT_ROOT,
    show_default="courses/content",
    help="Folder holding the course folders.",
)


@courses_cli.command("validate")
@CONTENT_OPTION
def validate_courses(content_root: Path) -> None:
    """Check every course folder; exit 1 listing each problem with its file and field."""
    courses, errors = content.load_all(content_root)
    for course in courses:
        click.echo(
            f"ok {course.slug}: {len(course.lessons)} lessons in {', '.join(course.locales)}, "
            f"quiz {course.quiz}, hash {course.content_hash[:12]}"
        )
    for error in errors:
        click.echo(f"ERROR {error.message}", err=True)
    if errors:
        raise SystemExit(1)


@courses_cli.command("publish")
@click.argument("slug", required=False)
@click.option(
    "--all", "every", is_flag=True, help="Every course folder (the first run: all the shipped courses)."
)
@click.option(
    "--material",
    "change",
    flag_value="material",
    help="Learners must re-attest (and later retrain): the policy's substance changed.",
)
@click.option("--minor", "change", flag_value="minor", help="Wording or typo fixes; attestations stay valid.")
@CONTENT_OPTION
def publish_course(slug: str | None, every: bool, change: str | None, content_root: Path) -> None:
    """Publish the course folder SLUG (or --all of them) as a new version; nothing new when the
    content is unchanged. A first version needs no --material or --minor; a later one does."""
    if bool(slug) == every:
        raise click.UsageError("give one course SLUG, or --all")
    slugs = [folder.name for folder in content.course_folders(content_root)] if every else [slug]
    if every:
        _refuse_invalid_content(content_root)  # all or nothing: no course published on its own
    if change is None:
        undecided = [name for name in slugs if publishing.changed_since_published(name, content_root)]
        if undecided or not every:
            named = ", ".join(undecided) or slug
            raise click.UsageError(f"{named}: say whether the change is --material or --minor")
    for name in slugs:
        result = publishing.publish(name, material=change == "material", actor="cli", root=content_root)
        click.echo(_published_line(name, result))
    db.session.commit()


def _refuse_invalid_content(content_root: Path) -> None:
    _, errors = content.load_all(content_root)
    if errors:
        listed = "\n".join(f"  {error.message}" for error in errors)
        raise click.ClickException(f"nothing was published; fix these first:\n{listed}")


def _published_line(slug: str, result: publishing.PublishResult) -> str:
    version = result.version
    if result.created:
        kind = "material" if version.material else "minor"
        return f"Published {slug} v{version.number} ({kind}), content hash {version.content_hash[:12]}."
    return (
        f"Nothing new: {slug} v{version.number} already has this content (hash {version.content_hash[:12]})."
    )


@courses_cli.command("list")
def list_courses() -> None:
    for course, version in publishing.published_courses():
        click.echo(
            f"{course.slug}\tv{version.number}\t{'material' if version.material else 'minor'}\t"
            f"{version.published_at:%Y-%m-%d}\t{course.title}"
        )


@courses_cli.command("recertify")
@click.option("--days-before", default=None, help="Ignored: each tenant's rules say (assignment rules).")
def recertify(days_before: str | None) -> None:
    """Replaced by `training tick` (recertification is one of the rules it runs); runs it."""
    click.echo(
        "`courses recertify` is now part of `flask --app wsgi training tick`, which runs every rule "
        "(hire dates, refreshers, policy changes, reminders). Running it now."
    )
    report = scheduling.run_tick()
    db.session.commit()
    click.echo(str(report))


def register(app: Flask) -> None:
    app.cli.add_command(courses_cli)
