"""Assignment and Grade Services 2.0 and Names and Role Provisioning Services 2.0 endpoints.

Behaviour that differs between LMSs follows the platform's flavour:

- Moodle (mod/lti/service/gradebookservices): service URLs carry `?type_id=N` and a request
  without it is refused with 403; a score answers 200 with `[]`; a score whose timestamp is not
  after the last one is refused with 409; a malformed score or a user who is not gradable is 400.
- Canvas (app/controllers/lti/ims/scores_controller.rb): a score answers 200 with
  `{"resultUrl": ...}`; an older timestamp is 400; an unknown user is 422; scoreGiven without
  scoreMaximum is 422.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from tests.lti_platform.constants import (
    MEDIA_LINEITEM,
    MEDIA_LINEITEM_CONTAINER,
    MEDIA_MEMBERSHIP_CONTAINER,
    MEDIA_RESULT_CONTAINER,
    MEDIA_SCORE,
    ROLE_LEARNER,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_NRPS,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
)
from tests.lti_platform.httpio import HttpRequest, HttpResponse, json_response, text_response
from tests.lti_platform.oauth import AccessToken

if TYPE_CHECKING:
    from tests.lti_platform.platform import Platform

ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")


@dataclass
class LineItem:
    id: int
    context_id: str
    label: str
    score_maximum: float
    resource_link_id: str | None = None
    resource_id: str | None = None
    tag: str | None = None
    start_date_time: str | None = None
    end_date_time: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, url: str) -> dict[str, Any]:
        data: dict[str, Any] = {"id": url, "label": self.label, "scoreMaximum": self.score_maximum}
        optional = {
            "resourceLinkId": self.resource_link_id,
            "resourceId": self.resource_id,
            "tag": self.tag,
            "startDateTime": self.start_date_time,
            "endDateTime": self.end_date_time,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        data.update(self.extra)
        return data

    def update_from(self, body: dict[str, Any]) -> None:
        self.label = body.get("label", self.label)
        self.score_maximum = body.get("scoreMaximum", self.score_maximum)
        self.resource_id = body.get("resourceId", self.resource_id)
        self.tag = body.get("tag", self.tag)
        self.start_date_time = body.get("startDateTime", self.start_date_time)
        self.end_date_time = body.get("endDateTime", self.end_date_time)
        known = {"id", "label", "scoreMaximum", "resourceId", "resourceLinkId", "tag"}
        known |= {"startDateTime", "endDateTime"}
        self.extra.update({key: value for key, value in body.items() if key not in known})


@dataclass
class ScoreRecord:
    """One POST to a scores endpoint, accepted or not (scripted failures are recorded too)."""

    context_id: str
    lineitem_id: int | None
    url: str
    content_type: str
    body: Any
    status: int
    accepted: bool
    reason: str = ""

    @property
    def user_id(self) -> str | None:
        return self.body.get("userId") if isinstance(self.body, dict) else None


@dataclass(frozen=True)
class Member:
    user_id: str
    roles: tuple[str, ...] = (ROLE_LEARNER,)
    status: str = "Active"
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    lis_person_sourcedid: str | None = None
    picture: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"user_id": self.user_id, "roles": list(self.roles), "status": self.status}
        optional = {
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
            "lis_person_sourcedid": self.lis_person_sourcedid,
            "picture": self.picture,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data


def paginate(items: Sequence[Any], page: int, size: int) -> tuple[list[Any], bool]:
    start = (page - 1) * size
    return list(items[start : start + size]), start + size < len(items)


def next_link(platform: Platform, request: HttpRequest, page: int) -> str:
    """`Link: <url>; rel="next"`, keeping the request's other query parameters (type_id, role...)."""
    query = {**request.query, "page": str(page)}
    return f'<{platform.url(request.path)}?{urlencode(query)}>; rel="next"'


def _positive_int(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number > 0 else default


def _parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class AgsService:
    platform: Platform
    lineitems: dict[int, LineItem] = field(default_factory=dict)
    scores: list[ScoreRecord] = field(default_factory=list)
    page_size: int = 50
    type_id: str = "1"
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- URLs (Moodle's carry ?type_id=N, which tools must keep) ---
    def _suffix(self) -> str:
        return f"?type_id={self.type_id}" if self.platform.flavour == "moodle" else ""

    def lineitems_path(self, context_id: str) -> str:
        return f"/api/ags/{quote(context_id, safe='')}/lineitems"

    def lineitems_url(self, context_id: str) -> str:
        return self.platform.url(self.lineitems_path(context_id)) + self._suffix()

    def lineitem_url(self, item: LineItem) -> str:
        return self.platform.url(f"{self.lineitems_path(item.context_id)}/{item.id}") + self._suffix()

    # --- arranging ---
    def create(self, context_id: str, label: str, score_maximum: float = 100, **fields: Any) -> LineItem:
        with self.lock:
            item_id = max(self.lineitems, default=0) + 1
            item = LineItem(
                id=item_id, context_id=context_id, label=label, score_maximum=score_maximum, **fields
            )
            self.lineitems[item_id] = item
        return item

    def accepted_scores(self, lineitem: LineItem | None = None) -> list[ScoreRecord]:
        with self.lock:
            return [
                score
                for score in self.scores
                if score.accepted and (lineitem is None or score.lineitem_id == lineitem.id)
            ]

    # --- endpoint helpers ---
    def _authorize(self, request: HttpRequest, *scopes: str) -> HttpResponse | AccessToken:
        if self.platform.flavour == "moodle" and "type_id" not in request.query:
            return text_response(403, "type_id is missing: the tool dropped the service URL's query string")
        return self.platform.tokens.check(request, *scopes)

    def _item(self, context_id: str, item_id: str) -> LineItem | None:
        with self.lock:
            item = self.lineitems.get(int(item_id)) if item_id.isdigit() else None
        return item if item is not None and item.context_id == context_id else None

    # --- line items ---
    def list_lineitems(self, request: HttpRequest, context_id: str) -> HttpResponse:
        denied = self._authorize(request, SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
        if isinstance(denied, HttpResponse):
            return denied
        filters = {
            "resource_link_id": "resource_link_id",
            "resource_id": "resource_id",
            "tag": "tag",
        }
        with self.lock:
            items = [item for item in self.lineitems.values() if item.context_id == context_id]
        for param, attribute in filters.items():
            if param in request.query:
                items = [item for item in items if getattr(item, attribute) == request.query[param]]
        size = min(_positive_int(request.query.get("limit"), self.page_size), self.page_size)
        page = _positive_int(request.query.get("page"), 1)
        chunk, has_next = paginate(items, page, size)
        response = json_response(
            200, [item.to_json(self.lineitem_url(item)) for item in chunk], MEDIA_LINEITEM_CONTAINER
        )
        if has_next:
            response.headers["Link"] = next_link(self.platform, request, page + 1)
        return response

    def create_lineitem(self, request: HttpRequest, context_id: str) -> HttpResponse:
        denied = self._authorize(request, SCOPE_LINEITEM)
        if isinstance(denied, HttpResponse):
            return denied
        if request.content_type not in (MEDIA_LINEITEM, "application/json"):
            return text_response(400, f"Content-Type must be {MEDIA_LINEITEM}")
        body = request.json()
        problem = _lineitem_problem(body)
        if problem:
            return text_response(400, problem)
        item = self.create(
            context_id,
            body["label"],
            body["scoreMaximum"],
            resource_link_id=body.get("resourceLinkId"),
        )
        item.update_from(body)
        status = 201 if self.platform.flavour == "moodle" else 200
        return json_response(status, item.to_json(self.lineitem_url(item)), MEDIA_LINEITEM)

    def lineitem(self, request: HttpRequest, context_id: str, item_id: str) -> HttpResponse:
        scopes = (SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY) if request.method == "GET" else (SCOPE_LINEITEM,)
        denied = self._authorize(request, *scopes)
        if isinstance(denied, HttpResponse):
            return denied
        item = self._item(context_id, item_id)
        if item is None:
            return text_response(404, "line item not found")
        if request.method == "DELETE":
            with self.lock:
                self.lineitems.pop(item.id, None)
            return HttpResponse(204)
        if request.method == "PUT":
            body = request.json()
            problem = _lineitem_problem(body)
            if problem:
                return text_response(400, problem)
            with self.lock:
                item.update_from(body)
        return json_response(200, item.to_json(self.lineitem_url(item)), MEDIA_LINEITEM)

    # --- scores and results ---
    def post_score(self, request: HttpRequest, context_id: str, item_id: str) -> HttpResponse:
        item = self._item(context_id, item_id)
        denied = self._authorize(request, SCOPE_SCORE)
        if isinstance(denied, HttpResponse):
            return self._record(request, context_id, item, denied, None)
        if item is None:
            return self._record(request, context_id, None, text_response(404, "line item not found"), None)
        if request.content_type != MEDIA_SCORE:
            status = 400 if self.platform.flavour == "moodle" else 415
            return self._record(
                request, context_id, item, text_response(status, f"Content-Type must be {MEDIA_SCORE}"), None
            )
        try:
            body = request.json()
        except ValueError:
            return self._record(request, context_id, item, text_response(400, "body is not JSON"), None)
        refusal = self._score_refusal(context_id, item, body)
        if refusal is not None:
            return self._record(request, context_id, item, refusal, body)
        if self.platform.flavour == "moodle":
            response = HttpResponse(200, b"[]", {"Content-Type": MEDIA_SCORE})
        else:
            result_url = f"{self.lineitem_url(item).split('?')[0]}/results/{quote(str(body['userId']))}"
            response = json_response(200, {"resultUrl": result_url}, MEDIA_SCORE)
        return self._record(request, context_id, item, response, body, accepted=True)

    def _score_refusal(self, context_id: str, item: LineItem, body: Any) -> HttpResponse | None:
        canvas = self.platform.flavour == "canvas"
        if not isinstance(body, dict):
            return text_response(400, "score must be a JSON object")
        missing = [
            name
            for name in ("userId", "activityProgress", "gradingProgress", "timestamp")
            if name not in body
        ]
        if missing:
            return text_response(400, f"missing {', '.join(missing)}")
        if (
            body["activityProgress"] not in ACTIVITY_PROGRESS
            or body["gradingProgress"] not in GRADING_PROGRESS
        ):
            return text_response(400, "invalid activityProgress or gradingProgress")
        timestamp = _parse_timestamp(body["timestamp"])
        if timestamp is None:
            return text_response(
                400, f"timestamp {body['timestamp']!r} is not an ISO 8601 date-time with offset"
            )
        for name in ("scoreGiven", "scoreMaximum"):
            if name in body and (not _is_number(body[name]) or body[name] < 0):
                return text_response(422 if canvas else 400, f"{name} must be a number >= 0")
        if canvas and "scoreGiven" in body and "scoreMaximum" not in body:
            return text_response(422, "ScoreMaximum not supplied when ScoreGiven present.")
        members = self.platform.nrps.members.get(context_id)
        if members is not None and body["userId"] not in {member.user_id for member in members}:
            return text_response(422 if canvas else 400, f"user {body['userId']!r} is not in the course")
        last = self._last_timestamp(item, str(body["userId"]))
        if last is not None and (timestamp < last if canvas else timestamp <= last):
            return text_response(400 if canvas else 409, "score timestamp is not after the previous score's")
        return None

    def _last_timestamp(self, item: LineItem, user_id: str) -> datetime | None:
        stamps = [
            _parse_timestamp(score.body["timestamp"])
            for score in self.accepted_scores(item)
            if str(score.body["userId"]) == user_id
        ]
        return max((stamp for stamp in stamps if stamp is not None), default=None)

    def _record(
        self,
        request: HttpRequest,
        context_id: str,
        item: LineItem | None,
        response: HttpResponse,
        body: Any,
        *,
        accepted: bool = False,
    ) -> HttpResponse:
        record = ScoreRecord(
            context_id=context_id,
            lineitem_id=item.id if item else None,
            url=self.platform.url(request.path),
            content_type=request.header("content-type"),
            body=body if body is not None else _safe_json(request),
            status=response.status,
            accepted=accepted,
            reason="" if accepted else response.body.decode(errors="replace"),
        )
        with self.lock:
            self.scores.append(record)
        return response

    def record_scripted(
        self, request: HttpRequest, context_id: str, item_id: str, response: HttpResponse
    ) -> None:
        self._record(request, context_id, self._item(context_id, item_id), response, None)

    def results(self, request: HttpRequest, context_id: str, item_id: str) -> HttpResponse:
        denied = self._authorize(request, SCOPE_RESULT_READONLY)
        if isinstance(denied, HttpResponse):
            return denied
        item = self._item(context_id, item_id)
        if item is None:
            return text_response(404, "line item not found")
        latest: dict[str, dict[str, Any]] = {}
        for score in self.accepted_scores(item):
            latest[str(score.body["userId"])] = score.body
        if "user_id" in request.query:
            latest = {user: body for user, body in latest.items() if user == request.query["user_id"]}
        url = self.lineitem_url(item).split("?")[0]
        results = [_result_json(url, user, body) for user, body in latest.items()]
        return json_response(200, results, MEDIA_RESULT_CONTAINER)


def _result_json(lineitem_url: str, user_id: str, score: dict[str, Any]) -> dict[str, Any]:
    graded = score.get("gradingProgress") == "FullyGraded"
    result: dict[str, Any] = {"id": f"{lineitem_url}/results/{quote(user_id)}", "scoreOf": lineitem_url}
    result["userId"] = user_id
    if graded and "scoreGiven" in score:
        result["resultScore"] = score["scoreGiven"]
        result["resultMaximum"] = score.get("scoreMaximum", 1)
    if "comment" in score:
        result["comment"] = score["comment"]
    return result


def _lineitem_problem(body: Any) -> str:
    if not isinstance(body, dict):
        return "line item must be a JSON object"
    if not isinstance(body.get("label"), str) or not body["label"].strip():
        return "label is required"
    maximum = body.get("scoreMaximum")
    if not _is_number(maximum) or maximum <= 0:
        return "scoreMaximum must be a number > 0"
    return ""


def _safe_json(request: HttpRequest) -> Any:
    try:
        return request.json()
    except ValueError:
        return request.body.decode(errors="replace")


@dataclass
class NrpsService:
    platform: Platform
    members: dict[str, list[Member]] = field(default_factory=dict)
    page_size: int = 10
    lock: threading.RLock = field(default_factory=threading.RLock)

    def memberships_url(self, context_id: str) -> str:
        return self.platform.url(f"/api/nrps/{quote(context_id, safe='')}/memberships")

    def add(self, context_id: str, *members: Member) -> None:
        with self.lock:
            self.members.setdefault(context_id, []).extend(members)

    def memberships(self, request: HttpRequest, context_id: str) -> HttpResponse:
        denied = self.platform.tokens.check(request, SCOPE_NRPS)
        if isinstance(denied, HttpResponse):
            return denied
        accept = request.header("accept", "*/*")
        if not any(kind in accept for kind in (MEDIA_MEMBERSHIP_CONTAINER, "application/json", "*/*")):
            return text_response(406, f"Accept must allow {MEDIA_MEMBERSHIP_CONTAINER}")
        with self.lock:
            members = list(self.members.get(context_id, []))
        role = request.query.get("role")
        if role:
            members = [m for m in members if any(r == role or r.endswith("#" + role) for r in m.roles)]
        size = min(_positive_int(request.query.get("limit"), self.page_size), self.page_size)
        page = _positive_int(request.query.get("page"), 1)
        chunk, has_next = paginate(members, page, size)
        context = self.platform.contexts.get(context_id)
        body = {
            "id": self.platform.url(request.path) + (f"?{urlencode(request.query)}" if request.query else ""),
            "context": {
                "id": context_id,
                **({"label": context.label, "title": context.title} if context else {}),
            },
            "members": [member.to_json() for member in chunk],
        }
        response = json_response(200, body, MEDIA_MEMBERSHIP_CONTAINER)
        if has_next:
            response.headers["Link"] = next_link(self.platform, request, page + 1)
        return response
