"""One tray app per user: a flock()ed lock file decides who is first, a QLocalServer
lets later launches ask the first one to show itself.

flock is released by the kernel when the process dies, so a crash never leaves a stale
lock and a reused PID cannot fool it (dvcs-autosync's pidfile could be). The folder, the
lock and the socket are checked before use, and so is the user at the other end of every
connection (control/runtime.py): another local user can neither take our place nor
receive our messages."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtNetwork import QLocalServer, QLocalSocket

from autosync_gui.control.runtime import (
    UnsafeRuntimeError,
    check_peer,
    check_private_dir,
    check_socket_file,
    open_private_file,
    runtime_dir,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 2000


def _check_peer_of(sock: QLocalSocket, path: Path) -> None:
    with socket.socket(fileno=os.dup(int(sock.socketDescriptor()))) as raw:
        check_peer(raw, path)


class SingleInstance(QObject):
    """acquire() -> True in the first instance (which then emits `activated` whenever a
    later launch calls notify_running()); False when another instance runs.

    Raises UnsafeRuntimeError (one line) when the folder, lock or socket could be
    controlled by another local user."""

    activated = pyqtSignal(str)

    def __init__(self, name: str = "autosync", directory: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        if directory is None:
            base = runtime_dir()
        else:
            check_private_dir(directory, os.lstat(directory), fix="use a folder of yours "
                              "with mode 0700")
            base = directory
        self.lock_path = base / f"{name}.lock"
        self.socket_path = base / f"{name}.socket"
        self._lock_fd: int | None = None
        self._server: QLocalServer | None = None

    def acquire(self) -> bool:
        fd = open_private_file(self.lock_path)
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
        else:
            check_socket_file(self.socket_path)
            os.chmod(self.socket_path, 0o600, follow_symlinks=False)
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def _on_connection(self) -> None:
        assert self._server is not None
        while (sock := self._server.nextPendingConnection()) is not None:
            try:
                _check_peer_of(sock, self.socket_path)
            except (UnsafeRuntimeError, OSError) as exc:
                log.warning("single instance: refused a connection: %s", exc)
                sock.abort()
                sock.deleteLater()
                continue
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
        try:
            check_socket_file(self.socket_path)
        except FileNotFoundError:
            log.warning("another autosync holds %s but has no socket %s",
                        self.lock_path, self.socket_path)
            return False
        sock = QLocalSocket()
        sock.connectToServer(str(self.socket_path))
        if not sock.waitForConnected(CONNECT_TIMEOUT_MS):
            log.warning("another autosync holds %s but does not answer on %s",
                        self.lock_path, self.socket_path)
            return False
        try:
            _check_peer_of(sock, self.socket_path)
        except UnsafeRuntimeError:
            sock.abort()
            raise
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
