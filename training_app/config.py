"""Configuration: classes per environment, overridden by `TRAINING_*` environment variables.

Every setting can be given as `TRAINING_<NAME>` (values are parsed as JSON when they look like
it, as Flask's `from_prefixed_env` does). `DATABASE_URL`, `REDIS_URL` and `SECRET_KEY` are also
read without the prefix, as most hosting platforms set them that way.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "TRAINING"
UNPREFIXED_ALIASES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says what to fix."""


class BaseConfig:
    DATABASE_URL: str | None = None  # default: SQLite file in the instance folder
    REDIS_URL: str | None = None
    PUBLIC_URL: str | None = None  # e.g. https://training.example.com (links, LTI, QR codes)
    PROXY_FIX: int = 0  # number of trusted proxies setting X-Forwarded-* headers
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: str = "json"  # json | text
    LOGIN_RATE_LIMIT: str = "5 per minute"
    SSO_RATE_LIMIT: str = "30 per minute"  # single sign-on starts and callbacks, per IP address
    API_RATE_LIMIT: str = "600 per minute"  # per API token (api.core)
    API_MAX_BODY_BYTES: int = 64 * 1024  # a larger REST API request body is refused (413)
    PASSWORD_HASH_COST: tuple[int, int] = (3, 65536)  # argon2id time cost, memory KiB
    DB_POOL_SIZE: int = 10
    DB_MAX_OVERFLOW: int = 10
    # psycopg prepares a statement on the server once a connection has run it 5 times. Behind
    # PgBouncer in transaction mode before 1.21 (or without max_prepared_statements) that fails:
    # set false there (OPERATIONS.md, Scaling).
    DB_PREPARED_STATEMENTS: bool = True
    OUTBOX_MAX_ATTEMPTS: int = 8
    OUTBOX_BACKOFF_SECONDS: float = 30.0
    OUTBOX_BACKOFF_MAX_SECONDS: float = 6 * 3600
    OUTBOX_LEASE_SECONDS: int = 120
    OUTBOX_BATCH_SIZE: int = 50
    OUTBOX_HTTP_TIMEOUT: float = 10.0
    # Outgoing HTTP (training_app.outbound): hosts on the internal network the service may reach
    # (an LMS on the company network), and whether plain http:// is allowed (development only).
    OUTBOUND_ALLOWED_HOSTS: tuple[str, ...] = ()
    OUTBOUND_ALLOW_HTTP: bool = False
    HSTS_INCLUDE_SUBDOMAINS: bool = False
    # Prometheus metrics at /metrics (training_app.metrics): off until one of these is set.
    METRICS_TOKEN: str | None = None  # a bearer token the scraper sends
    METRICS_ALLOWED_NETWORKS: tuple[str, ...] = ()  # client addresses or networks, e.g. 10.0.0.0/8
    # Email (training_app.mail): without a host, development and tests write messages to the
    # instance folder; production keeps them pending until one is set.
    SMTP_HOST: str | None = None
    SMTP_PORT: int | None = None  # 587 (starttls, none) or 465 (tls)
    SMTP_SECURITY: str = "starttls"  # starttls | tls | none
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_FROM: str | None = None  # e.g. "Postwise <training@example.com>"
    SMTP_CA_FILE: str | None = None
    SMTP_TIMEOUT: float = 15.0
    FRAME_ANCESTORS: str = ""  # extra origins allowed to embed the tool, space separated
    LTI_ROSTER_CACHE_SECONDS: int = 600  # how long an LMS course roster (NRPS) is reused
    DEFAULT_LOCALE: str = "en"
    SUPPORTED_LOCALES: tuple[str, ...] = ("en", "es")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    TESTING = False
    DEBUG = False


class DevelopmentConfig(BaseConfig):
    LOG_FORMAT = "text"
    OUTBOUND_ALLOW_HTTP = True
    OUTBOUND_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1")  # an LMS on the developer's machine


class TestingConfig(BaseConfig):
    TESTING = True
    LOG_LEVEL = "WARNING"
    LOGIN_RATE_LIMIT = "5 per minute"
    PASSWORD_HASH_COST = (1, 8192)  # fast hashes keep the suite quick; production keeps the default
    OUTBOUND_ALLOW_HTTP = True  # the LMS emulator and receivers serve plain http on 127.0.0.1


class ProductionConfig(BaseConfig):
    # Production runs behind TLS: cookies must be Secure and usable inside the LMS iframe.
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_SAMESITE = "None"
    SESSION_COOKIE_PARTITIONED = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"


CONFIG_CLASSES: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Fill `app.config`: class defaults, then environment, then explicit overrides (tests)."""
    overrides = dict(overrides or {})
    name = overrides.pop("CONFIG", None) or os.environ.get(f"{ENV_PREFIX}_CONFIG", "development")
    if name not in CONFIG_CLASSES:
        raise ConfigError(
            f"{ENV_PREFIX}_CONFIG={name!r} is not known; use one of {', '.join(CONFIG_CLASSES)}"
        )
    app.config.from_object(CONFIG_CLASSES[name])
    app.config["CONFIG_NAME"] = name
    for key in UNPREFIXED_ALIASES:
        if os.environ.get(key):
            app.config[key] = os.environ[key]
    app.config.from_prefixed_env(ENV_PREFIX)
    app.config.update(overrides)
    _ensure_instance_folder(app)
    _configure_database(app)
    _configure_secret_key(app)
    _check_public_url(app)


def _check_public_url(app: Flask) -> None:
    """Production needs the https:// address people open: every absolute URL (QR codes, exports,
    emails, LTI configuration) comes from it, and cookies need TLS to work inside an LMS frame."""
    if app.config["CONFIG_NAME"] != "production":
        return
    url = urlsplit(app.config.get("PUBLIC_URL") or "")
    if url.scheme != "https" or not url.hostname or url.query or url.fragment:
        raise ConfigError(
            f"{ENV_PREFIX}_PUBLIC_URL must be the https:// address people open, for example "
            f"https://training.example.com; production refuses to start without it"
        )


def _ensure_instance_folder(app: Flask) -> None:
    path = Path(app.instance_path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the instance folder {path} ({exc.strerror}); create it, fix its "
            f"permissions, or point {ENV_PREFIX}_INSTANCE_PATH at a writable folder"
        ) from None
    if not os.access(path, os.W_OK):
        raise ConfigError(
            f"the instance folder {path} is not writable; fix its permissions or point "
            f"{ENV_PREFIX}_INSTANCE_PATH at a writable folder"
        )


def _configure_database(app: Flask) -> None:
    url = app.config.get("DATABASE_URL") or f"sqlite:///{Path(app.instance_path) / 'training.db'}"
    if url.startswith("postgres://"):  # Heroku-style URL
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL is not a database URL; expected for example "
            "postgresql+psycopg://user:password@host:5432/dbname or sqlite:////path/to/file.db"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"DATABASE_URL uses {backend!r}; only postgresql and sqlite work")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if backend == "postgresql":
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_pre_ping": False,  # training_app.db checks a connection leaving the pool instead
            "pool_size": int(app.config["DB_POOL_SIZE"]),
            "max_overflow": int(app.config["DB_MAX_OVERFLOW"]),
            "pool_recycle": 1800,
            "connect_args": {"connect_timeout": 5, **_prepare_threshold(app)},
            "hide_parameters": True,  # an error's log line never carries the statement's values
        }
    else:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 10}, "hide_parameters": True}


def _prepare_threshold(app: Flask) -> dict[str, Any]:
    """psycopg's prepare_threshold: its default (5), or None (never prepare) when turned off."""
    setting = app.config["DB_PREPARED_STATEMENTS"]
    if isinstance(setting, str):
        setting = setting.strip().lower() not in ("0", "false", "no", "off")
    return {} if setting else {"prepare_threshold": None}


def _configure_secret_key(app: Flask) -> None:
    if app.config.get("SECRET_KEY"):
        return
    if app.config["CONFIG_NAME"] == "production":
        raise ConfigError(
            "SECRET_KEY is not set; production refuses to start without one. Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'` and set SECRET_KEY"
        )
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()
