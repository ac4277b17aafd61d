"""Transfers under way (big pushes and pulls) as the activity window, the tray tooltip and
the tray icon show them. The engine keeps the state (`Engine.transfers`, fed by its
`TransferProgress` events before any window hears of them); this module only tells the
widgets when it changed and draws the progress onto the icon."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QPainter, QPixmap

from autosync_gui.engine.events import TransferProgress
from autosync_gui.engine.transfers import RunningTransfers, describe

__all__ = ["TransferTracker", "describe", "with_progress"]


class TransferTracker(QObject):
    """The engine's running transfers, for widgets: `changed` after each progress event
    (the engine has updated its state by then) and when a folder's transfer was dropped."""

    changed = pyqtSignal(object)  # folder path

    def __init__(self, source: Callable[[], RunningTransfers | None],
                 parent: QObject | None = None) -> None:
        """`source`: the engine's RunningTransfers (None before the engine exists)."""
        super().__init__(parent)
        self._source = source
        self._shown: set[Path] = set()

    @property
    def running(self) -> dict[Path, TransferProgress]:
        source = self._source()
        return source.running if source is not None else {}

    def overall(self) -> float | None:
        source = self._source()
        return source.overall() if source is not None else None

    def update(self, event: TransferProgress) -> None:
        """A progress event reached the UI (connected to EngineSignals.transferProgress)."""
        folder = Path(event.folder)
        if event.finished:
            self._shown.discard(folder)
        else:
            self._shown.add(folder)
        self.changed.emit(folder)

    def state_changed(self, folder: Path) -> None:
        """A folder's state changed: if the engine dropped its transfer (it ended without
        its `finished` event, e.g. cut by an error), say so once."""
        folder = Path(folder)
        if folder in self._shown and folder not in self.running:
            self._shown.discard(folder)
            self.changed.emit(folder)


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
