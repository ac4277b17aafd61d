"""Running hg for one repository.

Local commands go to one long-lived `hg serve --cmdserver pipe` (Mercurial's command
server, spoken here directly: a few lines of framing), because every `hg` process costs
about 100 ms of Python start-up and a sync round runs a dozen commands. Network commands
(pull, push, identify) run as their own `hg` process with a time limit, so a hung
connection is killed without touching the command server.

Every child gets the environment of `git_runner.child_environment` (none of our
secrets) plus HGPLAIN, HGRCPATH (our one config file, see config.py) and HGRCSKIPREPO:
no hook, extension or alias from any hgrc runs. Arguments are lists (no shell); file
arguments are always `path:` patterns."""

from __future__ import annotations

import contextlib
import struct
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from autosync_gui.disk_space import mentions_disk_full
from autosync_gui.engine.git_runner import child_environment
from autosync_gui.engine.repository import DiskFull, RepositoryBusy, RepositoryError

_LENGTH = struct.Struct(">I")
# Our one command inside hg (`autosync-dirstate`, see that file), loaded by the server only.
DIRSTATE_EXTENSION = Path(__file__).with_name("dirstate_extension.py")
_STATUS = struct.Struct(">i")


@dataclass(frozen=True)
class HgResult:
    """One hg run: exit status, raw stdout (file names are bytes), stderr text."""

    status: int
    out: bytes
    err: str

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "surrogateescape").strip()


def first_line(err: str) -> str:
    """hg's most telling line (the abort, else the first)."""
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("abort: "):
            return line.removeprefix("abort: ")
    return lines[0] if lines else "no message"


def hg_environment(hgrc: Path) -> dict[str, str]:
    """The environment every hg child of one repository gets (no secrets of ours)."""
    env = child_environment({"HGPLAIN": "1", "HGRCPATH": str(hgrc), "HGRCSKIPREPO": "1",
                             "HGENCODING": "utf-8"})
    env.pop("HGPLAINEXCEPT", None)  # would turn parts of the user's set-up back on
    return env


class _CommandServer:
    """One `hg serve --cmdserver pipe` process and its framing."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self._process = subprocess.Popen(
            ["hg", "--config", f"extensions.autosync_dirstate={DIRSTATE_EXTENSION}",
             "serve", "--cmdserver", "pipe", "-R", str(root)], cwd=root,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=dict(env))
        channel, data = self._read()
        if channel != b"o" or b"runcommand" not in data:
            self.close()
            raise RepositoryError(f"{root}: the hg command server did not start")

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def _read_exactly(self, size: int) -> bytes:
        stdout: IO[bytes] | None = self._process.stdout
        assert stdout is not None
        data = stdout.read(size)
        if len(data) != size:
            raise EOFError("hg command server closed its pipe")
        return data

    def _read(self) -> tuple[bytes, bytes]:
        channel = self._read_exactly(1)
        (length,) = _LENGTH.unpack(self._read_exactly(4))
        if channel in (b"I", b"L"):
            return channel, _LENGTH.pack(length)  # input wanted: length is the size asked
        return channel, self._read_exactly(length) if length else b""

    def run(self, args: list[str], stdin: bytes | None) -> HgResult:
        pipe = self._process.stdin
        assert pipe is not None
        payload = b"\0".join(a.encode("utf-8", "surrogateescape") for a in args)
        pipe.write(b"runcommand\n" + _LENGTH.pack(len(payload)) + payload)
        pipe.flush()
        out: list[bytes] = []
        err: list[bytes] = []
        pending = memoryview(stdin or b"")
        while True:
            channel, data = self._read()
            if channel == b"o":
                out.append(data)
            elif channel == b"e":
                err.append(data)
            elif channel == b"r":
                (status,) = _STATUS.unpack(data)
                return HgResult(status, b"".join(out),
                                b"".join(err).decode("utf-8", "replace"))
            elif channel in (b"I", b"L"):
                (wanted,) = _LENGTH.unpack(data)
                chunk = bytes(pending[:wanted])
                if channel == b"L" and b"\n" in chunk:
                    chunk = chunk[:chunk.index(b"\n") + 1]
                pending = pending[len(chunk):]
                pipe.write(_LENGTH.pack(len(chunk)) + chunk)
                pipe.flush()
            elif channel.isupper():
                raise RepositoryError(f"hg command server asked for channel {channel!r}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


class HgRunner:
    """Runs hg in one work tree with a fixed environment (see the module doc)."""

    def __init__(self, root: Path, hgrc: Path) -> None:
        self.root = root
        self.hgrc = hgrc
        self._env = hg_environment(hgrc)
        self._server: _CommandServer | None = None
        self._lock = threading.Lock()  # one command at a time on the server

    def environment(self) -> dict[str, str]:
        return dict(self._env)

    def run(self, *args: str, stdin: bytes | None = None, check: bool = True) -> HgResult:
        """A local command, through the command server."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._server is None or not self._server.alive:
                        self._server = _CommandServer(self.root, self._env)
                    result = self._server.run(list(args), stdin)
                    break
                except (EOFError, BrokenPipeError, OSError):
                    self._drop_server()
                    if attempt == 2:
                        raise RepositoryError(f"{self.root}: the hg command server "
                                              "stopped; will retry") from None
        return self._check(args, result, check)

    def network(self, *args: str, timeout: float) -> HgResult:
        """A command talking to a remote: its own process, killed after `timeout`."""
        return self._spawn(list(args), None, timeout, self.root)

    def _spawn(self, args: list[str], stdin: bytes | None, timeout: float | None,
               cwd: Path) -> HgResult:
        try:
            done = subprocess.run(["hg", *args], cwd=cwd, input=stdin,
                                  stdin=None if stdin is not None else subprocess.DEVNULL,
                                  capture_output=True, env=self._env, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            return HgResult(-9, b"", f"abort: hg {args[0]} killed because it timed out "
                                     f"after {timeout:g} s")
        return HgResult(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))

    def _check(self, args: tuple[str, ...] | list[str], result: HgResult,
               check: bool) -> HgResult:
        if check and not result.ok:
            if mentions_disk_full(result.err):
                raise DiskFull.measure(self.root, failed=True)
            if "timed out waiting for lock" in result.err or "waiting for lock" in result.err:
                raise RepositoryBusy(f"{self.root}: another hg process is using the "
                                     "repository")
            raise RepositoryError(f"{self.root}: hg {args[0]} failed: "
                                  f"{first_line(result.err)}")
        return result

    def _drop_server(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def close(self) -> None:
        with self._lock:
            self._drop_server()
