"""Delivering a batch of xAPI statements: the outbox handler of kind `xapi_statements`.

The batch's statements are POSTed as one JSON array to the LRS's statements resource through the
app's outbound session (training_app.outbound: the SSRF policy), with the tenant's
`X-Experience-API-Version` (1.0.3 or 2.0.0) and Basic credentials or an OAuth 2.0 bearer token
(client credentials grant, the token kept until shortly before it expires).

- 2xx: delivered. A 409 for a single statement: the LRS already holds a statement with that id,
  delivered. Ids are deterministic and bodies fixed when queued, so a retry is the same statement.
- 400, 413 or 422 for one statement: `rejected`, with the LRS's reason (a retry would not help).
- 400, 409, 413 or 422 for a batch of several: one statement may be the cause and the LRS stored none,
  so each is sent alone (PUT with its statementId): delivered ones are delivered, refused ones
  are `rejected` with the LRS's reason, and the batch's message ends in dead letter so the
  console shows it; nothing a retry cannot help is retried.
- 5xx, 408, 425, 429, a timeout or a refused connection: retried by the outbox with backoff; after
  its last attempt the statements are `failed` (the console sends them again on request).
- Any other answer (401, 403...) is final for the batch: `failed`, with the answer.
The outcome is written on the statements and the tenant's connection (last delivery, last error)
and committed before a failure is raised (the outbox rolls back a failed handler's writes).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import requests
from flask import current_app
from sqlalchemy import select

from feeds.models import LrsConnection, XapiStatement
from training_app import outbound, sealing
from training_app.db import utcnow
from training_app.extensions import commit_before_waiting, db
from training_app.http_delivery import RETRYABLE_STATUSES
from training_app.models import OutboxMessage
from training_app.outbox import Delivery, DeliveryError

SECRET_PURPOSE = "lrs secret"
REFUSALS = {400, 413, 422}  # the LRS refuses what it was sent (a statement, or one in the batch)
SPLIT_STATUSES = {*REFUSALS, 409}
SHOWN_ANSWER_CHARS = 500
TOKEN_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class Answer:
    status: int | None
    text: str
    error: str | None  # None: accepted
    retry: bool


def deliver(job: Delivery) -> None:
    pending = list(
        db.session.scalars(
            select(XapiStatement)
            .where(XapiStatement.batch_key == job.payload["batch"])
            .where(XapiStatement.status.in_(("pending", "retrying")))
            .order_by(XapiStatement.id)
        )
    )
    if not pending:
        return  # every statement of the batch is settled
    connection = db.session.get(LrsConnection, pending[0].tenant_id)
    last_try = job.attempt >= (
        db.session.scalar(select(OutboxMessage.max_attempts).where(OutboxMessage.id == job.id)) or 1
    )
    if connection is None or not connection.enabled:
        reason = "not sent: the learning record store was removed or turned off"
        _settle(connection, pending, "failed", reason)
        db.session.commit()
        raise DeliveryError(reason, retry=False)
    try:
        sender = Sender(connection)
    except sealing.SecretUnreadable as unreadable:
        _settle(connection, pending, "failed", str(unreadable))
        db.session.commit()
        raise DeliveryError(str(unreadable), retry=False) from None
    commit_before_waiting()  # no transaction (SQLite's write lock) held while the LRS answers
    answer = sender.post([json.loads(statement.body) for statement in pending])
    if answer.error is None or (answer.status == 409 and len(pending) == 1):
        _settle(connection, pending, "delivered")
        return
    if answer.status in SPLIT_STATUSES and len(pending) > 1:
        _one_by_one(sender, connection, pending, last_try)
        return
    if answer.status in REFUSALS:
        _settle(connection, pending, "rejected", answer.error)
        db.session.commit()
        raise DeliveryError(f"the learning record store refused the statement: {answer.error}", retry=False)
    _settle(connection, pending, "retrying" if answer.retry and not last_try else "failed", answer.error)
    db.session.commit()
    raise DeliveryError(answer.error, retry=answer.retry)


def _one_by_one(
    sender: Sender, connection: LrsConnection, pending: list[XapiStatement], last_try: bool
) -> None:
    rejected: list[str] = []
    for position, statement in enumerate(pending):
        answer = sender.put(json.loads(statement.body))
        if answer.error is None or answer.status == 409:
            _settle(connection, [statement], "delivered")
        elif answer.retry:
            rest = pending[position:]
            _settle(connection, rest, "failed" if last_try else "retrying", answer.error)
            db.session.commit()
            raise DeliveryError(answer.error, retry=True)
        else:
            _settle(connection, [statement], "rejected", answer.error)
            rejected.append(f"{statement.statement_id}: {answer.error}")
    if rejected:
        db.session.commit()
        raise DeliveryError(
            f"the learning record store refused {len(rejected)} statement(s): " + "; ".join(rejected)[:3000],
            retry=False,
        )


def _settle(
    connection: LrsConnection | None, batch: list[XapiStatement], status: str, error: str | None = None
) -> None:
    now = utcnow()
    for statement in batch:
        statement.status = status
        statement.last_error = error[:2000] if error else None
        if status == "delivered":
            statement.delivered_at = now
    if connection is None:
        return
    if status == "delivered":
        connection.last_delivered_at = now
    else:
        connection.last_error, connection.last_error_at = (error or status)[:2000], now


# --- talking to the LRS -----------------------------------------------------------------------------


class Sender:
    """The tenant's LRS as this delivery sees it: its URL, headers and credentials."""

    def __init__(self, connection: LrsConnection) -> None:
        self.url = connection.statements_url
        self.headers = {
            "Content-Type": "application/json",
            "X-Experience-API-Version": connection.xapi_version,
        }
        self.timeout = float(current_app.config["OUTBOX_HTTP_TIMEOUT"])
        self.oauth = connection.auth == "oauth2"
        secret = sealing.unseal(SECRET_PURPOSE, connection.secret_sealed)
        self.credentials = (connection.username, secret)
        self.token_key = (connection.tenant_id, connection.token_url or "", connection.username, secret)
        self.token_url, self.scope = connection.token_url or "", connection.scope

    def post(self, bodies: list[dict]) -> Answer:
        return self._send("POST", bodies, {})

    def put(self, body: dict) -> Answer:
        return self._send("PUT", body, {"statementId": body["id"]})

    def _send(self, method: str, body: object, params: dict[str, str]) -> Answer:
        try:
            response = self._request(method, body, params)
            if response.status_code == 401 and self.oauth:  # the token may have been revoked early
                _tokens.forget(self.token_key)
                response = self._request(method, body, params)
        except TokenRefused as refused:
            return Answer(None, "", str(refused), refused.retry)
        except outbound.DestinationRefused as refused:
            return Answer(None, "", f"not sent: {refused}", False)
        except requests.Timeout:
            return Answer(None, "", f"no answer within {self.timeout:g} s", True)
        except requests.RequestException as exc:
            return Answer(None, "", f"could not connect: {type(exc).__name__}", True)
        return _answer(response)

    def _request(self, method: str, body: object, params: dict[str, str]) -> requests.Response:
        headers = dict(self.headers)
        auth = None
        if self.oauth:
            headers["Authorization"] = f"Bearer {self._token()}"
        else:
            auth = self.credentials
        return outbound.session().request(
            method,
            self.url,
            data=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            params=params or None,
            headers=headers,
            auth=auth,
            timeout=self.timeout,
            allow_redirects=False,
        )

    def _token(self) -> str:
        cached = _tokens.get(self.token_key)
        if cached:
            return cached
        try:
            response = outbound.session().post(
                self.token_url,
                data={"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {})},
                auth=self.credentials,
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except outbound.DestinationRefused as refused:
            raise TokenRefused(f"no token: {refused}", retry=False) from None
        except requests.RequestException as exc:
            raise TokenRefused(
                f"no token: could not reach the token endpoint ({type(exc).__name__})"
            ) from None
        answer = _answer(response)
        if answer.error is not None:
            raise TokenRefused(f"no token: the token endpoint {answer.error}", retry=answer.retry)
        try:
            token = response.json()
            access, lifetime = str(token["access_token"]), float(token.get("expires_in") or 300)
        except (ValueError, KeyError, TypeError):
            raise TokenRefused(
                "no token: the token endpoint's answer has no access_token", retry=False
            ) from None
        _tokens.put(self.token_key, access, lifetime)
        return access


class TokenRefused(Exception):
    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


def _answer(response: requests.Response) -> Answer:
    status = response.status_code
    text = response.text[:SHOWN_ANSWER_CHARS].strip()
    if 200 <= status < 300:
        return Answer(status, text, None, False)
    retry = status >= 500 or status in RETRYABLE_STATUSES
    return Answer(status, text, f"answered {status}: {text}".rstrip(": "), retry)


class _TokenCache:
    """Access tokens per tenant and credentials, in this process, until shortly before expiry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple, tuple[str, float]] = {}

    def get(self, key: tuple) -> str | None:
        with self._lock:
            found = self._tokens.get(key)
        return found[0] if found and found[1] > time.monotonic() else None

    def put(self, key: tuple, token: str, lifetime: float) -> None:
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS))

    def forget(self, key: tuple) -> None:
        with self._lock:
            self._tokens.pop(key, None)


_tokens = _TokenCache()
