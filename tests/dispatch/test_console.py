"""Issue 22, HR's side: LMS connections › SCORM and cmi5 packages (create, download, replace the
secret, revoke; HR administrators only, audited; another tenant's package is not found) and the
`flask dispatch` commands."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from dispatch.models import DispatchPackage
from tests import factories
from tests.conftest import count_rows
from tests.dispatch.conftest import ORIENTATION, unpack
from tests.helpers import text_of
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import AuditEvent

PAGE = "/console/lms/packages"


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def create(client, **fields):
    form = {
        "lms_name": "Cornerstone",
        "course": ORIENTATION,
        "format": "scorm2004",
        "learner_id_is": "employee_id",
        "opens_in": "frame",
        **fields,
    }
    return client.submit(PAGE, form)


@pytest.fixture
def hr(client, acme):
    client.login("hr@acme.example", factories.PASSWORD)
    return client


def only_package(app) -> DispatchPackage:
    with app.app_context():
        return db.session.scalars(select(DispatchPackage)).one()


def test_hr_creates_and_downloads_a_package(app, hr):
    lms_page = text_of(hr.get("/console/lms"))
    assert "SCORM and cmi5 packages" in lms_page and PAGE in lms_page
    response = create(hr)
    assert response.status_code == 303
    page = text_of(hr.get(PAGE))
    package = only_package(app)
    assert "Cornerstone" in page and package.dispatch_id in page and "SCORM 2004 4th edition" in page
    assert "Social media policy orientation" in page

    download = hr.get(f"{PAGE}/{package.id}/download")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert (
        "postwise-social-media-orientation-scorm2004-cornerstone.zip"
        in download.headers["Content-Disposition"]
    )
    assert "no-store" in download.headers["Cache-Control"]
    files = unpack(download.data)
    assert sorted(files) == ["imsmanifest.xml", "index.html", "postwise-dispatch.js"]
    assert audit_actions(app)[-2:] == ["dispatch.package_created", "dispatch.package_downloaded"]


def test_a_form_with_problems_says_which(app, hr):
    response = create(hr, lms_name="", format="scorm3000")
    assert response.status_code == 422
    assert "This field is required." in text_of(response) and "Not a valid choice" in text_of(response)
    with app.app_context():
        assert count_rows("dispatch_packages") == 0


def test_replacing_the_secret_and_revoking(app, hr):
    create(hr)
    package = only_package(app)
    before = unpack(hr.get(f"{PAGE}/{package.id}/download").data)["index.html"]
    rotated = hr.submit(PAGE, {"grace_days": "3"}, action=f"{PAGE}/{package.id}/rotate")
    assert rotated.status_code == 303
    assert "keeps working for 3 day(s)" in text_of(hr.get(PAGE))
    after = unpack(hr.get(f"{PAGE}/{package.id}/download").data)["index.html"]
    assert before != after, "the new download carries the new secret"
    assert only_package(app).secret_generation == 2

    assert hr.submit(PAGE, {"grace_days": "365"}, action=f"{PAGE}/{package.id}/rotate").status_code == 303
    assert only_package(app).secret_generation == 2, "a grace period over 90 days is refused"

    assert hr.submit(PAGE, {}, action=f"{PAGE}/{package.id}/revoke").status_code == 303
    assert "revoked" in text_of(hr.get(PAGE))
    assert hr.get(f"{PAGE}/{package.id}/download").status_code == 409
    assert hr.submit(PAGE, {}, action=f"{PAGE}/{package.id}/revoke").status_code == 409
    actions = audit_actions(app)
    assert "dispatch.secret_rotated" in actions and actions[-1] == "dispatch.package_revoked"


def test_an_auditor_sees_the_packages_but_changes_nothing(app, client, acme):
    with app.app_context():
        factories.staff(find_tenant("acme"), "auditor@acme.example", "auditor")
        db.session.commit()
    client.login("hr@acme.example", factories.PASSWORD)
    create(client)
    package = only_package(app)
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    auditor = app.test_client()
    from tests.helpers import FormClient

    auditor = FormClient(app)
    auditor.login("auditor@acme.example", factories.PASSWORD)
    page = text_of(auditor.get(PAGE))
    assert "Cornerstone" in page and "Download" not in page and "Create the package" not in page
    assert auditor.get(f"{PAGE}/{package.id}/download").status_code == 403
    assert auditor.post_form(f"{PAGE}/{package.id}/revoke", {}).status_code == 403
    assert (
        auditor.post_form(PAGE, {"lms_name": "X", "course": ORIENTATION, "format": "cmi5"}).status_code == 403
    )
    assert only_package(app).revoked_at is None


def test_another_tenants_package_is_not_found(app, hr):
    with app.app_context():
        from dispatch import packages

        globex = factories.tenant("globex", "Globex")
        other = packages.create_package(globex, packages.PackageChoice(ORIENTATION, "cmi5"), actor="test")
        db.session.commit()
        other_id = other.id
    assert hr.get(f"{PAGE}/{other_id}/download").status_code == 404
    assert hr.post_form(f"{PAGE}/{other_id}/revoke", {}).status_code == 404
    assert hr.post_form(f"{PAGE}/{other_id}/rotate", {"grace_days": "1"}).status_code == 404
    assert "Globex" not in text_of(hr.get(PAGE))


def test_the_cli_writes_rotates_and_revokes_a_package(app, acme, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "package.zip"
    args = ["dispatch", "package", "--tenant", "acme", "--course", ORIENTATION, "--format", "cmi5"]
    result = runner.invoke(args=[*args, "--out", str(out), "--lms-name", "Docebo"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as archive_file:
        assert sorted(archive_file.namelist()) == ["cmi5.xml", "index.html", "postwise-dispatch.js"]
    package = only_package(app)
    assert package.dispatch_id in result.output and package.lms_name == "Docebo"
    listed = runner.invoke(args=["dispatch", "list", "--tenant", "acme"])
    assert package.dispatch_id in listed.output and "active" in listed.output
    rotated = runner.invoke(
        args=[
            "dispatch",
            "rotate",
            "--tenant",
            "acme",
            "--dispatch-id",
            package.dispatch_id,
            "--out",
            str(out),
        ]
    )
    assert rotated.exit_code == 0 and "14 day(s)" in rotated.output
    revoked = runner.invoke(
        args=["dispatch", "revoke", "--tenant", "acme", "--dispatch-id", package.dispatch_id]
    )
    assert revoked.exit_code == 0 and only_package(app).revoked_at is not None
    unknown = runner.invoke(args=["dispatch", "revoke", "--tenant", "acme", "--dispatch-id", "nope"])
    assert unknown.exit_code != 0 and "has no package nope" in unknown.output
    bad_course = runner.invoke(args=[*args[:4], "--course", "nope", "--format", "cmi5", "--out", str(out)])
    assert bad_course.exit_code != 0 and "no published course" in bad_course.output
    assert "dispatch.package_created" in audit_actions(app)
