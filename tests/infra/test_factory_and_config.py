import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import settings_for
from training_app import create_app
from training_app.config import ConfigError
from training_app.extensions import db

ROOT = Path(__file__).resolve().parents[2]


def test_blueprints_are_registered_in_flow_order(app):
    features = [
        name for name in app.blueprints if name in ("lti", "courses", "quizzes", "certificates", "reports")
    ]
    assert features == ["lti", "courses", "quizzes", "certificates", "reports"]


def test_start_up_touches_no_database(tmp_path):
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    app = create_app(settings_for(unreachable, tmp_path / "instance"))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "unreachable" in ready.json["database"]
    page = client.get("/console/", headers={"Accept": "text/html"})
    # Anonymous: redirected to sign in without touching the database.
    assert page.status_code == 302
    login = client.post("/login", data={"email": "a@b.example", "password": "x" * 12})
    assert login.status_code in (400, 503)


def test_database_errors_on_requests_are_a_503_page_not_a_traceback(tmp_path):
    app = create_app(
        settings_for(
            "postgresql+psycopg://postgres@127.0.0.1:1/nowhere", tmp_path / "i", WTF_CSRF_ENABLED=False
        )
    )
    response = app.test_client().post("/login", data={"email": "a@b.example", "password": "x" * 12})
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "cannot reach its database" in body
    assert "Traceback" not in body


@pytest.mark.sqlite_only
def test_sqlite_uses_wal_and_foreign_keys(app):
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.postgresql_only
def test_postgres_engine_uses_a_pool_checked_without_a_ping_per_request(app):
    with app.app_context():
        assert db.engine.pool._pre_ping is False  # training_app.db checks connections instead
        assert db.engine.pool.size() == app.config["DB_POOL_SIZE"]


def test_malformed_database_url_is_a_clear_config_error(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_URL is not a database URL"):
        create_app(settings_for("not a url", tmp_path))
    with pytest.raises(ConfigError, match="only postgresql and sqlite"):
        create_app(settings_for("mysql://root@localhost/x", tmp_path))


def test_production_refuses_to_start_without_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    settings = settings_for("sqlite://", tmp_path, CONFIG="production")
    settings.pop("SECRET_KEY")
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app(settings)


@pytest.mark.parametrize(
    "public_url", [None, "", "http://training.example.com", "https://", "training.example.com"]
)
def test_production_refuses_to_start_without_an_https_public_url(tmp_path, public_url):
    settings = settings_for("sqlite://", tmp_path, CONFIG="production", PUBLIC_URL=public_url)
    with pytest.raises(ConfigError, match="TRAINING_PUBLIC_URL must be the https:// address people open"):
        create_app(settings)
    assert create_app({**settings, "PUBLIC_URL": "https://training.example.com"}).config["PUBLIC_URL"]


def test_secret_key_is_generated_once_into_the_instance_folder(tmp_path):
    settings = settings_for("sqlite://", tmp_path / "inst")
    settings.pop("SECRET_KEY")
    first = create_app(settings).config["SECRET_KEY"]
    second = create_app(settings).config["SECRET_KEY"]
    assert first == second and len(first) >= 40
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o077 == 0


def test_unusable_instance_folder_is_a_clear_config_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="instance folder"):
        create_app(settings_for("sqlite://", blocker / "instance"))


def test_environment_variables_with_the_prefix_configure_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINING_OUTBOX_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("TRAINING_PUBLIC_URL", "https://training.example.com")
    settings = settings_for("sqlite://", tmp_path)
    settings.pop("PUBLIC_URL")
    app = create_app(settings)
    assert app.config["OUTBOX_MAX_ATTEMPTS"] == 3
    assert app.config["PUBLIC_URL"] == "https://training.example.com"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "nonsense"}, "Configuration error: DATABASE_URL is not a database URL"),
        ({"TRAINING_CONFIG": "production", "SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"TRAINING_CONFIG": "staging"}, "TRAINING_CONFIG='staging' is not known"),
        (
            {
                "TRAINING_CONFIG": "production",
                "SECRET_KEY": "x" * 40,
                "TRAINING_PUBLIC_URL": "http://t.example",
            },
            "TRAINING_PUBLIC_URL must be the https:// address people open",
        ),
    ],
)
def test_cli_reports_bad_configuration_in_one_line(tmp_path, env, message):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "tenants", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TRAINING_INSTANCE_PATH": str(tmp_path), "HOME": str(tmp_path), **env},
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_reports_an_unreachable_database_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "TRAINING_INSTANCE_PATH": str(tmp_path),
            "HOME": str(tmp_path),
            "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
        },
    )
    assert result.returncode != 0
    assert "cannot use the database" in result.stderr or "Connection refused" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_favicon_is_served_and_named_on_every_page(client):
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
        assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = client.get("/login").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in page
    with client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200
