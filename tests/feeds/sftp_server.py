"""A real SFTP server (asyncssh's) on 127.0.0.1 for the SFTP feed tests, in a thread of its own.

It has a fresh host key (`fingerprint` is what a tenant pins), one user who signs in with a key
(`client_key`, OpenSSH text) or a password, and a chroot folder (`root`) whose `inbox` folder the
feeds write into. `drop_mid_file` makes it write the first chunk it is sent, then drop the
connection, as a network failure mid-file would; `full_disk` answers every write "no space".
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import asyncssh

USER = "payroll"
PASSWORD = "sftp-password-for-tests"


class SftpServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "inbox").mkdir(parents=True, exist_ok=True)
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.drop_mid_file = False
        self.full_disk = False
        self.logins = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._listener: asyncssh.SSHAcceptor | None = None

    @property
    def fingerprint(self) -> str:
        return self.host_key.get_fingerprint("sha256")

    @property
    def client_key_text(self) -> str:
        return self.client_key.export_private_key("openssh").decode()

    def files(self) -> dict[str, bytes]:
        """What is in the inbox, hidden files (a temporary `.name.part`) included."""
        return {path.name: path.read_bytes() for path in sorted((self.root / "inbox").iterdir())}

    def start(self, port: int = 0) -> SftpServer:
        if not self._thread.is_alive():
            self._thread.start()
        self._listener = asyncio.run_coroutine_threadsafe(self._listen(port), self._loop).result(10)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            asyncio.run_coroutine_threadsafe(self._listener.wait_closed(), self._loop).result(10)
            self._listener = None

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def new_host_key(self) -> None:
        """The server is reinstalled (or impersonated): another host key from the next start."""
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")

    async def _listen(self, port: int) -> asyncssh.SSHAcceptor:
        server = self
        authorized = asyncssh.import_authorized_keys(self.client_key.export_public_key().decode())

        class Server(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == USER and password == PASSWORD

            def auth_completed(self) -> None:
                server.logins += 1

        class Files(asyncssh.SFTPServer):
            def __init__(self, chan: asyncssh.SSHServerChannel) -> None:
                super().__init__(chan, chroot=str(server.root).encode())

            def write(self, file_obj, offset, data):
                if server.full_disk:
                    raise asyncssh.SFTPNoSpaceOnFilesystem("No space left on device")
                written = super().write(file_obj, offset, data)
                if server.drop_mid_file:
                    file_obj.flush()
                    self.connection.abort()
                return written

        return await asyncssh.listen(
            "127.0.0.1",
            port,
            server_host_keys=[self.host_key],
            authorized_client_keys=authorized,
            server_factory=Server,
            sftp_factory=Files,
            allow_scp=False,
        )
