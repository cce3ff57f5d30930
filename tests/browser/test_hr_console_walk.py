"""An HR auditor's walk in headless Chromium, in English and in Spanish (issue #16): the dashboard,
a number on it that opens its filtered list, an employee's page, an export download and evidence
packs (one person's at once, a filtered set's through the outbox worker), with a screenshot and
axe-core on every page. The auditor is read-only, and everything on the walk is reading.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Download, Page, expect

from reports.evidence_archive import verify_pack
from tests.browser.support import screenshot
from tests.browser.test_accessibility import AxeAudit
from training_app import demo, outbox
from training_app.extensions import db

# What each language shows, by the element it is in: the walk checks the page speaks it.
WORDS = {
    "en": {
        "rate": "Completion rate",
        "overdue": "Overdue",
        "total": re.compile(r"(\d+) enrolment\(s\)"),
        "person_pack": "Download evidence pack (ZIP)",
        "build_pack": "Build evidence pack",
        "download_zip": "Download the ZIP",
    },
    "es": {
        "rate": "Tasa de finalización",
        "overdue": "Atrasado",
        "total": re.compile(r"(\d+) inscripción\(es\)"),
        "person_pack": "Descargar el paquete de evidencias (ZIP)",
        "build_pack": "Generar el paquete de evidencias",
        "download_zip": "Descargar el ZIP",
    },
}


@pytest.fixture
def demo_company(app) -> None:
    with app.app_context():
        demo.load()
        db.session.commit()


def sign_in(page: Page, live_url: str, email: str) -> None:
    page.goto(f"{live_url}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/console/$"))


def saved(download: Download, folder: Path) -> Path:
    path = folder / download.suggested_filename
    download.save_as(path)
    return path


def visit(page: Page, audit: AxeAudit, lang: str, step: str) -> None:
    """Each page of the walk: in the chosen language, a screenshot, axe-core."""
    expect(page.locator("html")).to_have_attribute("lang", lang)
    screenshot(page, f"hr-walk-{lang}-{step}")
    audit.check(page, f"{step} ({lang})")


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_an_auditor_walks_the_dashboard_a_filter_an_employee_an_export_and_evidence_packs(
    app, demo_company, live_url, new_context, locale, tmp_path
):
    lang = locale[:2]
    words = WORDS[lang]
    audit = AxeAudit()
    page = new_context(locale=locale, accept_downloads=True).new_page()
    sign_in(page, live_url, "auditor@acme.example")

    expect(page.locator("#card-rate")).to_have_text(words["rate"])
    visit(page, audit, lang, "1-dashboard")

    overdue = page.locator("section[aria-labelledby=card-overdue] .stat a")
    expect(page.locator("#card-overdue")).to_have_text(words["overdue"])
    count = int(overdue.inner_text())
    overdue.click()
    page.wait_for_url(re.compile(r"/console/learners\?"))
    assert parse_qs(urlsplit(page.url).query) == {"status": ["overdue"]}, "the filter is in the URL"
    total = words["total"].search(page.locator("p.muted").filter(has_text=words["total"]).inner_text())
    assert total and int(total.group(1)) == count, "the list behind the number has that many rows"
    visit(page, audit, lang, "2-overdue-list")

    with page.expect_download() as exported:
        page.locator("a[href*='/learners/export.csv']").click()
    csv_file = saved(exported.value, tmp_path)
    assert re.fullmatch(r"completions-acme-\d{8}T\d{6}Z\.csv", csv_file.name), csv_file.name
    rows = list(csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8-sig"))))
    assert len(rows) == count and {row["status"] for row in rows} == {"overdue"}
    overdue_people = len({row["email"] for row in rows})

    first_person = page.locator("table tbody tr td a").first
    name = first_person.inner_text()
    first_person.click()
    page.wait_for_url(re.compile(r"/console/learners/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    visit(page, audit, lang, "3-employee")

    with page.expect_download() as person_pack:
        page.get_by_role("link", name=words["person_pack"]).click()
    assert_pack_verifies(app, live_url, saved(person_pack.value, tmp_path), people=1)

    page.goto(f"{live_url}/console/evidence")
    visit(page, audit, lang, "4-evidence-packs")
    page.locator("select[name=status]").select_option("overdue")
    page.get_by_role("button", name=words["build_pack"]).click()
    page.wait_for_url(re.compile(r"/console/evidence/\d+$"))
    visit(page, audit, lang, "5-pack-queued")
    with app.app_context():
        assert outbox.run_worker(once=True) >= 1, "the outbox worker builds the pack"
    download = page.get_by_role("link", name=words["download_zip"])
    expect(download).to_be_visible(timeout=10_000)  # the page polls its progress and shows the link
    visit(page, audit, lang, "6-pack-ready")
    with page.expect_download() as set_pack:
        download.click()
    assert_pack_verifies(app, live_url, saved(set_pack.value, tmp_path), people=overdue_people)

    audit.assert_clean()


def assert_pack_verifies(app, live_url: str, path: Path, *, people: int) -> None:
    """The pack's manifest checks against the key it names, fetched as an auditor would."""
    with zipfile.ZipFile(path) as archive:
        manifest_key_url = _manifest(archive)["verification_key_url"]
    with app.test_client() as anonymous:
        public_jwk = anonymous.get(urlsplit(manifest_key_url).path).get_json()
    checked = verify_pack(path, public_jwk)
    assert checked.problems == [], checked.problems
    assert checked.manifest is not None and checked.manifest["people"] == people


def _manifest(archive: zipfile.ZipFile) -> dict:
    return json.loads(archive.read("manifest.json"))
