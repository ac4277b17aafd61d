"""Deleted files: the files of a folder deleted in the last N days and not back since,
each restorable in one click (its last content, committed as "restored NAME as of DATE
from HOST"), or looked at in its versions."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.engine.repository import DeletedFile, RepositoryError
from autosync_gui.engine.safe_paths import display
from autosync_gui.sizes import human_size
from autosync_gui.ui.common import ErrorLabel, full_time, spawn
from autosync_gui.ui.icons import app_icon

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
ROLE = Qt.ItemDataRole.UserRole


class DeletedFilesDialog(QDialog):
    """Non-modal: sync goes on while it is open."""

    loaded = pyqtSignal(int)  # files listed
    restored = pyqtSignal(str, str)  # repository-relative path, the restore commit
    versionsRequested = pyqtSignal(object, str)  # folder path, repository-relative path

    def __init__(self, folder: Any, days: int = DEFAULT_DAYS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.files: list[DeletedFile] = []
        self.setObjectName("deleted_files")
        self.setWindowTitle(f"Deleted files in {Path(folder.path).name} — autosync")
        self.setWindowIcon(app_icon())
        self.resize(860, 480)
        self.days = QSpinBox()
        self.days.setObjectName("deleted_days")
        self.days.setRange(1, 3650)
        self.days.setValue(days)
        self.days.setSuffix(" days")
        self.days.valueChanged.connect(lambda _v: self.reload())
        top = QHBoxLayout()
        top.addWidget(QLabel("Files deleted in the last"))
        top.addWidget(self.days)
        top.addStretch(1)
        self.table = QTreeWidget()
        self.table.setObjectName("deleted_list")
        self.table.setHeaderLabels(["File", "Deleted", "By", "Size", ""])
        self.table.setRootIsDecorated(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.header()
        if header is not None:
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemDoubleClicked.connect(lambda item, _c: self._versions(item))
        self.status = ErrorLabel()
        self.status.setObjectName("deleted_status")
        versions = QPushButton("Versions…")
        versions.clicked.connect(lambda: self._versions(self.table.currentItem()))
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(versions)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.restore_buttons: dict[str, QPushButton] = {}
        self._load_task: asyncio.Task[None] | None = None
        self.reload()

    def reload(self) -> asyncio.Task[None]:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._load_task = spawn(self._load(), "deleted-load")
        return self._load_task

    async def _load(self) -> None:
        since = datetime.now(UTC) - timedelta(days=self.days.value())
        try:
            files = await self.folder.deleted_files(since)
        except (RepositoryError, OSError) as exc:
            self.status.error(f"Cannot list the deleted files: {exc}")
            self.loaded.emit(0)
            return
        self.files = files
        self.table.clear()
        self.restore_buttons.clear()
        for gone in files:
            name = self.folder.relative_name(gone.path)
            item = QTreeWidgetItem([display(name), full_time(gone.time), gone.host,
                                    human_size(gone.size) if gone.size is not None else "",
                                    ""])
            item.setData(0, ROLE, gone)
            item.setToolTip(0, display(gone.path))
            self.table.addTopLevelItem(item)
            button = QPushButton("Restore")
            button.setObjectName(f"restore:{gone.path}")
            button.clicked.connect(lambda _c=False, g=gone: spawn(self.restore(g),
                                                                  "deleted-restore"))
            self.table.setItemWidget(item, 4, button)
            self.restore_buttons[gone.path] = button
        if not files:
            self.status.info(f"No file was deleted in the last {self.days.value()} days.")
        self.loaded.emit(len(files))

    async def restore(self, gone: DeletedFile) -> None:
        """Put the file back as it was just before it was deleted."""
        name = self.folder.relative_name(gone.path)
        button = self.restore_buttons.get(gone.path)
        if button is not None:
            button.setEnabled(False)
        try:
            versions = await self.folder.versions(gone.path)
            last = next((v for v in versions if v.size is not None), None)
            if last is None:
                raise RepositoryError(f"no content of {display(name)} is in the history")
            result = await self.folder.restore_version(gone.path, last)
        except (RepositoryError, OSError) as exc:
            self.status.error(f"Could not restore {display(name)}: {exc}")
            if button is not None:
                button.setEnabled(True)
            return
        self.status.info(f"Restored {display(name)} as of {full_time(last.time)} from "
                         f"{last.host}.")
        await self._load()
        self.status.info(f"Restored {display(name)} as of {full_time(last.time)} from "
                         f"{last.host}.")
        self.restored.emit(gone.path, result.commit if result is not None else "")

    def _versions(self, item: QTreeWidgetItem | None) -> None:
        if item is not None:
            gone: DeletedFile = item.data(0, ROLE)
            self.versionsRequested.emit(Path(self.folder.path), gone.path)
