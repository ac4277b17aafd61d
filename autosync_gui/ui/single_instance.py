"""One tray app per user: a flock()ed lock file decides who is first, a QLocalServer
lets later launches ask the first one to show itself.

flock is released by the kernel when the process dies, so a crash never leaves a stale
lock and a reused PID cannot fool it (dvcs-autosync's pidfile could be)."""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 2000


def runtime_dir() -> Path:
    """Per-user directory for the lock and the socket."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_dir():
        return Path(xdg)
    path = Path(tempfile.gettempdir()) / f"autosync-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


class SingleInstance(QObject):
    """acquire() -> True in the first instance (which then emits `activated` whenever a
    later launch calls notify_running()); False when another instance runs."""

    activated = pyqtSignal(str)

    def __init__(self, name: str = "autosync", directory: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        base = directory or runtime_dir()
        self.lock_path = base / f"{name}.lock"
        self.socket_path = base / f"{name}.socket"
        self._lock_fd: int | None = None
        self._server: QLocalServer | None = None

    def acquire(self) -> bool:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        QLocalServer.removeServer(str(self.socket_path))  # a crashed owner's socket
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(str(self.socket_path)):
            log.warning("single instance: cannot listen on %s: %s", self.socket_path,
                        server.errorString())
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def _on_connection(self) -> None:
        assert self._server is not None
        while (sock := self._server.nextPendingConnection()) is not None:
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(sock.deleteLater)
            if sock.bytesAvailable():
                self._read(sock)

    def _read(self, sock: QLocalSocket) -> None:
        while sock.canReadLine():
            message = bytes(sock.readLine().data()).decode("utf-8", "replace").strip()
            log.info("another launch asked: %s", message or "activate")
            self.activated.emit(message or "activate")

    def notify_running(self, message: str = "activate") -> bool:
        """Blocking (runs before any event loop): tell the first instance; True if told."""
        sock = QLocalSocket()
        sock.connectToServer(str(self.socket_path))
        if not sock.waitForConnected(CONNECT_TIMEOUT_MS):
            log.warning("another autosync holds %s but does not answer on %s",
                        self.lock_path, self.socket_path)
            return False
        sock.write((message + "\n").encode())
        ok = sock.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        sock.disconnectFromServer()
        return ok

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
