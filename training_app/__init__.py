"""Composition root: builds the Flask app from the feature packages, in the order of the flow."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from flask import Flask, g, has_request_context, request
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from training_app import errors
from training_app.config import ConfigError, load_config
from training_app.extensions import AUTOCOMMIT, babel, csrf, db, limiter, login_manager, migrate

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides settings (the seam tests use)."""
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get("TRAINING_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
        instance_relative_config=True,
    )
    load_config(app, config)

    from training_app import edge, logs

    edge.init_app(app)  # before any route is added: the id converter applies to every route

    logs.configure_logging(app)
    _init_extensions(app)
    _register_infrastructure(app)
    _register_features(app)
    _install_transaction_boundary(app)
    if app.config["PROXY_FIX"]:
        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    return app


def _init_extensions(app: Flask) -> None:
    try:
        db.init_app(app)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL cannot be used: {exc}") from None
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    # Flask-Login's context processor loads the user for every page rendered; the global proxy
    # loads them only for templates that read `current_user` (learner pages do not).
    login_manager.init_app(app, add_context_processor=False)
    app.jinja_env.globals["current_user"] = current_user
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    from training_app import rate_limits  # registers the database storage for Flask-Limiter

    app.config.setdefault("RATELIMIT_STORAGE_URI", rate_limits.storage_uri(app.config.get("REDIS_URL")))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "training-rl")
    limiter.init_app(app)
    babel.init_app(
        app,
        locale_selector=_select_locale,
        default_translation_directories=str(PROJECT_ROOT / "translations"),
    )
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale() or "en")


def _select_locale() -> str:
    """The locale a page chose (a course's content locale), else the user's, else the browser's."""
    supported = app_locales()
    chosen = getattr(g, "ui_locale", None)
    if chosen in supported:
        return chosen
    if not has_request_context():  # CLI commands and jobs: services' messages in the default locale
        return supported[0]
    try:
        user_locale = getattr(current_user, "locale", None) if current_user else None
    except SQLAlchemyError:  # the database failed: this is the error page for it, in the browser's language
        user_locale = None
    if user_locale:
        base = user_locale.replace("_", "-").split("-")[0].lower()
        if base in supported:
            return base
    return request.accept_languages.best_match(supported) or supported[0]


def app_locales() -> list[str]:
    from flask import current_app

    return list(current_app.config["SUPPORTED_LOCALES"])


def _register_infrastructure(app: Flask) -> None:
    from training_app import (
        cli,
        errors,
        health,
        http_delivery,
        local_time,
        mail,
        metrics,
        outbound,
        outbox,
        pages,
        security,
    )
    from training_app.auth import access  # registers the user loader
    from training_app.auth.views import bp as auth_bp

    app.jinja_env.globals["shows_staff_navigation"] = access.shows_staff_navigation
    app.jinja_env.globals["local_time"] = local_time.local_time
    errors.register_error_handlers(app)
    metrics.init_app(app)  # its after_request runs after the transaction boundary's commit
    security.init_app(app)
    outbound.init_app(app)
    outbox.register_handler("http_post", http_delivery.post_json)
    outbox.register_handler(mail.EMAIL_KIND, mail.deliver_email)
    app.register_blueprint(pages.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth_bp)
    cli.register(app)


def _register_features(app: Flask) -> None:
    """In flow order: who and what (people, assignments) -> launch -> learn -> quiz -> certify -> report
    -> send (webhooks: after certificates, whose result hook issues the certificate it announces)."""
    import api
    import assignments
    import certificates
    import courses
    import demo_lms
    import dispatch
    import feeds
    import lti
    import people
    import quizzes
    import reports
    import webhooks

    for package in (people, assignments, lti, dispatch, courses, quizzes, certificates, reports, webhooks):
        package.init_app(app)
    feeds.init_app(app)  # 5 SEND: xAPI statements and SFTP files; reads the completions export of reports
    api.init_app(app)  # the REST API (5 SERVE): reads them all, after the packages it serves
    demo_lms.init_app(app)  # an LMS to try the learner's path with: development only, never production


def _install_transaction_boundary(app: Flask) -> None:
    """One transaction per request: committed when the response succeeds, else rolled back.

    A view marked `without_transaction` runs its statements in autocommit on PostgreSQL (SQLite
    keeps its transaction: its connections begin one themselves, see training_app.db).
    """
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):

        def _autocommit_if_marked() -> None:
            view = app.view_functions.get(request.endpoint or "")
            if getattr(view, "without_transaction", False):
                db.session.connection(execution_options=AUTOCOMMIT)  # the request's first statement

        app.before_request_funcs.setdefault(None, []).insert(0, _autocommit_if_marked)

    @app.after_request
    def _commit_on_success(response):
        if response.status_code < 400 or g.get("keep_writes_of_refusal"):
            try:
                db.session.commit()
            except OperationalError as exc:  # the database went away before the commit answered
                with suppress(SQLAlchemyError):
                    db.session.rollback()
                if not errors.is_database_unavailable(exc):
                    raise
                return errors.database_unavailable_response(exc)  # not stored: the client tries again
        else:
            db.session.rollback()
        return response
