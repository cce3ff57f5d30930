"""A webhook receiver on 127.0.0.1 that keeps each request's raw body and headers (what a Standard
Webhooks library verifies), answers as the test says, and can go down and come back on its port."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> Any:
        """The JSON body, verified with `secret` by the standardwebhooks package (raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class HookReceiver:
    """`answers`: statuses for the next requests (then 200); `delay`: seconds before answering;
    `location`: the Location header sent with a 3xx."""

    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    location: str = ""
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def accepted(self) -> list[Hit]:
        with self.lock:
            return [hit for hit in self.hits if 200 <= hit.answered < 300]

    def accepted_ids(self) -> Counter[str]:
        return Counter(hit.webhook_id for hit in self.accepted())

    def start(self) -> HookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.hits.append(Hit(self.path, headers, body, status))
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", receiver.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
