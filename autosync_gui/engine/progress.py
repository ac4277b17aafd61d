"""Progress of git's and Git LFS's transfers, read from the lines they print on stderr.

git prints `Writing objects:  45% (9/20), 1.20 GiB | 80.00 MiB/s` (push) and `Receiving
objects: ...` (fetch); git-lfs prints `Uploading LFS objects:  50% (1/2), 750 MB | 75 MB/s`
and `Downloading LFS objects: ...`. Each line is overwritten with a carriage return, so
the stream is split on both CR and LF. A run is ended when it prints nothing for
`idle_timeout` seconds (a transfer of many gigabytes takes as long as it takes, but a
silent one is stuck)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from autosync_gui.engine.git_env import GitResult

_LINE = re.compile(r"^(?:remote: )?(?P<phase>[A-Za-z][A-Za-z ]+?):\s+(?P<pct>\d+)%"
                   r"(?: \((?P<n>\d+)/(?P<total>\d+)\))?"
                   r"(?:,\s*(?P<size>[\d.]+) ?(?P<unit>[KMGT]?i?B|bytes))?"
                   r"(?:\s*\|\s*(?P<rate>[\d.]+) ?(?P<rate_unit>[KMGT]?i?B|bytes)/s)?")
_UNITS = {"bytes": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
          "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
# Phases that move data (the others count or compress objects and carry no byte count).
DATA_PHASES = ("Writing objects", "Receiving objects", "Uploading LFS objects",
               "Downloading LFS objects")
MAX_KEPT_ERR = 64 * 1024


@dataclass(frozen=True)
class ProgressLine:
    phase: str
    percent: int
    done_bytes: int | None
    rate: float | None  # bytes per second

    @property
    def moves_data(self) -> bool:
        return self.phase in DATA_PHASES


def parse_progress(line: str) -> ProgressLine | None:
    """The progress in one line of git's or git-lfs's stderr; None for other lines."""
    match = _LINE.match(line.strip())
    if match is None:
        return None
    done = rate = None
    if match["size"] and match["unit"] in _UNITS:
        done = int(float(match["size"]) * _UNITS[match["unit"]])
    if match["rate"] and match["rate_unit"] in _UNITS:
        rate = float(match["rate"]) * _UNITS[match["rate_unit"]]
    return ProgressLine(match["phase"].strip(), int(match["pct"]), done, rate)


def run_with_progress(command: list[str], *, cwd: Path, env: Mapping[str, str],
                      on_progress: Callable[[ProgressLine], None] | None,
                      idle_timeout: float) -> GitResult:
    """Run `command`, calling `on_progress` for each progress line it prints; stderr's
    other lines are kept (bounded) for error messages. Killed after `idle_timeout`
    seconds without output."""
    process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out_chunks: list[bytes] = []
    last_output = [time.monotonic()]
    timed_out = threading.Event()

    def read_stdout() -> None:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        for chunk in iter(lambda: os.read(fd, 65536), b""):
            out_chunks.append(chunk)
            last_output[0] = time.monotonic()

    def watchdog() -> None:
        while process.poll() is None:
            if time.monotonic() - last_output[0] > idle_timeout:
                timed_out.set()
                with contextlib.suppress(OSError):
                    process.kill()
                return
            time.sleep(min(1.0, idle_timeout / 4))  # a watchdog's tick, not synchronisation

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    threading.Thread(target=watchdog, daemon=True).start()
    kept: list[str] = []
    kept_size = 0
    pending = b""
    assert process.stderr is not None
    err_fd = process.stderr.fileno()
    for chunk in iter(lambda: os.read(err_fd, 65536), b""):
        last_output[0] = time.monotonic()
        pending += chunk
        *lines, pending = re.split(rb"[\r\n]", pending)
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            progress = parse_progress(line)
            if progress is not None:
                if on_progress is not None:
                    on_progress(progress)
            elif line.strip() and kept_size < MAX_KEPT_ERR:
                kept.append(line)
                kept_size += len(line)
    if pending.strip():
        kept.append(pending.decode("utf-8", "replace"))
    status = process.wait()
    reader.join()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    err = "\n".join(kept)
    if timed_out.is_set():
        status = -9
        err = f"error: {command[-1]} killed: it printed nothing for {idle_timeout:g} s " \
              f"(connection timed out)\n{err}"
    return GitResult(status, b"".join(out_chunks), err)
