"""A webhook receiver on 127.0.0.1 in a process of its own (http.server, keep-alive): it records each
request's path, headers, body and arrival time, and hands them over on GET /hits?from=N."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def serve_receiver(port_out: Any) -> None:
    """Record every POST (path, headers, body, arrival time); GET /hits?from=N returns them as JSON,
    GET /count?path=P how many came on that path."""
    hits: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived = time.time()
            with lock:
                hits.append(
                    {
                        "path": self.path,
                        "at": arrived,
                        "id": self.headers.get("webhook-id"),
                        "timestamp": self.headers.get("webhook-timestamp"),
                        "signature": self.headers.get("webhook-signature"),
                        "body": body.decode(),
                    }
                )
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            asked, _, value = self.path.partition("=")
            with lock:
                if asked.startswith("/count"):
                    payload = str(sum(hit["path"] == value for hit in hits)).encode()
                else:
                    payload = json.dumps(hits[int(value or 0) :]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.send(server.server_address[1])
    server.serve_forever(poll_interval=0.05)


class Receiver:
    def __init__(self) -> None:
        ours, theirs = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=serve_receiver, args=(theirs,))
        self.process.start()
        self.port = ours.recv()
        self.seen: list[dict[str, Any]] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def refresh(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url(f"/hits?from={len(self.seen)}"), timeout=30) as answer:
            self.seen += json.loads(answer.read())
        return self.seen

    def count(self, path: str) -> int:
        with urllib.request.urlopen(self.url(f"/count?path={path}"), timeout=30) as answer:
            return int(answer.read())

    def on(self, path: str) -> list[dict[str, Any]]:
        return [hit for hit in self.seen if hit["path"] == path]

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)
