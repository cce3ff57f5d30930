"""The SSH connection of an SFTP feed (asyncssh): the pinned host key, the upload under a
temporary name and the rename, every failure as feeds.sftp_transfer.TransferFailed."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from pathlib import Path

import asyncssh

from feeds.sftp_transfer import Destination, TransferFailed

CONNECT_TIMEOUT_SECONDS = 20
CHUNK_BYTES = 64 * 1024


class _PinnedHostKey(asyncssh.SSHClient):
    """Accepts exactly the pinned host key; remembers what the server offered instead."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.offered: str | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.offered = key.get_fingerprint("sha256")
        return hmac.compare_digest(self.offered, self.fingerprint)


async def send(local: Path, name: str, destination: Destination, address: str) -> None:
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
