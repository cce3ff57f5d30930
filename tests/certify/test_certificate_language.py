"""A certificate names its course in the certificate's own language, on the document and on the
public verification page; the title is stored when the certificate is issued."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from certificates.models import Certificate
from certificates.services import document_for
from courses import publishing
from courses import services as learning
from tests import factories
from tests.helpers import text_of
from training_app.extensions import db
from training_app.models import Tenant

COURSE = "social-media-orientation"
TITLES = {"en": "Social media policy orientation", "es": "Orientación sobre la política de redes sociales"}


def certificate_of(name: str, locale: str) -> Certificate:
    """The learner signs in `locale` and passes; the certificate the result hook issued."""
    tenant = db.session.scalar(select(Tenant).limit(1)) or factories.tenant("acme")
    user = factories.learner(tenant, name, locale=locale)
    enrolment = learning.enrol(user, COURSE, source="hr")
    _, version = publishing.course_by_slug(COURSE)
    for lesson in version.lessons:
        learning.complete_lesson(enrolment, lesson.slug)
    attestation = learning.attest(
        enrolment, user, confirmed=True, typed_name=name, locale_preference=locale,
        ip_address="127.0.0.1", user_agent="pytest",
    )  # fmt: skip
    result = learning.record_result(
        learning.cycle_of(enrolment.id), passed=True, score=90, source_ref="test", actor="test",
        version=version, attestation_id=attestation.id,
    )  # fmt: skip
    return db.session.scalar(select(Certificate).where(Certificate.completion_id == result.id))


@pytest.mark.parametrize(("locale", "language"), [("es-MX", "es"), ("en", "en")])
def test_the_certificate_and_the_verify_page_name_the_course_in_the_certificate_language(
    app, client, published, locale, language
):
    with app.app_context():
        certificate = certificate_of("María José Fernández", locale)
        db.session.commit()
        assert (certificate.locale, certificate.course_title) == (language, TITLES[language])
        assert document_for(certificate).course_title == TITLES[language]
        code = certificate.code
    page = client.get(f"/verify/{code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<dd lang="{language}">{TITLES[language]}</dd>' in html
    assert client.get(f"/verify/{code}.json").get_json()["course"] == TITLES[language]


def test_a_certificate_keeps_the_title_it_was_issued_with(app, client, published):
    with app.app_context():
        certificate = certificate_of("Bea Ortiz", "es")
        certificate.course_title = TITLES["en"]  # as certificates issued before titles were translated
        db.session.commit()
        code = certificate.code
    assert f'<dd lang="es">{TITLES["en"]}</dd>' in client.get(f"/verify/{code}").get_data(as_text=True)
    assert "Orientación" not in text_of(client.get(f"/verify/{code}"))
