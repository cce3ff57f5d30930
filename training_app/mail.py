"""Email, through the outbox: a message is written in the transaction that decided to send it, and
the worker delivers it over SMTP with retries (kind `email`).

Settings (`TRAINING_SMTP_*`): HOST, PORT, SECURITY (`starttls`, `tls` or `none`), USER, PASSWORD,
FROM, CA_FILE (a CA bundle to trust, e.g. a company CA), TIMEOUT. Without a host, development and
tests write each message to the instance folder (`mail/`) instead of sending it; production keeps
the messages pending (retried) and says in their error that TRAINING_SMTP_HOST is not set.

What fails and how: a server that is down, refuses the login or answers a temporary error is
retried with backoff; a message whose every recipient is refused is final (dead letter, with the
server's answer); some recipients refused: delivered to the others and the refused ones logged.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any

from flask import current_app

from training_app import outbox
from training_app.outbox import Delivery, DeliveryError

log = logging.getLogger(__name__)

EMAIL_KIND = "email"


Builder = Callable[[dict[str, Any]], dict[str, Any]]
_builders: dict[str, Builder] = {}


def register_builder(name: str, builder: Builder) -> None:
    """A package whose emails are built when they are sent (from its own rows, in the recipient's
    language) names its builder; its outbox payloads say `{"builder": name, ...}`."""
    _builders[name] = builder


def enqueue_email(
    *,
    tenant_id: int | None,
    to: list[str],
    subject: str,
    text: str,
    html: str | None = None,
    cc: list[str] | None = None,
    key: str,
) -> None:
    """Queue one message; a second message with the same key is ignored (sent at most once)."""
    payload = {"to": to, "cc": cc or [], "subject": subject, "text": text, "html": html}
    outbox.enqueue(EMAIL_KIND, payload, idempotency_key=key, tenant_id=tenant_id)


def deliver_email(delivery: Delivery) -> None:
    config = current_app.config
    message = _message(delivery, _built(delivery.payload), config)
    if not config.get("SMTP_HOST"):
        if config["CONFIG_NAME"] == "production":
            raise DeliveryError("TRAINING_SMTP_HOST is not set: email cannot be sent yet")
        _write_to_instance_folder(delivery, message)
        return
    try:
        with _connect(config) as smtp:
            refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"the mail server refused every recipient: {_answers(exc.recipients)}", retry=False
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"the mail server refused the login ({exc.smtp_code}); "
            "check TRAINING_SMTP_USER and TRAINING_SMTP_PASSWORD"
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"the mail server answered {exc.smtp_code}: {_text(exc.smtp_error)}",
            retry=exc.smtp_code < 500 or exc.smtp_code in (552,),
        ) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"could not reach the mail server: {type(exc).__name__}: {exc}") from None
    if refused:
        log.warning(
            "some recipients refused", extra={"message_id": delivery.id, "refused": _answers(refused)}
        )


def _connect(config: Any) -> smtplib.SMTP:
    """A connection ready to send: TLS as configured, logged in. Closed again if a step fails."""
    host, security = config["SMTP_HOST"], (config.get("SMTP_SECURITY") or "starttls").lower()
    timeout = float(config.get("SMTP_TIMEOUT") or 15)
    context = ssl.create_default_context(cafile=config.get("SMTP_CA_FILE") or None)
    if security == "tls":
        port = int(config.get("SMTP_PORT") or 465)
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, int(config.get("SMTP_PORT") or 587), timeout=timeout)
    try:
        if security == "starttls":
            smtp.starttls(context=context)
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _built(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its recipients, subject and bodies: as queued, or built now."""
    if "builder" not in payload:
        return payload
    builder = _builders.get(payload["builder"])
    if builder is None:
        raise DeliveryError(f"no email builder {payload['builder']!r} is registered", retry=False)
    return builder(payload)


def _message(delivery: Delivery, payload: dict[str, Any], config: Any) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.get("SMTP_FROM") or formataddr(("Postwise", "training@localhost"))
    message["To"] = ", ".join(payload["to"])
    if payload.get("cc"):
        message["Cc"] = ", ".join(payload["cc"])
    message["Subject"] = payload["subject"]
    message["Message-ID"] = make_msgid(idstring=f"outbox-{delivery.id}")
    message["X-Postwise-Key"] = delivery.idempotency_key
    message.set_content(payload["text"])
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message


def _write_to_instance_folder(delivery: Delivery, message: EmailMessage) -> None:
    folder = Path(current_app.instance_path) / "mail"
    folder.mkdir(exist_ok=True)
    (folder / f"{delivery.id:08d}.eml").write_bytes(bytes(message))
    log.info(
        "email written to the instance folder",
        extra={"message_id": delivery.id, "to": message["To"]},  # a built email's payload names no one
    )


def _answers(recipients: dict[str, Any]) -> str:
    return json.dumps({address: [code, _text(answer)] for address, (code, answer) in recipients.items()})[
        :500
    ]


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
