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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import socket
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from training_app import outbound

CONNECT_TIMEOUT_SECONDS = 20
CHUNK_BYTES = 64 * 1024


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


class _PinnedHostKey(asyncssh.SSHClient):
    """Accepts exactly the pinned host key; remembers what the server offered instead."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.offered: str | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.offered = key.get_fingerprint("sha256")
        return hmac.compare_digest(self.offered, self.fingerprint)


def send_file(local: Path, name: str, destination: Destination, policy: outbound.DestinationPolicy) -> None:
    """Put `local` on the server as `<remote_dir>/<name>`; TransferFailed otherwise."""
    address = _checked_address(destination, policy)
    _run_to_completion(_send(local, name, destination, address))


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


async def _send(local: Path, name: str, destination: Destination, address: str) -> None:
    pinned = _PinnedHostKey(destination.host_key_fingerprint)
    options: dict[str, object] = {
        "username": destination.username,
        "known_hosts": ([], [], []),  # nothing trusted in advance: only the pinned key passes
        "client_factory": lambda: pinned,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "agent_path": None,
        "client_keys": None,
        "password": None,
        "preferred_auth": "publickey" if destination.private_key else "password",
        "config": None,
    }
    if destination.private_key:
        try:
            options["client_keys"] = [asyncssh.import_private_key(destination.private_key)]
        except (asyncssh.KeyImportError, ValueError):
            raise TransferFailed("the stored private key cannot be read", retry=False) from None
    else:
        options["password"] = destination.password
    try:
        async with (
            asyncssh.connect(address, destination.port, **options) as connection,
            connection.start_sftp_client() as sftp,
        ):
            await _write_then_rename(sftp, local, name, destination.remote_dir)
    except TransferFailed:
        raise
    except asyncssh.HostKeyNotVerifiable:
        raise TransferFailed(
            f"refused: the server's host key is {pinned.offered or 'unknown'}, not the pinned "
            f"{destination.host_key_fingerprint}; nothing was sent",
            retry=False,
        ) from None
    except asyncssh.PermissionDenied:
        raise TransferFailed("the server refused the user name and key or password", retry=False) from None
    except asyncssh.SFTPError as exc:
        raise TransferFailed(_sftp_problem(exc), retry=True) from None
    except (TimeoutError, asyncssh.Error, OSError) as exc:
        raise TransferFailed(
            f"connection failed: {type(exc).__name__}: {exc}".rstrip(": "), retry=True
        ) from None


async def _write_then_rename(sftp: asyncssh.SFTPClient, local: Path, name: str, folder: str) -> None:
    folder = folder.rstrip("/") or "."
    final, partial = f"{folder}/{name}", f"{folder}/.{name}.part"
    try:
        async with sftp.open(partial, "wb") as remote:
            with local.open("rb") as source:
                while chunk := source.read(CHUNK_BYTES):
                    await remote.write(chunk)
        try:
            await sftp.posix_rename(partial, final)
        except asyncssh.SFTPOpUnsupported:
            if await sftp.exists(final):
                await sftp.remove(final)
            await sftp.rename(partial, final)
    except BaseException:
        # the connection may be gone: the temporary file then stays, never the final name
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sftp.remove(partial), timeout=5)
        raise


def _sftp_problem(exc: asyncssh.SFTPError) -> str:
    kinds = {
        asyncssh.SFTPNoSpaceOnFilesystem: "the server's disk is full",
        asyncssh.SFTPPermissionDenied: "the server does not allow writing in that folder",
        asyncssh.SFTPNoSuchFile: "the folder does not exist on the server",
    }
    for kind, text in kinds.items():
        if isinstance(exc, kind):
            return f"{text} ({exc.reason})" if exc.reason else text
    return f"the server refused: {exc.reason or type(exc).__name__}"
