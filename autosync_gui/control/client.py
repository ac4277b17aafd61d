"""Talking to a running instance over its control socket (blocking: for the command line
and for a second launch of the tray app, before any event loop runs)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, BinaryIO

from autosync_gui.control.instance import InstancePaths
from autosync_gui.control.protocol import EXIT_NO_INSTANCE, encode_request
from autosync_gui.control.runtime import check_peer, check_socket_file

REQUEST_TIMEOUT = 300.0  # a restore or a long history may take a while on a big repository


class NoInstanceError(Exception):
    """No instance runs for the configuration; str() is one line."""

    code = EXIT_NO_INSTANCE


class CommandFailedError(Exception):
    """The instance refused or failed the command; str() is its one line."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _no_instance(paths: InstancePaths) -> NoInstanceError:
    return NoInstanceError(f"no autosync instance runs for {paths.config}; start it with "
                           "`autosync` (tray app) or `autosync run --headless`")


class ControlClient:
    """One connection to the instance of a configuration.

    connect() raises NoInstanceError, or UnsafeRuntimeError when the socket is not served
    by our own user (nothing is sent then)."""

    def __init__(self, paths: InstancePaths, *, timeout: float | None = REQUEST_TIMEOUT) -> None:
        self.paths = paths
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._stream: BinaryIO | None = None

    def connect(self, *, wait: float = 0.0) -> ControlClient:
        """Connect; with `wait`, keep trying that long (an instance that holds its lock
        but is still starting has no socket yet)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self._connect_once()
                return self
            except NoInstanceError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)  # polling a socket that appears: there is nothing to await

    def _connect_once(self) -> None:
        path = self.paths.socket
        try:
            check_socket_file(path)
        except FileNotFoundError:
            raise _no_instance(self.paths) from None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
            raise _no_instance(self.paths) from None
        try:
            check_peer(sock, path)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._stream = sock.makefile("rb")

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        assert self._stream is not None
        line = self._stream.readline()
        if not line:
            raise NoInstanceError(f"the autosync instance for {self.paths.config} stopped")
        data = json.loads(line)
        if not isinstance(data, dict):
            raise CommandFailedError("the instance answered something unexpected", 1)
        return data

    def _result(self, answer: dict[str, Any]) -> Any:
        if answer.get("ok") is True:
            return answer.get("result")
        raise CommandFailedError(str(answer.get("error") or "failed"),
                                 int(answer.get("code") or 1))

    def call(self, command: str, **fields: object) -> Any:
        """Send one request; its result, or CommandFailedError."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        self._sock.sendall(encode_request(command, **fields))
        return self._result(self._read())

    def follow(self, limit: int) -> Iterator[dict[str, Any]]:
        """The last `limit` activities, then every new one as it happens (forever)."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        self._sock.settimeout(None)
        self._sock.sendall(encode_request("activity", limit=limit, follow=True))
        yield from self._result(self._read())["events"]
        while True:
            answer = self._read()
            event = answer.get("event")
            if isinstance(event, dict):
                yield event
