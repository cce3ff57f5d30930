"""The Spanish interface: a Spanish learner's pages, and the catalog in translations/ being complete.

The HTTP tests run on SQLite and PostgreSQL; the catalog tests need no database.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask_babel import gettext

from courses.services import check_typed_name, enrol
from tests.helpers import sign_in_learner, text_of
from tests.learn.conftest import ORIENTATION
from training_app import PROJECT_ROOT
from training_app.extensions import db
from training_app.models import User

BASE = f"/courses/{ORIENTATION}"
LESSONS = [
    "why-social-media-matter",
    "who-runs-our-social-media",
    "using-internal-social-media",
    "brand-ambassador",
    "when-things-go-wrong",
    "policy-summary",
]
CATALOG_DIR = PROJECT_ROOT / "translations" / "es" / "LC_MESSAGES"

# What a learner or a visitor sees: every msgid extracted from these files must be translated.
LEARNER_FILES = [
    "training_app/templates/base.html",
    "training_app/templates/index.html",
    "training_app/templates/errors/*.html",
    "training_app/templates/auth/*.html",
    "training_app/errors.py",
    "training_app/auth/*.py",
    "courses/templates/**/*.html",
    "courses/forms.py",
    "courses/services.py",
    "quizzes/templates/**/*.html",
    "quizzes/services.py",
    "quizzes/question_types.py",
    "certificates/templates/certificates/verify*.html",
    "certificates/overview.py",
    "lti/templates/lti/open_in_new_window.html",
    "lti/templates/lti/platform_storage_*.html",
]
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}  # as in translations/README.md


# --- the pages ----------------------------------------------------------------------------------


@pytest.fixture
def maria(app, client, world):
    """María (LMS locale es-MX), enrolled in the orientation and signed in."""
    with app.app_context():
        enrol(db.session.get(User, world["maria"]), ORIENTATION, source="hr")
        db.session.commit()
    sign_in_learner(client, world["maria"])
    return world["maria"]


def complete(client, lesson: str):
    return client.submit(f"{BASE}/lessons/{lesson}", {}, action=f"{BASE}/lessons/{lesson}/complete")


def test_the_overview_speaks_spanish(client, maria):
    page = client.get(f"{BASE}/")
    html = text_of(page)
    assert page.status_code == 200 and '<html lang="es"' in html
    for spanish in (
        "Comenzar el curso",
        "Tus pasos",
        "0 de 6 lecciones terminadas",
        "Faltan unos 40 minutos",
        "Confirmación de la política",
        "Cuestionario",
        "Nota mínima 80%",
        "Bloqueada: primero termina las lecciones anteriores",
        "Saltar al contenido principal",
    ):
        assert spanish in html, spanish
    for english in ("Start the course", "Your steps", "lessons done", "minutes left", "Pass mark"):
        assert english not in html, english
    complete(client, LESSONS[0])
    html = text_of(client.get(f"{BASE}/"))
    assert "Continuar" in html and "1 de 6 lecciones terminadas" in html and ">Terminada<" in html


def test_lessons_and_their_errors_speak_spanish(client, maria):
    lesson = text_of(client.get(f"{BASE}/lessons/{LESSONS[0]}"))
    assert "Lección 1 de 6" in lesson and "4 min" in lesson and "Siguiente lección" in lesson
    assert "Resumen del curso" in lesson and "Next lesson" not in lesson
    ahead = client.get(f"{BASE}/lessons/{LESSONS[2]}")
    text = text_of(ahead)
    assert ahead.status_code == 409 and '<html lang="es"' in text
    assert "Primero termina las lecciones anteriores" in text  # the title
    first_title = "Por qué importan nuestras redes sociales"
    assert f"Las lecciones se toman en orden. Primero termina “{first_title}”" in text
    early = text_of(client.get(f"{BASE}/attestation"))
    assert f"te quedan 6 lecciones, empezando por “{first_title}”" in early
    missing = text_of(client.get(f"{BASE}/lessons/no-such-lesson"))
    assert "no tiene la lección 'no-such-lesson'" in missing


@pytest.mark.parametrize(
    ("form", "messages"),
    [
        ({"confirm": "y", "typed_name": ""}, ["Escribe tu nombre completo para firmar."]),
        (
            {"confirm": "y", "typed_name": "Grace Hopper"},
            ["no coincide con el que tiene registrado el sistema de tu empresa (“María José Fernández”)"],
        ),
        (
            {"typed_name": "x"},
            ["Marca la casilla para confirmar", "Escribe tu nombre completo para firmar."],
        ),
    ],
)
def test_attestation_errors_are_in_spanish(client, maria, form, messages):
    for lesson in LESSONS:
        complete(client, lesson)
    page = text_of(client.get(f"{BASE}/attestation"))
    assert "Confirma y firma" in page and "Escribe tu nombre completo para firmar" in page  # form label
    assert "Firmar la confirmación" in page and "Tal como aparece en los registros de tu empresa" in page
    response = client.submit(f"{BASE}/attestation", form)
    text = text_of(response)
    assert response.status_code == 422 and "Corrige lo siguiente:" in text
    for message in messages:
        assert message in text, message
    assert "Type your full name" not in text and "Tick the box" not in text


def test_the_quiz_pages_and_answer_errors_speak_spanish(client, maria):
    for lesson in LESSONS:
        complete(client, lesson)
    signed = client.submit(f"{BASE}/attestation", {"confirm": "y", "typed_name": "maría josé fernández"})
    assert signed.status_code == 303
    start = text_of(client.get(f"/quiz/{ORIENTATION}/"))
    assert "Antes de comenzar" in start and "Comenzar el intento 1" in start
    assert "Apruebas con 80% o más." in start and "Intentos: usaste 0 de 3." in start
    begun = client.submit(f"/quiz/{ORIENTATION}/", {}, action=f"/quiz/{ORIENTATION}/attempts")
    attempt_url = begun.headers["Location"]
    attempt = text_of(client.get(attempt_url))
    assert "Pregunta 1" in attempt and "Enviar mis respuestas" in attempt
    empty = client.post_form(attempt_url, {})
    text = text_of(empty)
    assert empty.status_code == 422
    assert "Responde todas las preguntas antes de enviar: todavía faltan 10 por responder." in text
    assert "Elige una respuesta para la pregunta 1." in text


def test_visitors_error_pages_follow_the_browser_language(client, world):
    spanish = {"Accept-Language": "es-AR,es;q=0.9,en;q=0.5"}
    missing = client.get("/no-such-page", headers=spanish)
    text = text_of(missing)
    assert missing.status_code == 404 and '<html lang="es"' in text
    assert "No encontramos esa página" in text and "Inicio" in text
    unauthenticated = text_of(client.get(f"{BASE}/", headers=spanish))
    assert "Comienza desde tu LMS" in unauthenticated
    home = text_of(client.get("/", headers=spanish))
    assert "Verificar un certificado" in home and "Empleados" in home
    assert "We could not find that page" in text_of(client.get("/no-such-page"))  # no preference: English


def test_messages_outside_a_request_are_in_the_default_locale(app):
    """Services also run from CLI commands and jobs: no request, no browser, no error."""
    with app.app_context():
        assert check_typed_name("", "Ada") == "Type your full name to sign."
        assert gettext("Continue") == "Continue"


# --- the catalog --------------------------------------------------------------------------------


def _learner_paths() -> list[Path]:
    paths = sorted({path for pattern in LEARNER_FILES for path in PROJECT_ROOT.glob(pattern)})
    assert len(paths) >= len(LEARNER_FILES)
    return paths


def _extracted_msgids() -> dict[str, str]:
    """msgid (singular) -> where it was found, freshly extracted from the learner files."""
    found = {}
    for path in _learner_paths():
        method = "jinja2" if path.suffix == ".html" else "python"
        for lineno, message, _comments, _context in extract_from_file(method, str(path), keywords=KEYWORDS):
            msgid = message[0] if isinstance(message, tuple) else message
            found.setdefault(msgid, f"{path.relative_to(PROJECT_ROOT)}:{lineno}")
    return found


def _catalog():
    with open(CATALOG_DIR / "messages.po", "rb") as po:
        return read_po(po)


def test_every_learner_message_has_a_spanish_translation():
    catalog = _catalog()
    untranslated = []
    for msgid, where in _extracted_msgids().items():
        message = catalog.get(msgid)
        strings = () if message is None else message.string
        strings = strings if isinstance(strings, tuple) else (strings,)
        if message is None or message.fuzzy or not all(strings):
            untranslated.append(f"{where}: {msgid!r}")
    assert not untranslated, "run the update steps in translations/README.md:\n" + "\n".join(untranslated)
    assert len(_extracted_msgids()) > 150


def test_translations_keep_their_placeholders():
    problems = [f"{message.id!r}: {errors}" for message, errors in _catalog().check()]
    assert not problems, problems


def test_the_compiled_catalog_is_up_to_date():
    catalog = _catalog()
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    shipped = (CATALOG_DIR / "messages.mo").read_bytes()

    def messages(mo_bytes: bytes) -> dict:
        def frozen(value):
            return tuple(value) if isinstance(value, list | tuple) else value

        return {frozen(m.id): frozen(m.string) for m in read_mo(io.BytesIO(mo_bytes)) if m.id}

    assert messages(shipped) == messages(compiled.getvalue()), (
        "messages.mo is older than messages.po: run .venv/bin/pybabel compile -d translations"
    )
