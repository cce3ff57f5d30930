"""What the demo LMS launches: a published course, in a language, as one of acme's demo learners or
a new one; and its registration with the tool, made on first use like an LMS administrator's.

Services flush and never commit.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from courses import publishing
from lti import services, storage, tool_config
from lti.models import Platform
from training_app.demo import DEMO_ISSUER
from training_app.errors import DomainError, ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant, User
from training_app.urls import external_url

TENANT = "acme"
ISSUER = "https://lms.demo.postwise.example"  # an identifier only: nothing is fetched from it
CLIENT_ID = "postwise-demo-lms"
DEPLOYMENT_ID = "demo"
NAME = "Demo LMS (built in, development only)"
NEW_LEARNER = "new"
FIRST_COURSE = "social-media-orientation"  # preselected: the new hire's course
LANGUAGES = {"en": "English", "es": "Español"}  # each in its own language
LAUNCH_SECONDS = 300  # from the tool's login to the demo LMS's answer
START_LINK_SECONDS = 600  # the CLI's one-time link


class DemoNotReady(DomainError):
    status = 409
    code = "demo_not_ready"


@dataclass(frozen=True)
class DemoLearner:
    """A person as the demo LMS knows them (the LMS's user id is `subject`)."""

    subject: str
    name: str
    email: str
    locale: str | None = None
    employee_id: str | None = None
    department: str | None = None


@dataclass(frozen=True)
class LaunchChoice:
    course: str
    course_title: str
    locale: str
    learner: DemoLearner


def demo_tenant() -> Tenant:
    """acme, once the demo data is loaded and a course published; else DemoNotReady saying what to run."""
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == TENANT))
    if tenant is None or not course_titles():
        raise DemoNotReady(
            gettext(
                "The demo data is not loaded or no course is published. Run `flask --app wsgi demo load` "
                "(run.sh does), then try again."
            )
        )
    return tenant


def course_titles() -> dict[str, str]:
    """Published courses by slug, in title order."""
    return {course.slug: course.title for course, _version in publishing.published_courses()}


def demo_learners(tenant: Tenant) -> list[DemoLearner]:
    """acme's demo learners (`flask demo load`), as their company's LMS knows them."""
    users = db.session.scalars(
        select(User).where(User.tenant_id == tenant.id, User.issuer == DEMO_ISSUER).order_by(User.name)
    )
    return [
        DemoLearner(user.subject, user.name, user.email or "", user.locale, user.employee_id, user.department)
        for user in users
    ]


def new_learner() -> DemoLearner:
    """Someone the tool has never seen: an email of their own, so no one else's history is theirs."""
    tag = secrets.token_hex(3)
    return DemoLearner(f"demo-lms-new-{tag}", "Alex Rivera", f"alex.rivera.{tag}@{TENANT}.example")


def launch_choice(course: str, locale: str, learner_email: str | None) -> LaunchChoice:
    """The launch asked for, or ValidationFailed saying what to use instead."""
    tenant = demo_tenant()
    titles = course_titles()
    if course not in titles:
        raise ValidationFailed(
            gettext(
                "There is no published course %(course)s; use one of: %(courses)s.",
                course=repr(course),
                courses=", ".join(titles),
            ),
            errors={"course": gettext("unknown course")},
        )
    locales = [code for code in current_app.config["SUPPORTED_LOCALES"] if code in LANGUAGES]
    if locale not in locales:
        raise ValidationFailed(
            gettext(
                "The language %(locale)s is not offered; use one of: %(locales)s.",
                locale=repr(locale),
                locales=", ".join(locales),
            ),
            errors={"locale": gettext("unknown language")},
        )
    return LaunchChoice(course, titles[course], locale, _learner(tenant, learner_email))


def _learner(tenant: Tenant, email: str | None) -> DemoLearner:
    if not email or email == NEW_LEARNER:
        return new_learner()
    learners = demo_learners(tenant)
    found = [learner for learner in learners if learner.email.lower() == email.strip().lower()]
    if not found:
        raise ValidationFailed(
            gettext(
                "%(email)s is not one of %(tenant)s's demo learners; use one of: %(emails)s "
                "(or none, for a new learner).",
                email=repr(email),
                tenant=tenant.slug,
                emails=", ".join(learner.email for learner in learners),
            ),
            errors={"learner": gettext("unknown learner")},
        )
    return found[0]


def start_link(choice: LaunchChoice) -> str:
    """A one-time link (START_LINK_SECONDS) that starts this launch in a browser."""
    token = secrets.token_urlsafe(24)
    storage.store().put(f"demo-lms-start-{token}", _record(choice), START_LINK_SECONDS)
    return external_url("demo_lms.start", token=token)


def choice_of_start_link(token: str) -> LaunchChoice:
    record = storage.store().take(f"demo-lms-start-{token}")
    if record is None:
        raise DomainError(
            gettext("This link was already used or has expired: run `flask --app wsgi demo launch` again."),
            status=410,
            code="link_used",
        )
    return _choice(record)


def begin_launch(choice: LaunchChoice) -> str:
    """The tool's login initiation URL for this launch (an LMS's third-party initiated login).

    The registration is made (or pointed at this server's address) first, as an LMS administrator
    would; `lti_message_hint` names the launch, which the demo LMS's OIDC endpoint uses once.
    """
    ensure_registered(demo_tenant())
    hint = secrets.token_urlsafe(24)
    storage.store().put(f"demo-lms-launch-{hint}", _record(choice), LAUNCH_SECONDS)
    return external_url(
        "lti.login",
        iss=ISSUER,
        login_hint=choice.learner.subject,
        target_link_uri=tool_config.launch_url(),
        lti_message_hint=hint,
        client_id=CLIENT_ID,
        lti_deployment_id=DEPLOYMENT_ID,
    )


def take_launch(hint: str) -> LaunchChoice | None:
    """The launch this message hint names, once."""
    record = storage.store().take(f"demo-lms-launch-{hint}") if hint else None
    return _choice(record) if record else None


def _record(choice: LaunchChoice) -> dict:
    return asdict(choice)


def _choice(record: dict) -> LaunchChoice:
    return LaunchChoice(**{**record, "learner": DemoLearner(**record["learner"])})


def registration_fields() -> services.PlatformFields:
    return services.PlatformFields(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        deployment_ids=[DEPLOYMENT_ID],
        auth_login_url=external_url("demo_lms.authorize"),
        auth_token_url=external_url("demo_lms.token"),
        key_set_url=external_url("demo_lms.jwks"),
        name=NAME,
    )


def ensure_registered(tenant: Tenant) -> None:
    """The demo LMS registered for the tenant, its URLs on the address this server is opened at."""
    wanted = registration_fields()
    platform = db.session.scalar(
        select(Platform).where(Platform.issuer == ISSUER, Platform.client_id == CLIENT_ID)
    )
    if platform is None:
        services.add_platform(tenant, wanted, actor="demo")
        return
    urls = ("auth_login_url", "auth_token_url", "key_set_url")
    if any(getattr(platform, name) != getattr(wanted, name) for name in urls):
        problems = services.validate_platform_fields(wanted)
        if problems:
            raise ValidationFailed(
                "; ".join(f"{name}: {problem}" for name, problem in problems.items()), errors=problems
            )
        for name in urls:
            setattr(platform, name, getattr(wanted, name))
        db.session.flush()
