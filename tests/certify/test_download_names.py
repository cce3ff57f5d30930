"""Certificates download under the holder's name in any script, through a real gunicorn server.

HTTP header values are Latin-1 at most, and gunicorn answers 500 "Invalid response header" when an
application sends anything else; the Flask test client lets such a header through, so the fault is
only visible behind a real server. A learner named 李小龙, ليلى عبد الله, Ελένη Παπαδοπούλου,
अर्जुन शर्मा, Анна Каренина or Lucía Gómez passes the quiz and downloads the certificate PDF from
`gunicorn --workers 1 wsgi:app` on 127.0.0.1 (on SQLite and on PostgreSQL). Each download is a
PDF whose `Content-Disposition` is pure ASCII, with an ASCII `filename="..."` fallback and the real
name in `filename*=UTF-8''...` (RFC 6266 / RFC 8187); decoded, that name holds the holder's name
as stored, in its own script (Devanagari combining marks intact).

`training_app.downloads` (`ascii_fallback`, `attachment`) is unit-tested at the end: the fallback
of an all-non-Latin stem, folded accents, hostile characters kept out of the header, and no
`filename*` for a name that is ASCII already.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from certificates.models import Certificate
from tests import factories
from tests.helpers import FormClient, sign_in_learner, text_of
from tests.journeys import COURSE, answer_key, ready_for_quiz, start, submit
from tests.live_server import learner_session_cookie
from training_app.downloads import ascii_fallback, attachment, download_headers
from training_app.extensions import db

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")  # the virtualenv's
START_TIMEOUT = 60  # seconds for gunicorn to answer /healthz
REQUEST_TIMEOUT = 30
STOP_TIMEOUT = 10

HOLDERS = {  # script: the learner's name as the LMS sends it
    "Chinese": "李小龙",
    "Arabic": "ليلى عبد الله",
    "Greek": "Ελένη Παπαδοπούλου",
    "Devanagari": "अर्जुन शर्मा",
    "Cyrillic": "Анна Каренина",
    "Latin with accents": "Lucía Gómez",
}
ASCII_FALLBACKS = {"Latin with accents": "Lucia-Gomez"}  # the other scripts leave no ASCII letter

DISPOSITION = re.compile(
    r"attachment; filename=\"(?P<fallback>[^\"]*)\"(?:; filename\*=UTF-8''(?P<real>\S+))?"
)


# --- a real server ---------------------------------------------------------------------------------


class Gunicorn:
    """`gunicorn --workers 1 wsgi:app` on 127.0.0.1:<free port>, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> Gunicorn:
        for _ in range(3):  # another port if the free one was taken before gunicorn bound it
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    gunicorn_command(port),
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self.answers_healthz():
                return self
            self.stop()
            if "already in use" not in self.log():
                break
        raise AssertionError(f"gunicorn did not start:\n{self.log()[-4000:]}")

    def answers_healthz(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def gunicorn_command(port: int) -> list[str]:
    return [
        str(GUNICORN),
        "--workers",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
        "--no-control-socket",
        "wsgi:app",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(app: Flask, tmp_path: Path) -> Iterator[Gunicorn]:
    """The app under gunicorn: the test's database and SECRET_KEY (so it trusts the forged session)."""
    instance = tmp_path / "instance-gunicorn"
    instance.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "TRAINING_CONFIG": "testing",
        "TRAINING_PUBLIC_URL": app.config["PUBLIC_URL"],
        "TRAINING_INSTANCE_PATH": str(instance),
        "TRAINING_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "TRAINING_LOG_LEVEL": "WARNING",
        "TRAINING_DB_POOL_SIZE": "2",
    }
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        yield server.start()
    finally:
        server.stop()


# --- learners with certificates --------------------------------------------------------------------


def certified_learners(app: Flask) -> dict[str, Certificate]:
    """One learner per script, each having passed the quiz (the certificate issued as in production)."""
    with app.app_context():
        acme = factories.tenant("acme")
        user_ids = {}
        for script, name in HOLDERS.items():
            user = factories.learner(acme, name, subject=f"u-{len(user_ids)}")
            ready_for_quiz(user)
            user_ids[script] = user.id
        db.session.commit()
    certificates = {}
    for script, user_id in user_ids.items():
        client = FormClient(app)
        sign_in_learner(client, user_id)
        attempt_id = start(client)
        assert "You passed" in text_of(submit(client, attempt_id, answer_key(app, attempt_id, right=9)))
        with app.app_context():
            certificates[script] = db.session.scalar(
                select(Certificate).where(Certificate.user_id == user_id)
            )
    return certificates


def download(server: Gunicorn, app: Flask, certificate: Certificate) -> requests.Response:
    """The learner's own download, with the session cookie their LTI launch left."""
    cookie = learner_session_cookie(app, certificate.user_id)
    return requests.get(
        f"{server.url}/certificates/{certificate.id}.pdf",
        headers={"Cookie": f"session={cookie}"},
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT,
    )


def hyphenated(name: str) -> str:
    """The name as the download names it: its words joined by hyphens (certificates.services)."""
    return "-".join(name.split())


def download_problems(response: requests.Response, certificate: Certificate, script: str) -> list[str]:
    """What is wrong with one certificate download (nothing, if it is right)."""
    if response.status_code != 200:
        return [f"status {response.status_code}: {response.text[:300]}"]
    problems = []
    if response.headers.get("Content-Type") != "application/pdf":
        problems.append(f"content type {response.headers.get('Content-Type')!r}")
    if not response.content.startswith(b"%PDF"):
        problems.append(f"body starts with {response.content[:20]!r}")
    disposition = response.headers.get("Content-Disposition", "")
    if not disposition.isascii():
        problems.append(f"Content-Disposition is not ASCII: {disposition!r}")
    parts = DISPOSITION.fullmatch(disposition)
    if parts is None or parts["real"] is None:
        return [*problems, f"Content-Disposition lacks filename= or filename*=: {disposition!r}"]
    folded = ASCII_FALLBACKS.get(script)
    expected_fallback = f"certificate-{COURSE}-{folded + '-' if folded else ''}{certificate.code}.pdf"
    if parts["fallback"] != expected_fallback:
        problems.append(f"ASCII fallback {parts['fallback']!r}, expected {expected_fallback!r}")
    real = unquote(parts["real"], errors="strict")
    expected_real = f"certificate-{COURSE}-{hyphenated(certificate.holder_name)}-{certificate.code}.pdf"
    if real != expected_real:
        problems.append(f"filename* decodes to {real!r}, expected {expected_real!r}")
    return problems


# --- through gunicorn ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_learner_downloads_their_certificate_under_their_name_in_any_script(app, gunicorn, published):
    certificates = certified_learners(app)
    for script, certificate in certificates.items():  # stored as given, in its own script
        assert certificate.holder_name == HOLDERS[script], script
    devanagari = certificates["Devanagari"].holder_name
    assert any(unicodedata.category(ch).startswith("M") for ch in devanagari)  # virama, vowel signs

    problems = {
        script: found
        for script, certificate in certificates.items()
        if (found := download_problems(download(gunicorn, app, certificate), certificate, script))
    }
    assert not problems, f"{problems}\n--- gunicorn log ---\n{gunicorn.log()[-3000:]}"
    assert "Invalid response header" not in gunicorn.log()


# --- training_app.downloads ------------------------------------------------------------------------


@pytest.mark.parametrize("script", [script for script in HOLDERS if script not in ASCII_FALLBACKS])
def test_an_all_non_latin_stem_falls_back_to_the_default_stem(script):
    name = HOLDERS[script]
    assert ascii_fallback(f"{name}.pdf") == "download.pdf"
    assert ascii_fallback(f"{name}.pdf", "certificate-7KQ2") == "certificate-7KQ2.pdf"
    assert ascii_fallback(name) == "download"  # no extension, none invented
    value = attachment(f"{name}.pdf", "certificate-7KQ2")
    assert value.isascii()
    assert value.startswith("attachment; filename=\"certificate-7KQ2.pdf\"; filename*=UTF-8''")
    assert unquote(value.split("''", 1)[1]) == f"{name}.pdf"


def test_accents_fold_to_their_letters():
    assert ascii_fallback("Lucía Gómez.pdf") == "Lucia-Gomez.pdf"
    assert ascii_fallback("certificate-Ελένη-Lucía-7KQ2.pdf") == "certificate-Lucia-7KQ2.pdf"
    assert attachment("Lucía.pdf") == "attachment; filename=\"Lucia.pdf\"; filename*=UTF-8''Luc%C3%ADa.pdf"


@pytest.mark.parametrize(
    "filename",
    [
        'quote".pdf',
        "semi;colon.pdf",
        "line\r\nSet-Cookie: session=stolen.pdf",
        'Lucía"; filename="evil.exe',
        "back\\slash\t.pdf",
        "李小龙\r\n.pdf",
        '".pdf',
    ],
)
def test_quotes_semicolons_and_line_breaks_never_reach_the_header(filename):
    value = attachment(filename)
    parts = DISPOSITION.fullmatch(value)
    assert parts is not None, value
    assert re.fullmatch(r"[A-Za-z0-9._-]+", parts["fallback"]), value
    assert parts["real"] is not None and re.fullmatch(r"[A-Za-z0-9%._~-]+", parts["real"]), value
    assert "\r" not in value and "\n" not in value and value.count('"') == 2 and value.count(";") == 2
    assert unquote(parts["real"]) == filename  # the real name is kept, only encoded


@pytest.mark.parametrize(
    "filename", ["open-badge-7KQ2-M9XD-4HPT-ZR3B.jwt", "certificates-acme-20261102T101500Z.zip"]
)
def test_a_pure_ascii_name_gets_no_filename_star(filename):
    assert attachment(filename) == f'attachment; filename="{filename}"'
    assert download_headers(filename) == {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
    }
