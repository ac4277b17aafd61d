"""Running `autosync` as a user does: real processes (the headless instance and each
command), real git repositories, a bare remote."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fixtures.waiting import poll

FAST = ["commit_delay = 0.2", "push_delay = 0.1", "poll_interval = 3600"]


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def error_line(self) -> str:
        """The one line a bad input gives (asserting it is exactly one)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, f"expected one line, got: {self.err!r}"
        return lines[0]


def write_config(path: Path, *folders: Path, extra: tuple[str, ...] = ()) -> Path:
    lines: list[str] = []
    for folder in folders:
        lines += ["[[folder]]", f'path = "{folder}"', *FAST, *extra, ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def _argv(args: tuple[str, ...], config: Path | None) -> list[str]:
    return [sys.executable, "-m", "autosync_gui", *args,
            *(["--config", str(config)] if config is not None else [])]


def autosync(*args: str, config: Path | None, cwd: Path | None = None,
             env: dict[str, str] | None = None, timeout: float = 60) -> Ran:
    """One `autosync ...` command, as a separate process."""
    done = subprocess.run(_argv(args, config), cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    return Ran(done.returncode, done.stdout, done.stderr)


async def autosync_async(*args: str, config: Path | None, cwd: Path | None = None,
                         timeout: float = 60) -> Ran:
    """The same without blocking the event loop (for a tray app running in the test)."""
    proc = await asyncio.create_subprocess_exec(
        *_argv(args, config), cwd=cwd, stdin=subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def wait_for(condition: Callable[[], object], timeout: float = 30.0,
             what: str = "condition") -> Any:
    """Poll across processes (there is no event to await in another process)."""
    return poll(condition, timeout, what, interval=0.05)


@contextlib.contextmanager
def headless(config: Path | None, *, log_path: Path | None = None,
             env: dict[str, str] | None = None, folders: int = 1
             ) -> Iterator[subprocess.Popen[str]]:
    """`autosync run --headless` as a real process, ready (every folder caught up) when
    yielded; its log goes to `log_path` (default: beside the config, .log)."""
    if log_path is None:
        assert config is not None
        log_path = config.with_suffix(".log")
    log = open(log_path, "a")
    argv = [sys.executable, "-m", "autosync_gui", "run", "--headless",
            *(["--config", str(config)] if config is not None else [])]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, text=True,
                            env=env)
    try:
        wait_for(lambda: proc.poll() is not None
                 or log_path.read_text().count("start-up catch-up done") >= folders,
                 what="headless instance ready")
        assert proc.poll() is None, log_path.read_text()
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


def commit_at(cwd: Path, message: str, date: str, *, push: bool = True) -> None:
    """What another machine did at `date`: add, commit, push (plain git)."""
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    for args in (["add", "-A"], ["commit", "-qm", message], *([["push", "-q"]] if push else [])):
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
