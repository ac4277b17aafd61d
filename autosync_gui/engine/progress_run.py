"""Running a long git command (a first clone, a first push) the way a person watches it:
its `--progress` lines reported as they come, Cancel stopping it at once, and no limit on
the total time: only a stall (no byte from git for `stall_timeout` seconds) is an error.

Blocking; meant for a worker thread. Cancel comes from another thread (an Event)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STALL_TIMEOUT = 120.0
_KEEP_STDERR = 64 * 1024
_LINE_END = re.compile(r"[\r\n]")
_PROGRESS = re.compile(r"^(?:remote: )?(?P<phase>[A-Za-z][A-Za-z ]+?):\s+(?P<percent>\d+)%"
                       r"(?:\s*\((?P<done>\d+)/(?P<total>\d+)\))?(?:,\s*(?P<rest>(?!\s*done\.).*?))?"
                       r"(?:,\s*done\.)?\s*$")


@dataclass(frozen=True)
class Progress:
    """One progress line of git: phase ("Receiving objects"), percent, and what git adds
    after it (bytes so far and the rate while receiving: "12.5 MiB | 3.1 MiB/s")."""

    phase: str
    percent: int | None
    done: int | None
    total: int | None
    rate: str
    line: str

    def __str__(self) -> str:
        return self.line


def parse_progress(line: str) -> Progress:
    m = _PROGRESS.match(line.strip())
    if m is None:
        return Progress(phase="", percent=None, done=None, total=None, rate="",
                        line=line.strip())
    return Progress(phase=m["phase"], percent=int(m["percent"]),
                    done=int(m["done"]) if m["done"] else None,
                    total=int(m["total"]) if m["total"] else None,
                    rate=(m["rest"] or "").strip(), line=line.strip())


class Cancelled(Exception):
    """The user pressed Cancel; the command was stopped."""


class Stalled(Exception):
    """No byte came from git for the stall timeout; the command was stopped."""


@dataclass(frozen=True)
class RunResult:
    status: int
    stderr: str


def run_with_progress(command: list[str], *, env: dict[str, str], cwd: Path | None = None,
                      on_progress: Callable[[Progress], None] | None = None,
                      cancel: threading.Event | None = None,
                      stall_timeout: float = STALL_TIMEOUT) -> RunResult:
    """Run `command` (stdin closed, stdout discarded, stderr read as it comes). Raises
    Cancelled or Stalled after stopping it (its whole process group: ssh included)."""
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    kept = b""
    pending = b""
    last_byte = time.monotonic()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                if time.monotonic() - last_byte > stall_timeout:
                    raise Stalled(f"stalled: no data for {stall_timeout:g} s")
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            last_byte = time.monotonic()
            kept = (kept + chunk)[-_KEEP_STDERR:]
            pending += chunk
            *lines, pending_text = _LINE_END.split(pending.decode("utf-8", "replace"))
            pending = pending_text.encode()
            if on_progress is not None:
                for line in lines:
                    if line.strip():
                        on_progress(parse_progress(line))
        status = proc.wait()
    except BaseException:
        _stop(proc)
        raise
    finally:
        proc.stderr.close()
    return RunResult(status, kept.decode("utf-8", "replace"))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop git and everything it started (ssh, helpers) at once."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
