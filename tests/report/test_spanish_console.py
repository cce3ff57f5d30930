"""The Spanish HR console: every message in the catalog is translated (the console's too, not only
what learners see), and a staff member whose browser asks for Spanish reads the dashboard in Spanish.

The catalog test needs no database; the page test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from babel.messages.pofile import read_po

from courses import services as learning
from tests import factories
from tests.helpers import text_of
from training_app import PROJECT_ROOT
from training_app.db import utcnow
from training_app.extensions import db

CATALOG = PROJECT_ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po"
ORIENTATION = "social-media-orientation"
SPANISH_BROWSER = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
# A %-placeholder as Python formats it (%(name)s, %(n)d, %%), or a lone % that would break formatting.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]?")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


# --- the catalog --------------------------------------------------------------------------------


def test_every_message_in_the_catalog_has_a_spanish_translation_with_its_placeholders():
    with open(CATALOG, "rb") as po:
        catalog = read_po(po)
    problems = []
    for message in catalog:
        if not message.id:
            continue  # the header
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        where = ", ".join(f"{path}:{line}" for path, line in message.locations[:2]) or "?"
        if message.fuzzy:
            problems.append(f"{where}: fuzzy: {ids[0]!r}")
        elif not all(strings):
            problems.append(f"{where}: untranslated: {ids[0]!r}")
        elif message.pluralizable and len(strings) != catalog.num_plurals:
            problems.append(f"{where}: {len(strings)} plural forms, not {catalog.num_plurals}: {ids[0]!r}")
        else:
            expected = placeholders(ids[-1])  # a plural's msgid_plural names every placeholder
            problems += [
                f"{where}: placeholders {sorted(placeholders(text))} instead of {sorted(expected)}: {text!r}"
                for text in strings
                if placeholders(text) != expected
            ]
    assert not problems, "translate or fix (see translations/README.md):\n" + "\n".join(problems)
    assert len(catalog) > 700  # the whole interface, the console included


# --- the console --------------------------------------------------------------------------------


@pytest.fixture
def acme(app, published):
    """Acme's HR administrator, and two employees in the orientation: one overdue, one not started."""
    with app.app_context():
        tenant = factories.tenant("acme")
        factories.staff(tenant, "hr@acme.example")
        late = factories.learner(tenant, "Ada Lovelace", department="Engineering")
        learning.enrol(late, ORIENTATION, source="hr", due_at=utcnow() - timedelta(days=3))
        fresh = factories.learner(tenant, "Grace Hopper", department="Sales")
        learning.enrol(fresh, ORIENTATION, source="hr", due_at=utcnow() + timedelta(days=20))
        db.session.commit()


def test_the_console_follows_a_spanish_browser(client, acme):
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    page = client.get("/console/", headers=SPANISH_BROWSER)
    text = text_of(page)
    assert page.status_code == 200 and '<html lang="es"' in text
    for spanish in (
        "Consola de RR. HH.",  # the title
        "Sesión iniciada como hr@acme.example (Administrador de RR. HH.).",
        "Tasa de finalización",
        "Finalización por curso",
        "Finalización por departamento",
        "Certificados que vencen en los próximos",
        "Sin intentos en el cuestionario",
        "Atrasado",  # a status (assignments/status.py) and the card
        "Sin comenzar",
        "Cifras por curso y estado",
        "Cadena de auditoría",
        "Intacta",
        "Abrir el registro de auditoría",
        # the console's navigation
        "Resumen",
        "Participantes",
        "Importar personal",
        "Paquetes de evidencias",
        "Registro de auditoría",
        "Cuentas de personal",
    ):
        assert spanish in text, spanish
    for english in (
        "HR console",
        "Signed in as",
        "Completion rate",
        "Overdue",
        "Not started",
        "Audit chain",
        "Learners",
        "Evidence packs",
    ):
        assert english not in text, english
    assert "Completion rate" in text_of(client.get("/console/"))  # no preference: English
