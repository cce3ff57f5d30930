"""Grades back to the LMS (LTI Assignment and Grade Services), through the outbox.

A result (passed, or failed after the last attempt) queues one `ags_score` message per grade
target in the same transaction. The worker posts the score to the launch's line item, finding
or creating the line item first when the launch carried none. Retries: 5xx, 429 and timeouts
with backoff; a 401 gets a fresh token once; any other 4xx goes to dead letter with the answer.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from sqlalchemy import BindParameter, Row, Select, bindparam, select

from courses.services import RecordedResult
from lti import oauth
from lti.models import GradeTarget, Platform, ResourceLink
from training_app import http_delivery, outbox
from training_app.extensions import commit_before_waiting, db, run_core

log = logging.getLogger(__name__)

SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
TAG = "postwise"
KIND = "ags_score"
MAX_PAGES = 50


def queue_scores(completion: RecordedResult) -> None:
    """Result hook: one outbox message per place this learner launched the course from."""
    for target in run_core(_GRADE_TARGETS, {"enrolment_id": completion.enrolment_id}):
        if not (target.lineitem_url or target.lineitems_url):
            continue  # the LMS offered no gradebook service for this link
        if target.ags_scopes and SCOPE_SCORE not in target.ags_scopes:
            continue  # it offered one, but does not take scores from us
        outbox.enqueue(
            KIND,
            score_payload(completion, target),
            tenant_id=completion.tenant_id,
            idempotency_key=f"ags:{completion.id}:{target.id}",
        )


def _grade_targets(enrolment_id: BindParameter[int]) -> Select:
    """Every place the learner launched the course from, with its link's gradebook service."""
    return (
        select(
            GradeTarget.id,
            GradeTarget.lti_user_id,
            ResourceLink.platform_id,
            ResourceLink.lineitem_url,
            ResourceLink.lineitems_url,
            ResourceLink.ags_scopes,
            ResourceLink.resource_link_id,
        )
        .join(ResourceLink, ResourceLink.id == GradeTarget.resource_link_id)
        .where(GradeTarget.enrolment_id == enrolment_id)
    )


# Core, built once: this runs inside every passing quiz submit.
_GRADE_TARGETS = _grade_targets(bindparam("enrolment_id")).order_by(GradeTarget.id)


def score_payload(completion: RecordedResult, target: Row) -> dict[str, Any]:
    """The outbox message for one grade target (a row of `_GRADE_TARGETS`)."""
    return {
        "platform_id": target.platform_id,
        "lineitem_url": target.lineitem_url,
        "lineitems_url": target.lineitems_url,
        "scopes": target.ags_scopes,
        "resource_link_id": target.resource_link_id,
        "label": completion.course_title,
        "resource_id": completion.course_slug,
        "score": {
            "userId": target.lti_user_id,
            "scoreGiven": completion.score,
            "scoreMaximum": 100,
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
            "timestamp": completion.completed_at.isoformat(timespec="milliseconds"),
            "comment": ("Completed" if completion.status == "completed" else "Not passed")
            + f" · policy version {completion.version_number}",
        },
    }


def deliver_score(delivery: outbox.Delivery) -> None:
    """The outbox job that sends one score: it owns its transaction, and ends it before each wait
    on the LMS (training_app.extensions: the transaction rule)."""
    payload = delivery.payload
    client = _service_client(payload["platform_id"])
    scopes = list(payload["scopes"] or [SCOPE_SCORE])
    lineitem = payload["lineitem_url"] or find_or_create_lineitem(client, scopes, payload)
    response = oauth.service_request(
        client,
        scopes,
        "POST",
        scores_url(lineitem),
        before_waiting=commit_before_waiting,
        json_body=payload["score"],
        content_type=SCORE_TYPE,
    )
    if response.status_code == 409:
        log.info("LMS already had this score (409)", extra={"message_id": delivery.id})
        return  # Moodle answers 409 to a score whose timestamp is not newer: it is already there
    http_delivery.raise_for_delivery_status(response)


def _service_client(platform_id: int) -> oauth.ServiceClient:
    platform = db.session.get(Platform, platform_id)
    if platform is None:
        raise outbox.DeliveryError("the LMS registration was removed", retry=False)
    return oauth.client_for(platform)


def find_or_create_lineitem(client: oauth.ServiceClient, scopes: list[str], payload: dict[str, Any]) -> str:
    """The line item this link's scores go to: ours if the LMS has it, else a new one."""
    if not {SCOPE_LINEITEM, SCOPE_LINEITEM_READ} & set(scopes):
        raise outbox.DeliveryError(
            "the launch has no line item and the LMS does not let us read or create one", retry=False
        )
    found = find_lineitem(client, scopes, payload)
    if found:
        return found
    if SCOPE_LINEITEM not in scopes:
        raise outbox.DeliveryError(
            "the launch has no line item and the LMS does not let us create one", retry=False
        )
    created = oauth.service_request(
        client,
        scopes,
        "POST",
        payload["lineitems_url"],
        before_waiting=commit_before_waiting,
        content_type=LINEITEM_TYPE,
        accept=LINEITEM_TYPE,
        json_body={
            "scoreMaximum": 100,
            "label": payload["label"],
            "resourceId": payload["resource_id"],
            "tag": TAG,
            "resourceLinkId": payload["resource_link_id"],
        },
    )
    http_delivery.raise_for_delivery_status(created)
    item = _json(created)
    if not isinstance(item, dict) or not item.get("id"):
        raise outbox.DeliveryError(f"the LMS created a line item without an id: {created.text[:500]}")
    return item["id"]


def find_lineitem(client: oauth.ServiceClient, scopes: list[str], payload: dict[str, Any]) -> str | None:
    url: str | None = with_query(payload["lineitems_url"], {"resource_link_id": payload["resource_link_id"]})
    for _page in range(MAX_PAGES):
        if not url:
            break
        response = oauth.service_request(
            client, scopes, "GET", url, before_waiting=commit_before_waiting, accept=LINEITEMS_TYPE
        )
        http_delivery.raise_for_delivery_status(response)
        items = _json(response)
        ours = [item for item in items if is_ours(item, payload)] if isinstance(items, list) else []
        ours.sort(key=lambda item: item.get("resourceId") != payload["resource_id"])
        if ours:
            return ours[0]["id"]
        url = oauth.next_page(response)
    return None


def is_ours(item: Any, payload: dict[str, Any]) -> bool:
    """A column for this link and course. Filters are hints (some LMSs ignore them): check the item."""
    if not isinstance(item, dict) or not item.get("id"):
        return False
    if item.get("resourceId") not in (None, payload["resource_id"]):
        return False
    if item.get("resourceLinkId"):
        return item["resourceLinkId"] == payload["resource_link_id"]
    return item.get("tag") == TAG and item.get("resourceId") == payload["resource_id"]


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise outbox.DeliveryError(
            f"the LMS answered {response.status_code} with a body that is not JSON: {response.text[:300]}"
        ) from None


def scores_url(lineitem_url: str) -> str:
    """`.../lineitem?type_id=3` -> `.../lineitem/scores?type_id=3` (Moodle needs its query kept)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(extra)]))
    return urlunsplit(parts._replace(query=query))
