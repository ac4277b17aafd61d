"""Following the configuration file while running: when it changes (written by `autosync
add`/`remove`, the wizard of another instance, or by hand), it is read again and the
folders are handed to the engine. A file that does not parse is reported once and the
running folders stay as they are. Checked once a second (a stat; nothing else)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from autosync_gui.config import ConfigError, Settings, load_config

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0

Apply = Callable[[Settings], Awaitable[None]]


def _signature(path: Path) -> tuple[int, int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class ConfigWatch:
    def __init__(self, path: Path, apply: Apply, every: float = CHECK_EVERY) -> None:
        self.path = Path(path)
        self._apply = apply
        self._every = every
        self._seen = _signature(self.path)
        self._reported: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="autosync config watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            current = _signature(self.path)
            if current == self._seen or current is None:
                continue
            self._seen = current
            try:
                settings = load_config(self.path)  # a small file: read on the loop
            except ConfigError as exc:
                if str(exc) != self._reported:
                    self._reported = str(exc)
                    log.warning("configuration changed but cannot be used: %s", exc)
                continue
            self._reported = None
            log.info("configuration changed: %s", self.path)
            try:
                await self._apply(settings)
            except Exception:
                log.exception("applying the changed configuration failed")
