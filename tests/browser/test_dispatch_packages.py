"""Issue 22 in headless Chromium: each dispatch package runs inside an LMS page that hosts a real
SCORM runtime (scorm-again from npm, tests/dispatch/runtime) or follows the cmi5 launch; the learner
walks the course (lessons, attestation, quiz) in the package's frame, and the LMS's committed data
(or the statements its LRS received) shows the result; refusals show a clear page and report nothing.

The LMS (tests/dispatch/lms.py) is http://127.0.0.1:<port>; the tool is https://localhost:<port>
with the production cookies (Secure; SameSite=None; Partitioned), another site, as in
test_lti_iframe.py. The package's page calls the tool across origins; the training runs in the
package page's frame.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Frame, FrameLocator, Page, expect
from sqlalchemy import select

from courses import publishing
from courses.models import Completion
from dispatch import archive, packages
from dispatch.models import DispatchPackage
from quizzes.models import QuizAttempt
from quizzes.published_banks import bank_for_version
from tests import factories
from tests.browser import test_lti_iframe as lms_frame
from tests.browser.support import DESKTOP, choose_answers, correct_answers, screenshot
from tests.browser.tls import HttpsServer
from tests.dispatch.lms import RUNTIME, PackageLms
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import User

app_settings = lms_frame.app_settings
certificate = lms_frame.certificate
https_server = lms_frame.https_server
tls_browser = lms_frame.tls_browser

ORIENTATION, LEADERS = "social-media-orientation", "leaders-on-social-media"
PASSED_RE = re.compile(r"you passed with (\d+)/100")


@pytest.fixture
def lms(app: Flask, https_server: HttpsServer, published: None) -> Iterator[PackageLms]:
    if not (RUNTIME / "scorm12.js").exists():
        pytest.fail(f"{RUNTIME} is missing: run `npm ci --prefix tests/dispatch/runtime` (test.sh does)")
    https_server.mount(app)
    with app.app_context():
        tenant = factories.tenant("acme")
        factories.staff(tenant, "hr@acme.example")
        db.session.commit()
    server = PackageLms()
    server.server.start()
    yield server
    server.server.stop()


@pytest.fixture
def context(tls_browser: Browser) -> Iterator[BrowserContext]:
    made = tls_browser.new_context(viewport=DESKTOP, locale="en-US")
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture
def upload(app: Flask, lms: PackageLms) -> Callable[..., DispatchPackage]:
    """HR makes a package in the console's service; the LMS administrator uploads it."""

    def make(name: str, package_format: str, course: str = ORIENTATION) -> DispatchPackage:
        with app.app_context(), app.test_request_context():
            choice = packages.PackageChoice(course, package_format, lms_name="Test LMS")
            package = packages.create_package(find_tenant("acme"), choice, actor="test")
            lms.upload(name, archive.build_package(package))
            db.session.commit()
            return package

    return make


def training_frame(page: Page) -> FrameLocator:
    return page.frame_locator("iframe#sco").frame_locator("iframe#pw-frame")


def tool_frame(page: Page, https_server: HttpsServer, path_part: str) -> Frame:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame.url.startswith(https_server.url) and path_part in frame.url:
                return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"no tool frame at {path_part}: {[f.url for f in page.frames]}")


def wrong_answers(app: Flask, attempt_id: int) -> dict[str, list[str]]:
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id)
        bank = bank_for_version(publishing.version_by_id(attempt.course_version_id))
        chosen = {}
        for drawn in attempt.questions:
            question = bank.question(drawn["id"])
            chosen[f"q-{drawn['id']}"] = [
                next(o for o in question.option_ids if o not in question.correct_ids)
            ]
        return chosen


def _answers(app: Flask, attempt_id: int, passing: bool, wrong: int) -> dict[str, list[str]]:
    if not passing:
        return wrong_answers(app, attempt_id)
    right, mistakes = correct_answers(app, attempt_id), wrong_answers(app, attempt_id)
    return {field: (mistakes if n < wrong else right)[field] for n, field in enumerate(right)}


def walk_course(
    app: Flask,
    page: Page,
    https_server: HttpsServer,
    course: str,
    *,
    name: str,
    passing: bool = True,
    wrong: int = 0,
    window: Page | None = None,
) -> None:
    """In the package's frame (or the training's own window): every lesson, the attestation, the
    quiz (passed, with `wrong` questions answered wrongly; or failed on every allowed attempt)."""
    training = window or training_frame(page)
    with app.app_context():
        lessons = len(publishing.course_by_slug(course)[1].lessons)
    training.get_by_role("link", name="Start the course").click()
    for number in range(1, lessons + 1):
        expect(training.locator("article .eyebrow")).to_contain_text(f"Lesson {number} of {lessons}")
        last = number == lessons
        training.get_by_role("button", name="Continue to the attestation" if last else "Next lesson").click()
    training.get_by_role("checkbox").check()
    training.get_by_label("Type your full name to sign").fill(name)
    training.get_by_role("button", name="Sign the attestation").click()
    for number in range(1, 2 if passing else 4):
        training.get_by_role("button", name=f"Start attempt {number}").click()
        if window:
            window.wait_for_url(re.compile(r"/quiz/attempts/\d+$"))
        frame = window or tool_frame(page, https_server, "/quiz/attempts/")
        attempt_id = int(frame.url.rsplit("/", 1)[1])
        choose_answers(frame, _answers(app, attempt_id, passing, wrong))
        training.get_by_role("button", name="Submit my answers").click()
        expect(training.get_by_role("heading", level=1)).to_have_text("Your result")
        if not passing and number < 3:
            training.get_by_role("link", name="Quiz and attempts").click()


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def package_page(page: Page):
    return page.frame_locator("iframe#sco")


@pytest.mark.browser
def test_a_scorm_12_package_walks_the_course_and_commits_passed_and_the_score(
    app, lms, upload, context, https_server, backend
):
    upload("orientation-12", "scorm12")
    page = context.new_page()
    page.goto(lms.scorm_course("orientation-12", "scorm12", "u-ada", "Lovelace, Ada"))
    expect(package_page(page).locator("#pw-status")).to_contain_text("Your training is open below")
    wait_for(lambda: lms.commits, "the start's commit")
    assert lms.commits[0]["cmi"]["core"]["lesson_status"] == "incomplete", lms.commits[0]
    expect(training_frame(page).get_by_role("heading", level=1)).to_have_text(
        "Social media policy orientation"
    )
    screenshot(page, f"dispatch-scorm12-overview-{backend}")

    walk_course(app, page, https_server, ORIENTATION, name="Ada Lovelace")
    expect(package_page(page).locator("#pw-status")).to_contain_text("Done: you passed with 100/100")
    core = wait_for(lambda: (lms.last_commit() or {}).get("cmi", {}).get("core", {}), "the result's commit")
    core = lms.last_commit()["cmi"]["core"]
    assert core["lesson_status"] == "passed"
    assert (core["score"]["raw"], core["score"]["min"], core["score"]["max"]) == ("100", "0", "100")
    assert re.fullmatch(r"\d{2,4}:\d\d:\d\d(\.\d+)?", core["session_time"]), core
    screenshot(page, f"dispatch-scorm12-passed-{backend}")
    with app.app_context():
        ada = db.session.scalar(select(User).where(User.subject == "u-ada"))
        completion = db.session.scalar(select(Completion).where(Completion.user_id == ada.id))
        assert (completion.status, completion.score) == ("completed", 100), "the tool's own record"


@pytest.mark.browser
def test_a_scorm_2004_package_commits_completed_passed_and_a_scaled_score(
    app, lms, upload, context, https_server, backend
):
    upload("orientation-2004", "scorm2004")
    page = context.new_page()
    page.goto(lms.scorm_course("orientation-2004", "scorm2004", "u-ada", "Ada Lovelace"))
    wait_for(lambda: lms.commits, "the start's commit")
    assert lms.commits[0]["cmi"]["completion_status"] == "incomplete", lms.commits[0]

    walk_course(app, page, https_server, ORIENTATION, name="Ada Lovelace")
    expect(package_page(page).locator("#pw-status")).to_contain_text("Done: you passed with 100/100")
    cmi = lms.last_commit()["cmi"]
    assert (cmi["completion_status"], cmi["success_status"]) == ("completed", "passed"), cmi
    assert (cmi["score"]["raw"], cmi["score"]["min"], cmi["score"]["max"], cmi["score"]["scaled"]) == (
        "100",
        "0",
        "100",
        "1",
    )
    assert re.fullmatch(r"PT\d+H\d+M\d+(\.\d+)?S", cmi["session_time"]), cmi

    page.goto("about:blank")  # the learner leaves: the page ends its session (exit normal, Terminate)
    final = wait_for(
        lambda: lms.last_commit()["cmi"].get("exit") == "normal" and lms.last_commit(), "Terminate"
    )
    assert final["cmi"]["success_status"] == "passed"


@pytest.mark.browser
def test_a_failed_attempt_commits_failed_with_the_score(app, lms, upload, context, https_server, backend):
    upload("leaders-12", "scorm12", course=LEADERS)
    page = context.new_page()
    page.goto(lms.scorm_course("leaders-12", "scorm12", "u-bea", "Boss, Bea"))
    walk_course(app, page, https_server, LEADERS, name="Bea Boss", passing=False)
    expect(package_page(page).locator("#pw-status")).to_contain_text(
        "Your result, 0/100, was sent to your LMS"
    )
    core = lms.last_commit()["cmi"]["core"]
    assert (core["lesson_status"], core["score"]["raw"]) == ("failed", "0"), core
    screenshot(page, f"dispatch-scorm12-failed-{backend}")


@pytest.mark.browser
def test_a_cmi5_au_sends_its_statements_with_the_lms_token(app, lms, upload, context, https_server, backend):
    upload("leaders-cmi5", "cmi5", course=LEADERS)
    page = context.new_page()
    page.goto(lms.cmi5_course("leaders-cmi5", "u-bea", "Bea Boss"))
    wait_for(lambda: "initialized" in lms.verbs(), "initialized")
    walk_course(app, page, https_server, LEADERS, name="Bea Boss")
    wait_for(lambda: "completed" in lms.verbs(), "completed")
    page.goto("about:blank")
    wait_for(lambda: "terminated" in lms.verbs(), "terminated")
    assert lms.verbs() == ["initialized", "passed", "completed", "terminated"]
    passed = next(s for s in lms.statements if s["verb"]["id"].endswith("/passed"))
    launch = next(iter(lms.cmi5.values()))
    assert passed["result"]["success"] is True and passed["result"]["score"]["scaled"] == 1
    assert passed["actor"] == launch.actor and passed["object"]["id"] == launch.activity_id
    assert passed["context"]["registration"] == launch.registration
    categories = {c["id"] for c in passed["context"]["contextActivities"]["category"]}
    assert categories == {
        "https://w3id.org/xapi/cmi5/context/categories/cmi5",
        "https://w3id.org/xapi/cmi5/context/categories/moveon",
    }
    session = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
    assert (
        passed["context"]["extensions"][session]
        == launch.launch_data["contextTemplate"]["extensions"][session]
    )
    assert all(re.fullmatch(r"PT\d+H\d+M\d+S", s["result"]["duration"]) for s in lms.statements[1:])


@pytest.mark.browser
def test_a_cmi5_au_under_the_lms_mastery_score_reports_failed_while_the_tool_records_its_pass(
    app, lms, upload, context, https_server, backend
):
    """cmi5's masteryScore is the LMS's pass mark and overrides the tool's (80): one wrong answer
    passes the tool and fails a 0.95 mastery score, so the AU sends failed with the score and no
    completed."""
    upload("leaders-cmi5", "cmi5", course=LEADERS)
    page = context.new_page()
    page.goto(lms.cmi5_course("leaders-cmi5", "u-bea", "Bea Boss", masteryScore=0.95))
    wait_for(lambda: "initialized" in lms.verbs(), "initialized")
    walk_course(app, page, https_server, LEADERS, name="Bea Boss", wrong=1)
    wait_for(lambda: "failed" in lms.verbs(), "failed")
    page.goto("about:blank")
    wait_for(lambda: "terminated" in lms.verbs(), "terminated")
    assert lms.verbs() == ["initialized", "failed", "terminated"]
    with app.app_context():
        bea = db.session.scalar(select(User).where(User.subject == "u-bea"))
        completion = db.session.scalar(select(Completion).where(Completion.user_id == bea.id))
    assert completion.status == "completed" and 80 <= completion.score < 95, "the tool's own record: a pass"
    failed = next(s for s in lms.statements if s["verb"]["id"].endswith("/failed"))
    assert failed["result"]["success"] is False
    assert failed["result"]["score"]["scaled"] == completion.score / 100
    mastery = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore"
    assert failed["context"]["extensions"][mastery] == 0.95


@pytest.mark.browser
def test_a_cmi5_au_in_browse_mode_reports_no_result(app, lms, upload, context, https_server, backend):
    """Browse (and Review) mode: the learner may look; the AU sends initialized and terminated
    only, never passed, failed or completed (cmi5 section 10.2.2)."""
    upload("leaders-cmi5", "cmi5", course=LEADERS)
    page = context.new_page()
    page.goto(lms.cmi5_course("leaders-cmi5", "u-bea", "Bea Boss", launchMode="Browse"))
    wait_for(lambda: "initialized" in lms.verbs(), "initialized")
    walk_course(app, page, https_server, LEADERS, name="Bea Boss")
    page.goto("about:blank")
    wait_for(lambda: "terminated" in lms.verbs(), "terminated")
    assert lms.verbs() == ["initialized", "terminated"]


@pytest.mark.browser
def test_an_edited_package_and_a_replayed_launch_are_refused(
    app, lms, upload, context, https_server, certificate, backend
):
    upload("orientation-12", "scorm12")
    launches: list[dict[str, Any]] = []

    def keep(request) -> None:
        if request.url.endswith("/dispatch/api/launches") and request.method == "POST":
            launches.append(json.loads(request.post_data))

    context.on("request", keep)
    page = context.new_page()
    page.goto(lms.scorm_course("orientation-12", "scorm12", "u-ada", "Lovelace, Ada"))
    expect(package_page(page).locator("#pw-status")).to_contain_text("Your training is open below")
    replay = requests.post(
        f"{https_server.url}/dispatch/api/launches", json=launches[0], verify=str(certificate[0]), timeout=10
    )
    assert (replay.status_code, replay.json()["code"]) == (409, "replayed_launch")

    files = lms.packages["orientation-12"]
    index = files["index.html"].decode()
    secret = re.search(r'"secret": "([^"]+)"', index).group(1)
    lms.packages["edited"] = {**files, "index.html": index.replace(secret, secret[::-1]).encode()}
    commits_before = len(lms.commits)
    edited = context.new_page()
    edited.goto(lms.scorm_course("edited", "scorm12", "u-eve", "Mallory, Eve"))
    problem = package_page(edited).locator("#pw-problem")
    expect(problem).to_contain_text("could not be verified")
    expect(package_page(edited).locator("iframe")).to_have_count(0)
    reported = [c["cmi"]["core"] for c in lms.commits[commits_before:]]  # LMSFinish commits what it has
    assert all(c["lesson_status"] == "not attempted" and not c["score"]["raw"] for c in reported), reported
    screenshot(edited, f"dispatch-edited-package-{backend}")
    with app.app_context():
        assert db.session.scalar(select(User).where(User.subject == "u-eve")) is None


@pytest.mark.browser
def test_a_revoked_package_says_so_and_reports_nothing(app, lms, upload, context, backend):
    package = upload("orientation-2004", "scorm2004")
    with app.app_context():
        packages.revoke(db.session.get(DispatchPackage, package.id), actor="test")
        db.session.commit()
    page = context.new_page()
    page.goto(lms.scorm_course("orientation-2004", "scorm2004", "u-ada", "Ada Lovelace"))
    expect(package_page(page).locator("#pw-problem")).to_contain_text("withdrawn by your HR team")
    expect(package_page(page).locator("#pw-status")).to_be_hidden()
    assert {c["cmi"]["completion_status"] for c in lms.commits} <= {"unknown", "not attempted"}, (
        "nothing reported"
    )
    screenshot(page, f"dispatch-revoked-{backend}")


@pytest.mark.browser
def test_without_a_scorm_api_or_a_learner_id_the_page_says_why(lms, upload, context, backend):
    upload("orientation-12", "scorm12")
    page = context.new_page()
    page.goto(lms.url("/package/orientation-12/index.html"))  # the file opened outside an LMS
    expect(page.locator("#pw-problem")).to_contain_text("could not find the LMS's SCORM connection")
    expect(page.locator("body")).to_have_attribute("data-state", "refused")
    screenshot(page, f"dispatch-no-api-{backend}")

    nobody = context.new_page()
    nobody.goto(lms.scorm_course("orientation-12", "scorm12", "", "Someone"))
    expect(package_page(nobody).locator("#pw-problem")).to_contain_text("learner id is empty")
    assert {c["cmi"]["core"]["lesson_status"] for c in lms.commits} <= {"not attempted"}, "nothing reported"


@pytest.mark.browser
def test_a_result_the_lms_missed_is_sent_on_the_next_launch(app, lms, upload, context, https_server, backend):
    """Ada passes, but her package page never hears of it (the network drops its checks), so the
    LMS keeps "incomplete"; her next launch sends the result the tool recorded."""
    upload("orientation-12", "scorm12")
    page = context.new_page()
    page.route(f"{https_server.url}/dispatch/api/launch", lambda route: route.abort())
    page.goto(lms.scorm_course("orientation-12", "scorm12", "u-ada", "Lovelace, Ada"))
    walk_course(app, page, https_server, ORIENTATION, name="Ada Lovelace")
    page.close()
    assert {c["cmi"]["core"]["lesson_status"] for c in lms.commits} == {"incomplete"}

    lms.commits.clear()
    again = context.new_page()
    again.goto(lms.scorm_course("orientation-12", "scorm12", "u-ada", "Lovelace, Ada"))
    expect(package_page(again).locator("#pw-status")).to_contain_text("Done: you passed with 100/100")
    core = wait_for(lambda: lms.last_commit(), "the commit of the result")["cmi"]["core"]
    assert core["lesson_status"] == "passed" and core["score"]["raw"] == "100"
    statuses = [c["cmi"]["core"]["lesson_status"] for c in lms.commits]
    assert "incomplete" not in statuses[statuses.index("passed") :], f"never set back: {statuses}"


@pytest.mark.browser
def test_the_console_page_and_the_package_page_pass_axe(app, lms, upload, context, https_server, backend):
    """HR's packages page (created, rotated, revoked rows and the form with an error), and the
    package's own page as the learner sees it in the LMS, refused or working."""
    from tests.browser.support import accessibility_problems

    active = upload("orientation-12", "scorm12")
    revoked = upload("leaders-cmi5", "cmi5", course=LEADERS)
    with app.app_context():
        packages.rotate_secret(db.session.get(DispatchPackage, active.id), actor="test")
        packages.revoke(db.session.get(DispatchPackage, revoked.id), actor="test")
        db.session.commit()
    page = context.new_page()
    page.goto(f"{https_server.url}/login")
    page.get_by_label("Email").fill("hr@acme.example")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/$"))
    page.goto(f"{https_server.url}/console/lms")
    page.get_by_role("link", name="SCORM and cmi5 packages").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("SCORM and cmi5 packages")
    problems = [accessibility_problems(page, "packages")]
    screenshot(page, f"dispatch-console-{backend}")
    page.get_by_label("Which LMS it is for").fill("")
    page.get_by_role("button", name="Create the package").click()
    expect(page.locator(".field-error").first).to_be_visible()
    problems.append(accessibility_problems(page, "packages, form with an error"))

    learner = context.new_page()
    learner.goto(lms.url("/package/orientation-12/index.html"))
    expect(learner.locator("#pw-problem")).to_be_visible()
    problems.append(accessibility_problems(learner, "package page without an LMS"))
    learner.goto(lms.scorm_course("orientation-12", "scorm12", "u-ada", "Lovelace, Ada"))
    expect(package_page(learner).locator("#pw-status")).to_contain_text("Your training is open below")
    problems.append(accessibility_problems(learner, "package page in the LMS, training open"))
    assert [p for p in problems if p] == []


@pytest.mark.browser
def test_a_package_that_opens_a_new_window_reports_from_the_lms_page(
    app, lms, context, https_server, backend
):
    """HR chose "in a new window": the LMS page offers a button; the training opens in a window of
    its own (first-party cookies), and the package's page, kept open, reports the result."""
    with app.app_context(), app.test_request_context():
        choice = packages.PackageChoice(LEADERS, "scorm2004", lms_name="Test LMS", opens_in="window")
        package = packages.create_package(find_tenant("acme"), choice, actor="test")
        lms.upload("leaders-window", archive.build_package(package))
        db.session.commit()
    page = context.new_page()
    page.goto(lms.scorm_course("leaders-window", "scorm2004", "u-bea", "Boss, Bea"))
    sco = package_page(page)
    expect(sco.locator("#pw-status")).to_contain_text("The training opens in a new window")
    expect(sco.locator("iframe")).to_have_count(0)
    with context.expect_page() as opened:
        sco.get_by_role("button", name="Open the training").click()
    window = opened.value
    expect(window.get_by_role("heading", level=1)).to_have_text("Leaders and managers on social media")
    assert window.evaluate("window.top === window"), "a window of its own"
    walk_course(app, page, https_server, LEADERS, name="Bea Boss", window=window)
    window.close()
    expect(sco.locator("#pw-status")).to_contain_text("Done: you passed with 100/100")
    cmi = lms.last_commit()["cmi"]
    assert (cmi["completion_status"], cmi["success_status"], cmi["score"]["raw"]) == (
        "completed",
        "passed",
        "100",
    )
