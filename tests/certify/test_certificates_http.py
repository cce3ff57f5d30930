"""Certificates through the app: issued on completion, downloaded, verified, revoked, exported."""

import base64
import io
import json
import zipfile
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from certificates import credentials
from certificates.models import Certificate
from courses import services as learning
from courses.models import Completion, Enrolment
from tests import factories
from tests.certify.pdfs import plain_text, qr_codes
from tests.helpers import FormClient, sign_in_learner, text_of
from tests.journeys import COURSE, answer_key, ready_for_quiz, start, submit
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant, User


def pass_the_quiz(app, client) -> Certificate:
    attempt_id = start(client)
    response = submit(client, attempt_id, answer_key(app, attempt_id, right=9))
    assert "You passed" in text_of(response)
    with app.app_context():
        return db.session.scalar(select(Certificate).order_by(Certificate.id.desc()))


@pytest.fixture
def certificate(app, client, learner):
    return pass_the_quiz(app, client)


@pytest.fixture
def hr(app, learner):
    client = FormClient(app)
    client.login("hr@acme.example", factories.PASSWORD)
    return client


def test_passing_issues_a_certificate_the_learner_downloads(app, client, certificate):
    assert len(certificate.code) == 19 and certificate.score == 90
    assert certificate.holder_name == "Ada Lovelace" and certificate.expires_at is not None
    overview = text_of(client.get(f"/courses/{COURSE}/"))
    assert "Download your certificate (PDF)" in overview
    pdf = client.get(f"/certificates/{certificate.id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = plain_text(pdf.data)
    for expected in ("Ada Lovelace", "Social media policy orientation", certificate.code, "90"):
        assert expected in text
    assert qr_codes(pdf.data) == [f"http://localhost/verify/{certificate.code}"]
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "certificate.issued"))


def test_a_failed_result_issues_no_certificate(app, client, learner):
    for _ in range(3):
        attempt_id = start(client)
        submit(client, attempt_id, answer_key(app, attempt_id, right=1))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_verification_states_valid_expired_revoked_unknown(app, client, hr, certificate):
    public = FormClient(app)  # nobody signed in
    valid = public.get(f"/verify/{certificate.code.lower().replace('-', ' ')}")
    assert valid.status_code == 200 and "This certificate is valid" in text_of(valid)
    assert "Ada Lovelace" in text_of(valid) and "Social media policy orientation" in text_of(valid)
    assert "ada@" not in text_of(valid) and "90" not in text_of(valid).split("Policy version")[0][-20:]
    as_json = public.get(f"/verify/{certificate.code}.json").json
    assert as_json["status"] == "valid" and as_json["holder"] == "Ada Lovelace"
    assert set(as_json) == {
        "code",
        "status",
        "holder",
        "course",
        "policy_version",
        "issuer",
        "completed_at",
        "expires_at",
        "revoked_at",
    }

    with time_machine.travel(certificate.expires_at + timedelta(days=1)):
        expired = public.get(f"/verify/{certificate.code}")
        assert "This certificate has expired" in text_of(expired)
        assert public.get(f"/verify/{certificate.code}.json").json["status"] == "expired"

    unconfirmed = hr.submit(
        "/console/certificates",
        {"reason": "Issued to the wrong person"},
        action=f"/console/certificates/{certificate.id}/revoke",
    )
    assert unconfirmed.status_code == 422 and "tick the box to confirm" in text_of(unconfirmed)
    assert public.get(f"/verify/{certificate.code}.json").json["status"] != "revoked"
    revoked = hr.submit(
        "/console/certificates",
        {"reason": "Issued to the wrong person", "confirm": "y"},
        action=f"/console/certificates/{certificate.id}/revoke",
    )
    assert revoked.status_code == 303
    page = text_of(public.get(f"/verify/{certificate.code}"))
    assert "This certificate was revoked" in page and "Revoked on" in page
    assert "wrong person" not in page  # the reason is never public
    assert public.get(f"/verify/{certificate.code}.json").json["status"] == "revoked"

    unknown = public.get("/verify/AAAA-BBBB-CCCC-DDDD")
    assert unknown.status_code == 404 and "No certificate has this code" in text_of(unknown)
    assert public.get("/verify/AAAA-BBBB-CCCC-DDDD.json").json == {
        "code": "AAAA-BBBB-CCCC-DDDD",
        "status": "unknown",
    }


@pytest.mark.parametrize("bad", ["12", "ABCD-EFGH-!!!!-1234", "X" * 65, "AAAA-BBBB-CCCC-DDDD-EEEE"])
def test_malformed_codes_get_a_clear_400(app, bad):
    public = FormClient(app)
    page = public.get(f"/verify/{bad}")
    assert page.status_code == 400 and "Verify a certificate" in text_of(page)
    assert public.get(f"/verify/{bad}.json").status_code == 400


def test_the_verification_page_can_show_initials_only(app, client, hr, certificate):
    with app.app_context():
        from certificates.models import Branding

        db.session.add(Branding(tenant_id=certificate.tenant_id, initials_only=True))
        db.session.commit()
    page = text_of(FormClient(app).get(f"/verify/{certificate.code}"))
    assert "A. L." in page and "Ada Lovelace" not in page


def test_the_verification_page_is_rate_limited(app, certificate):
    public = FormClient(app)
    responses = [public.get(f"/verify/{certificate.code}") for _ in range(32)]
    assert [r.status_code for r in responses[:30]] == [200] * 30 and responses[-1].status_code == 429
    refused = text_of(responses[-1])
    assert "Too many requests in a short time. Wait a minute and try again." in refused
    assert "per 1 minute" not in refused and responses[-1].headers["Retry-After"]


def test_another_learners_or_a_revoked_certificate_cannot_be_downloaded(app, client, hr, certificate):
    with app.app_context():
        eve = factories.learner(db.session.get(Tenant, certificate.tenant_id), "Eve Other", subject="eve")
        db.session.commit()
        eve_id = eve.id
    eve_client = FormClient(app)
    sign_in_learner(eve_client, eve_id)
    assert eve_client.get(f"/certificates/{certificate.id}.pdf").status_code == 404
    assert eve_client.get(f"/certificates/{certificate.id}/credential.json").status_code == 404
    hr.submit(
        "/console/certificates",
        {"reason": "Left the company before finishing", "confirm": "y"},
        action=f"/console/certificates/{certificate.id}/revoke",
    )
    gone = client.get(f"/certificates/{certificate.id}.pdf")
    assert gone.status_code == 410 and "was revoked" in text_of(gone)
    assert client.get(f"/certificates/{certificate.id + 999}.pdf").status_code == 404


def test_recertification_issues_a_new_certificate_and_keeps_the_history(app, client, certificate):
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment))
        learning.start_new_cycle(
            enrolment, source="recertification", due_at=certificate.expires_at, actor="test"
        )
        ready_for_quiz(db.session.get(User, enrolment.user_id))
        db.session.commit()
    second = pass_the_quiz(app, client)
    assert second.id != certificate.id and second.code != certificate.code
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Certificate)) == 2
        assert db.session.scalar(select(func.count()).select_from(Completion)) == 2
    assert "This certificate is valid" in text_of(FormClient(app).get(f"/verify/{certificate.code}"))


def test_hr_downloads_one_certificate_or_a_zip_of_a_filter(app, hr, certificate):
    one = hr.get(f"/console/certificates/{certificate.id}.pdf")
    assert one.status_code == 200 and certificate.code in plain_text(one.data)
    bundle = hr.get("/console/certificates/export.zip?status=valid&course=social-media-orientation")
    names = zipfile.ZipFile(io.BytesIO(bundle.data)).namelist()
    assert len(names) == 1 and certificate.code in names[0]
    empty = hr.get("/console/certificates/export.zip?status=revoked")
    assert empty.status_code == 422


def test_staff_of_another_tenant_cannot_reach_the_certificate(app, certificate):
    with app.app_context():
        globex = factories.tenant("globex", "Globex")
        factories.staff(globex, "hr@globex.example")
        db.session.commit()
    other = FormClient(app)
    other.login("hr@globex.example", factories.PASSWORD)
    assert other.get(f"/console/certificates/{certificate.id}.pdf").status_code == 404
    assert certificate.code not in text_of(other.get("/console/certificates"))
    refused = other.post_form(
        f"/console/certificates/{certificate.id}/revoke", {"reason": "mine now", "confirm": "y"}
    )
    assert refused.status_code == 404


def test_the_export_command_writes_a_zip_with_a_progress_bar(app, certificate, tmp_path):
    out = tmp_path / "all.zip"
    result = app.test_cli_runner().invoke(
        args=["certificates", "export", "--out", str(out), "--tenant", "acme", "--status", "valid"]
    )
    assert result.exit_code == 0, result.output
    assert "Rendering certificates" in result.output and "Wrote 1 certificate(s)" in result.output
    assert len(zipfile.ZipFile(out).namelist()) == 1
    none = app.test_cli_runner().invoke(
        args=[
            "certificates",
            "export",
            "--out",
            str(tmp_path / "x.zip"),
            "--tenant",
            "acme",
            "--status",
            "revoked",
        ]
    )
    assert none.exit_code == 1 and "No certificate matches" in none.output
    assert not (tmp_path / "x.zip").exists()


def test_the_open_badge_validates_verifies_with_the_published_key_and_shows_revocation(
    app, client, hr, certificate, validator
):
    token = client.get(f"/certificates/{certificate.id}/credential.jwt")
    assert token.status_code == 200 and token.mimetype == "application/vc+jwt"
    header = json.loads(base64.urlsafe_b64decode(token.data.split(b".")[0] + b"=="))
    key_path = header["kid"].removeprefix("http://localhost")
    public_jwk = FormClient(app).get(key_path).json
    assert "d" not in public_jwk
    verified = credentials.verify_credential_jwt(token.get_data(as_text=True), public_jwk)
    credential = client.get(f"/certificates/{certificate.id}/credential.json").json
    errors = sorted(validator.iter_errors(credential), key=str)
    assert errors == [], [e.message for e in errors]
    assert verified["id"] == certificate.credential_id == credential["id"]
    assert verified["credentialSubject"]["result"][0]["value"] == "90"
    status_url = credential["credentialStatus"]["id"].removeprefix("http://localhost")
    issuer = FormClient(app).get(credential["issuer"]["id"].removeprefix("http://localhost")).json
    assert issuer["name"] == "Acme Corporation"
    assert not credentials.is_revoked(credential, FormClient(app).get(status_url).json)
    hr.submit(
        "/console/certificates",
        {"reason": "Policy breach investigation", "confirm": "y"},
        action=f"/console/certificates/{certificate.id}/revoke",
    )
    assert credentials.is_revoked(credential, FormClient(app).get(status_url).json)


def test_branding_is_saved_validated_and_previewed(app, hr, certificate):
    bad = hr.submit("/console/branding", {"primary_colour": "blue", "accent_colour": "#b8860b"})
    assert bad.status_code == 422 and "#rrggbb" in text_of(bad)
    assert "Main colour" in text_of(bad) and "primary_colour" not in text_of(bad).split("<form")[0]
    logo = (io.BytesIO(b"not really a png"), "logo.png", "image/png")
    fake = hr.submit(
        "/console/branding",
        {"primary_colour": "#112233", "accent_colour": "#445566", "logo": logo},
        content_type="multipart/form-data",
    )
    assert fake.status_code == 422 and "does not contain image/png data" in text_of(fake)
    assert "Logo (PNG, JPEG, SVG or WebP, up to 1 MiB): the file does not contain" in text_of(fake)
    saved = hr.submit(
        "/console/branding",
        {
            "primary_colour": "#112233",
            "accent_colour": "#445566",
            "signatory_name": "Hannah Reyes",
            "signatory_title": "HR Director",
        },
    )
    assert saved.status_code == 303
    preview = hr.get("/console/branding/preview.png")
    assert preview.status_code == 200 and preview.data.startswith(b"\x89PNG")
    pdf = hr.get(f"/console/certificates/{certificate.id}.pdf")
    assert "Hannah Reyes" in plain_text(pdf.data) and "HR Director" in plain_text(pdf.data)


def test_expiry_follows_recertify_every_days(app, certificate):
    assert certificate.expires_at - certificate.completed_at == timedelta(days=365)
    assert utcnow() < certificate.expires_at
