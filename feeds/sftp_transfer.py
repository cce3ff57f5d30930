"""Putting one file on an SFTP server (asyncssh), safely.

- The server must present the host key whose SHA-256 fingerprint the tenant pinned
  (`SHA256:...`, as `ssh-keygen -lf` prints it). Any other key ends the connection before any
  credential is sent: there is no trust on first use.
- The connection goes only where the outbound policy allows (training_app.outbound: no loopback,
  private or link-local address unless the operator named the host), to the address checked.
- The file is written under a temporary name (`.<name>.part`) in the folder, then renamed to its
  name (POSIX rename, which replaces a file of that name; plain rename where the server lacks
  it). A connection that drops mid-file leaves at most the temporary file, never a partial file
  under the final name; the temporary file is removed when the connection still allows it.
- Every failure is a `TransferFailed` saying what happened and whether a retry can help.

The SSH side is feeds.sftp_connection, imported when a file is sent: asyncssh (about 15 MB) then
loads only in the worker that sends feeds, not in every web worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from dataclasses import dataclass
from pathlib import Path

from training_app import outbound


@dataclass(frozen=True)
class Destination:
    host: str
    port: int
    username: str
    host_key_fingerprint: str
    remote_dir: str
    password: str | None = None
    private_key: str | None = None


class TransferFailed(Exception):
    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def send_file(local: Path, name: str, destination: Destination, policy: outbound.DestinationPolicy) -> None:
    """Put `local` on the server as `<remote_dir>/<name>`; TransferFailed otherwise."""
    from feeds import sftp_connection

    address = _checked_address(destination, policy)
    _run_to_completion(sftp_connection.send(local, name, destination, address))


def _run_to_completion(coroutine) -> None:  # type: ignore[no-untyped-def]
    """asyncio.run, or in a thread of its own when this thread already runs an event loop (the
    worker embedded in an async host; Playwright's sync API in the test suite), where asyncio.run
    refuses to start."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def _checked_address(destination: Destination, policy: outbound.DestinationPolicy) -> str:
    try:
        answers = policy.addresses(destination.host, destination.port)
    except outbound.DestinationRefused as refused:
        raise TransferFailed(f"not sent: {refused}", retry=False) from None
    except (socket.gaierror, UnicodeError):
        raise TransferFailed(f"could not resolve {destination.host}", retry=True) from None
    return answers[0][4][0]
