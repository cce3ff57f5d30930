"""Grades back to the LMS (LTI Assignment and Grade Services), through the outbox.

A result (passed, or failed after the last attempt) queues one `ags_score` message per grade
target in the same transaction. The worker posts the score to the launch's line item, finding
or creating the line item first when the launch carried none. Retries: 5xx, 429 and timeouts
with backoff; a 401 gets a fresh token once; any other 4xx goes to dead letter with the answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from sqlalchemy import select

from courses.models import Completion
from lti import oauth
from lti.models import GradeTarget, Platform
from training_app import outbox
from training_app.extensions import db

log = logging.getLogger(__name__)

SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
TAG = "postwise"
KIND = "ags_score"


def queue_scores(completion: Completion) -> None:
    """Result hook: one outbox message per place this learner launched the course from."""
    targets = db.session.scalars(
        select(GradeTarget).where(GradeTarget.enrolment_id == completion.enrolment_id)
    )
    for target in targets:
        link = target.resource_link
        if not (link.lineitem_url or link.lineitems_url):
            continue  # the LMS offered no gradebook service for this link
        outbox.enqueue(
            KIND,
            score_payload(completion, target),
            tenant_id=completion.tenant_id,
            idempotency_key=f"ags:{completion.id}:{target.id}",
        )


def score_payload(completion: Completion, target: GradeTarget) -> dict[str, Any]:
    link = target.resource_link
    return {
        "platform_id": link.platform_id,
        "lineitem_url": link.lineitem_url,
        "lineitems_url": link.lineitems_url,
        "scopes": link.ags_scopes,
        "resource_link_id": link.resource_link_id,
        "label": completion.course.title,
        "resource_id": completion.course.slug,
        "score": {
            "userId": target.lti_user_id,
            "scoreGiven": completion.score,
            "scoreMaximum": 100,
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
            "timestamp": completion.completed_at.isoformat(timespec="milliseconds"),
            "comment": ("Completed" if completion.status == "completed" else "Not passed")
            + f" · policy version {completion.course_version.number}",
        },
    }


def deliver_score(delivery: outbox.Delivery) -> None:
    payload = delivery.payload
    platform = db.session.get(Platform, payload["platform_id"])
    if platform is None:
        raise outbox.DeliveryError("the LMS registration was removed", retry=False)
    lineitem = payload["lineitem_url"] or find_or_create_lineitem(platform, payload)
    response = _authorised(
        platform,
        [SCOPE_SCORE],
        "POST",
        scores_url(lineitem),
        json_body=payload["score"],
        content_type=SCORE_TYPE,
    )
    if response.status_code == 409:
        log.info("LMS already had this score (409)", extra={"message_id": delivery.id})
        return  # Moodle answers 409 to a score whose timestamp is not newer: it is already there
    outbox.raise_for_delivery_status(response)


def find_or_create_lineitem(platform: Platform, payload: dict[str, Any]) -> str:
    container = payload["lineitems_url"]
    query = {"resource_link_id": payload["resource_link_id"], "tag": TAG}
    read_scopes = [SCOPE_LINEITEM] if SCOPE_LINEITEM in payload["scopes"] else [SCOPE_LINEITEM_READ]
    found = _authorised(platform, read_scopes, "GET", with_query(container, query), accept=LINEITEMS_TYPE)
    outbox.raise_for_delivery_status(found)
    items = [
        item for item in found.json() if item.get("resourceId") == payload["resource_id"]
    ] or found.json()
    if items:
        return items[0]["id"]
    if SCOPE_LINEITEM not in payload["scopes"]:
        raise outbox.DeliveryError(
            "the launch has no line item and the LMS does not let us create one", retry=False
        )
    created = _authorised(
        platform,
        [SCOPE_LINEITEM],
        "POST",
        container,
        content_type=LINEITEM_TYPE,
        json_body={
            "scoreMaximum": 100,
            "label": payload["label"],
            "resourceId": payload["resource_id"],
            "tag": TAG,
            "resourceLinkId": payload["resource_link_id"],
        },
    )
    outbox.raise_for_delivery_status(created)
    return created.json()["id"]


def _authorised(
    platform: Platform,
    scopes: list[str],
    method: str,
    url: str,
    *,
    json_body: Any = None,
    content_type: str | None = None,
    accept: str = "application/json",
) -> requests.Response:
    """Call a service with a cached token; on 401 get a fresh token and try once more."""
    for attempt in (1, 2):
        headers = {"Authorization": f"Bearer {oauth.access_token(platform, scopes)}", "Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        data = None if json_body is None else json.dumps(json_body).encode()
        response = outbox.send_http(url, data=data, headers=headers, timeout=15, method=method)
        if response.status_code != 401 or attempt == 2:
            return response
        oauth.forget_token(platform, scopes)
    return response


def scores_url(lineitem_url: str) -> str:
    """`.../lineitem?type_id=3` -> `.../lineitem/scores?type_id=3` (Moodle needs its query kept)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(extra)]))
    return urlunsplit(parts._replace(query=query))
