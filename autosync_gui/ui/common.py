"""Small helpers the windows share: opening files with the desktop, time formatting,
an inline error label, and keeping asyncio tasks referenced."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, QTimer, QUrl
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import QLabel, QWidget

from autosync_gui.engine.safe_paths import display

log = logging.getLogger(__name__)

_tasks: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
    """Start a task and keep a reference until it ends (the loop only keeps weak ones);
    exceptions are logged, never lost."""
    task = asyncio.ensure_future(coro)
    if name:
        task.set_name(name)
    _tasks.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        _tasks.discard(t)
        exc = None if t.cancelled() else t.exception()
        if exc is not None:
            log.error("task %s failed", t.get_name(), exc_info=exc)

    task.add_done_callback(done)
    return task


OPEN_WATCH_SECONDS = 10.0  # how long a failed open is still reported (xdg-open's exit)
_opening: set[QTimer] = set()


def open_path(path: Path, on_error: Callable[[str], None] | None = None) -> None:
    """Open a file or folder with the desktop's default application (xdg-open, in a
    session of its own so it outlives autosync). When no application can open it (no
    handler: xdg-open fails), `on_error` gets one line naming the file and the fix; it is
    logged either way. Without xdg-open, Qt's own launcher is asked."""
    log.info("opening %s", path)

    def failed(reason: str) -> None:
        message = (f"No application could open {display(str(path))} ({reason}); choose a "
                   "default application for this kind of file in your desktop's settings, "
                   "or open it from your file manager")
        log.warning("%s", message)
        if on_error is not None:
            on_error(message)

    program = shutil.which("xdg-open")
    if program is None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            failed("xdg-open is not installed")
        return
    errors = tempfile.TemporaryFile()  # never a pipe: a long-running app would fill it
    try:
        child = subprocess.Popen([program, str(path)], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=errors,
                                 start_new_session=True)
    except OSError as exc:
        errors.close()
        failed(str(exc))
        return
    deadline = time.monotonic() + OPEN_WATCH_SECONDS
    timer = QTimer()
    timer.setInterval(100)
    _opening.add(timer)

    def check() -> None:
        code = child.poll()
        if code is None and time.monotonic() < deadline:
            return  # still starting (or the application runs in its place: fine)
        timer.stop()
        _opening.discard(timer)
        if code:
            errors.seek(0)
            lines = errors.read(4096).decode("utf-8", "replace").strip().splitlines()
            failed(lines[-1] if lines else f"xdg-open exited with status {code}")
        errors.close()

    timer.timeout.connect(check)
    timer.start()


def full_time(when: datetime | None) -> str:
    """A moment with its date and seconds, local time: 2025-01-31 19:18:00."""
    if when is None:
        return "unknown time"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def date_time(when: datetime | None) -> str:
    """A moment to the minute with its date, local time: 2025-01-31 19:18."""
    if when is None:
        return "never"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def local_time(when: datetime | None) -> str:
    if when is None:
        return "never"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    local = when.astimezone()
    now = datetime.now().astimezone()
    if local.date() == now.date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def repo_root(folder: object) -> Path:
    """The work tree top of a FolderSync (activity and history paths are relative to it)."""
    repo = getattr(folder, "repo", None)
    root = getattr(repo, "root", None)
    return Path(root) if root is not None else Path(getattr(folder, "path", "."))


class ErrorLabel(QLabel):
    """Inline, selectable, word-wrapped message under a form; red for errors."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def error(self, text: str) -> None:
        self.setStyleSheet("color: #c62828; font-weight: bold;")
        self.setText(text)
        self.setVisible(bool(text))

    def info(self, text: str) -> None:
        self.setStyleSheet("")
        self.setText(text)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.setText("")
        self.hide()
