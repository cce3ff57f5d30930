"""`flask --app wsgi demo launch --course SLUG --locale es [--learner EMAIL]`: a one-time link that
starts a demo LMS launch in a browser."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

import demo_lms
from demo_lms import launches
from training_app.cli import demo_cli
from training_app.extensions import db
from training_app.urls import external_url


@click.command("launch")
@with_appcontext
@click.option("--course", required=True, help="A published course's slug (see `courses list`).")
@click.option("--locale", default="en", show_default=True, help="The learner's language: en or es.")
@click.option(
    "--learner", "learner_email", default=None, help="A demo learner's email (default: a new learner)."
)
def launch_command(course: str, locale: str, learner_email: str | None) -> None:
    """Print a one-time link that launches a course from the built-in demo LMS (development only)."""
    if not demo_lms.enabled(current_app):
        raise click.ClickException(
            "the demo LMS does not exist in production (TRAINING_CONFIG=production); "
            "launch from a registered LMS, or try it on a development install (./run.sh)"
        )
    choice = launches.launch_choice(course, locale, learner_email)
    link = launches.start_link(choice)
    db.session.commit()
    minutes = launches.START_LINK_SECONDS // 60
    click.echo(f"Open this link in a browser within {minutes} minutes (it works once):")
    click.echo(f"  {link}")
    click.echo(
        f"  {choice.course_title}, in {launches.LANGUAGES[choice.locale]}, "
        f"as {choice.learner.name} <{choice.learner.email}>"
    )
    click.echo(f"The demo LMS's gradebook: {external_url('demo_lms.gradebook')}")


def register() -> None:
    if "launch" not in demo_cli.commands:
        demo_cli.add_command(launch_command)
