"""Transfers under way (big pushes and pulls) as the activity window, the tray tooltip and
the tray icon show them. The engine reports them to observers as its typed transfer
progress event (`transfer_progress(event)`, see engine/events.py); this module reads only
the fields below, so it works with that event as it is."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

from PyQt6.QtCore import QObject, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QPainter, QPixmap

from autosync_gui.sizes import human_size


class TransferEvent(Protocol):
    """The fields of the engine's transfer progress event that the UI shows."""

    @property
    def folder(self) -> Path: ...
    @property
    def direction(self) -> str: ...  # "upload" or "download"
    @property
    def what(self) -> str: ...  # "git push", "git fetch", "LFS upload", ...
    @property
    def done_bytes(self) -> int: ...
    @property
    def total_bytes(self) -> int | None: ...
    @property
    def rate(self) -> float | None: ...
    @property
    def finished(self) -> bool: ...
    @property
    def when(self) -> datetime: ...


def fraction(event: TransferEvent) -> float | None:
    if not event.total_bytes:
        return None
    return min(1.0, event.done_bytes / event.total_bytes)


def describe(event: TransferEvent) -> str:
    """"sending 120 MB of 1.5 GB (8%), 12 MB/s" — one line for a tooltip or a table."""
    verb = "sending" if str(event.direction) == "upload" else "receiving"
    done = human_size(event.done_bytes)
    part = fraction(event)
    text = f"{verb} {done}"
    if event.total_bytes:
        text += f" of {human_size(event.total_bytes)}"
        if part is not None:
            text += f" ({part:.0%})"
    if event.rate:
        text += f", {human_size(event.rate)}/s"
    return text


class TransferTracker(QObject):
    """The latest progress of each folder's running transfer; a finished one is dropped."""

    changed = pyqtSignal(object)  # folder path

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.running: dict[Path, TransferEvent] = {}

    def update(self, event: TransferEvent) -> None:
        folder = Path(event.folder)
        if event.finished:
            self.running.pop(folder, None)
        else:
            self.running[folder] = event
        self.changed.emit(folder)

    def forget(self, folder: Path) -> None:
        """The folder left the transferring states (a transfer that ended without its
        `finished` event, e.g. cut by an error)."""
        if self.running.pop(Path(folder), None) is not None:
            self.changed.emit(Path(folder))

    def overall(self) -> float | None:
        """All running transfers together, 0..1, when every one knows its total."""
        events = list(self.running.values())
        if not events or any(not e.total_bytes for e in events):
            return None
        total = sum(e.total_bytes or 0 for e in events)
        return min(1.0, sum(e.done_bytes for e in events) / total) if total else None


def with_progress(icon: QIcon, part: float | None, size: int = 64) -> QIcon:
    """`icon` with a progress bar across its foot (`part` 0..1; None: unknown total, a
    bar without fill is still drawn so the user sees a transfer runs)."""
    pixmap = icon.pixmap(size, size)
    if pixmap.isNull():
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    bar = QRectF(size * 0.06, size * 0.78, size * 0.88, size * 0.18)
    painter.setPen(QColor("#202020"))
    painter.setBrush(QColor("#f4f4f4"))
    painter.drawRoundedRect(bar, 3, 3)
    if part is not None and part > 0:
        fill = QRectF(bar.x() + 1, bar.y() + 1, (bar.width() - 2) * part, bar.height() - 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#1e88e5"))
        painter.drawRoundedRect(fill, 2, 2)
    painter.end()
    return QIcon(pixmap)
