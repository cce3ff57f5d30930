"""An LMS that imports dispatch packages, for the browser tests, on http://127.0.0.1:<port>.

SCORM: its course page hosts a real SCORM runtime, scorm-again (npm, installed under
tests/dispatch/runtime by test.sh), as `window.API` (1.2) or `window.API_1484_11` (2004), loaded
with the learner's id and name, and frames the package's launch page as the SCO. The runtime commits
to `/commit` (JSON, as scorm-again sends it); each commit is recorded.

cmi5: its course page frames the AU with the cmi5 launch parameters; it answers the fetch URL
(once per launch) with an auth token, serves the LMS.LaunchData state document and records the
statements posted to its xAPI endpoint (checking the token).
"""

from __future__ import annotations

import html
import io
import json
import secrets
import threading
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, request

from tests.lti_platform.live_server import LiveServer

RUNTIME = Path(__file__).with_name("runtime") / "node_modules" / "scorm-again" / "dist"
SCRIPTS = {
    "scorm12": ("scorm12.js", "Scorm12API", "API"),
    "scorm2004": ("scorm2004.js", "Scorm2004API", "API_1484_11"),
}


@dataclass
class Cmi5Launch:
    registration: str
    actor: dict[str, Any]
    activity_id: str
    launch_data: dict[str, Any]
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    fetched: bool = False


class PackageLms:
    def __init__(self) -> None:
        self.packages: dict[str, dict[str, bytes]] = {}
        self.commits: list[dict[str, Any]] = []
        self.statements: list[dict[str, Any]] = []
        self.cmi5: dict[str, Cmi5Launch] = {}
        self.lock = threading.Lock()
        self.app = self._build()
        self.server = LiveServer(self.app)

    # ---- what a test does --------------------------------------------------------------------

    def upload(self, name: str, zip_bytes: bytes) -> None:
        """What the LMS administrator does: import the zip."""
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            self.packages[name] = {member: archive.read(member) for member in archive.namelist()}

    def url(self, path: str) -> str:
        return self.server.url + path

    def scorm_course(self, name: str, package_format: str, learner_id: str, learner_name: str) -> str:
        query = urlencode({"format": package_format, "learner_id": learner_id, "learner_name": learner_name})
        return self.url(f"/course/{name}?{query}")

    def cmi5_course(self, name: str, learner_id: str, learner_name: str, **launch_data: Any) -> str:
        registration = str(uuid.uuid4())
        actor = {
            "objectType": "Agent",
            "name": learner_name,
            "account": {"homePage": self.url(""), "name": learner_id},
        }
        activity_id = f"https://lms.example/activities/{name}"
        data = {
            "contextTemplate": {
                "contextActivities": {"grouping": [{"id": activity_id, "objectType": "Activity"}]},
                "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": str(uuid.uuid4())},
            },
            "launchMode": "Normal",
            "moveOn": "CompletedAndPassed",
            **launch_data,
        }
        with self.lock:
            self.cmi5[registration] = Cmi5Launch(registration, actor, activity_id, data)
        params = {
            "endpoint": self.url("/xapi/"),
            "fetch": self.url(f"/cmi5/fetch/{registration}"),
            "actor": json.dumps(actor),
            "registration": registration,
            "activityId": activity_id,
        }
        return self.url(
            f"/cmi5/{name}?{urlencode({'au': f'/package/{name}/index.html?{urlencode(params)}'})}"
        )

    def last_commit(self) -> dict[str, Any] | None:
        with self.lock:
            return self.commits[-1] if self.commits else None

    def verbs(self) -> list[str]:
        with self.lock:
            return [s["verb"]["id"].rsplit("/", 1)[-1] for s in self.statements]

    # ---- the LMS -----------------------------------------------------------------------------

    def _build(self) -> Flask:
        lms = Flask("test_lms")
        lms.add_url_rule("/runtime/<path:name>", view_func=self._runtime)
        lms.add_url_rule("/package/<name>/<path:member>", view_func=self._package_file)
        lms.add_url_rule("/course/<name>", view_func=self._scorm_course)
        lms.add_url_rule("/commit", view_func=self._commit, methods=["POST"])
        lms.add_url_rule("/cmi5/<name>", view_func=self._cmi5_course)
        lms.add_url_rule("/cmi5/fetch/<registration>", view_func=self._fetch, methods=["POST"])
        lms.add_url_rule("/xapi/activities/state", view_func=self._state)
        lms.add_url_rule("/xapi/statements", view_func=self._statements, methods=["POST", "PUT"])
        return lms

    def _runtime(self, name: str) -> Response:
        path = RUNTIME / name
        if not path.is_file():
            abort(404)
        return Response(path.read_bytes(), mimetype="text/javascript")

    def _package_file(self, name: str, member: str) -> Response:
        files = self.packages.get(name) or abort(404)
        content = files.get(member)
        if content is None:
            abort(404)
        kinds = {"html": "text/html", "js": "text/javascript", "xml": "application/xml"}
        return Response(content, mimetype=kinds.get(member.rsplit(".", 1)[-1], "application/octet-stream"))

    def _scorm_course(self, name: str) -> str:
        package_format = request.args["format"]
        script, constructor, global_name = SCRIPTS[package_format]
        if package_format == "scorm12":
            learner = {
                "core": {
                    "student_id": request.args["learner_id"],
                    "student_name": request.args["learner_name"],
                }
            }
        else:
            learner = {"learner_id": request.args["learner_id"], "learner_name": request.args["learner_name"]}
        settings = {"lmsCommitUrl": "/commit", "autocommit": False, "logLevel": 5}
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Onboarding · Test LMS</title>'
            f'<script src="/runtime/{script}"></script>'
            f"<script>var api = new {constructor}({json.dumps(settings)});"
            f"api.loadFromJSON({json.dumps(learner)}); window.{global_name} = api;</script>"
            "</head><body><h1>New hire onboarding</h1>"
            f'<iframe id="sco" title="Course" src="/package/{html.escape(name)}/index.html" '
            'width="1200" height="820"></iframe></body></html>'
        )

    def _commit(self) -> Response:
        body = request.get_json(force=True, silent=True)
        with self.lock:
            self.commits.append(body or {})
        return jsonify({"result": True, "errorCode": 0})

    def _cmi5_course(self, name: str) -> str:
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Onboarding · cmi5 LMS</title>'
            "</head><body><h1>New hire onboarding</h1>"
            f'<iframe id="sco" title="Course" src="{html.escape(request.args["au"])}" '
            'width="1200" height="820"></iframe></body></html>'
        )

    def _fetch(self, registration: str) -> Response:
        with self.lock:
            launch = self.cmi5.get(registration)
            if launch is None or launch.fetched:  # cmi5: the fetch URL answers once
                return jsonify({"error-code": "1", "error-text": "already fetched"})
            launch.fetched = True
            return jsonify({"auth-token": launch.token})

    def _launch_of_token(self) -> Cmi5Launch:
        value = request.headers.get("Authorization", "")
        with self.lock:
            for launch in self.cmi5.values():
                if value == f"Basic {launch.token}":
                    return launch
        abort(401)

    def _state(self) -> Response:
        launch = self._launch_of_token()
        if (
            request.args.get("stateId") != "LMS.LaunchData"
            or request.args.get("registration") != launch.registration
        ):
            abort(404)
        return jsonify(launch.launch_data)

    def _statements(self) -> Response:
        launch = self._launch_of_token()
        statement = request.get_json(force=True)
        assert request.headers.get("X-Experience-API-Version", "").startswith("1.0")
        statement["_registration_of_token"] = launch.registration
        with self.lock:
            self.statements.append(statement)
        return jsonify([statement.get("id")])
