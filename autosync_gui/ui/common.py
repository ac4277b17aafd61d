"""Small helpers the windows share: opening files with the desktop, time formatting,
an inline error label, and keeping asyncio tasks referenced."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, QUrl
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import QLabel, QWidget

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


def open_path(path: Path) -> bool:
    """Open a file or folder with the desktop's default application (file: URL, so a
    test or a desktop can register its own handler via QDesktopServices.setUrlHandler)."""
    log.info("opening %s", path)
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


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
