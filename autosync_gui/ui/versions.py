"""Versions of one file (from the activity window, the history viewer and the deleted
files): every version following renames, with date, host and size; the content of each
(text, picture) and its changes beside the version before; *Restore this version* (a
commit of its own, "restored NAME as of DATE from HOST") and *Save a copy as…*."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path, PurePosixPath
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.engine.repository import FileVersion, RepositoryError
from autosync_gui.engine.safe_paths import display
from autosync_gui.sizes import human_size
from autosync_gui.ui.common import ErrorLabel, full_time, open_path, repo_root, spawn
from autosync_gui.ui.icons import app_icon
from autosync_gui.ui.preview import FilePreview, SideBySideDiff, image_of, is_binary

log = logging.getLogger(__name__)

PREVIEW_MAX = 32 * 1024 * 1024  # a version larger than this is not read to be shown
ROLE = Qt.ItemDataRole.UserRole


def change_words(version: FileVersion) -> str:
    if version.change == "renamed" and version.previous_path:
        return f"renamed from {display(PurePosixPath(version.previous_path).name)}"
    return version.change


class VersionsDialog(QDialog):
    """Non-modal: sync goes on while it is open."""

    loaded = pyqtSignal(int)  # versions listed
    previewShown = pyqtSignal(str, str)  # commit, what the content was shown as
    restored = pyqtSignal(str)  # the restore commit ("" when nothing changed)
    saved = pyqtSignal(str)  # the file a copy was written to

    def __init__(self, folder: Any, path: str, parent: QWidget | None = None) -> None:
        """`path`: the file's path relative to the repository (its current name, or the
        name it had when it was deleted)."""
        super().__init__(parent)
        self.folder = folder
        self.path = path
        self.name = folder.relative_name(path) if hasattr(folder, "relative_name") else path
        self.versions: list[FileVersion] = []
        self.setObjectName("versions_dialog")
        self.setWindowTitle(f"Versions of {display(self.name)} — autosync")
        self.setWindowIcon(app_icon())
        self.resize(1000, 620)
        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        self.heading.setText(f"{display(self.name)} in {Path(folder.path).name}")
        self.table = QTreeWidget()
        self.table.setObjectName("versions_list")
        self.table.setHeaderLabels(["Date", "Machine", "Size", "Change"])
        self.table.setRootIsDecorated(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.header()
        if header is not None:
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.currentItemChanged.connect(lambda *_: self._selected())
        self.preview = FilePreview()
        self.diff = SideBySideDiff()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.preview, "This version")
        self.tabs.addTab(self.diff, "Changes from the version before")
        self.restore_button = QPushButton("Restore this version")
        self.restore_button.setObjectName("versions_restore")
        self.save_button = QPushButton("Save a copy as…")
        self.save_button.setObjectName("versions_save")
        self.open_button = QPushButton("Open containing folder")
        self.restore_button.clicked.connect(self._on_restore)
        self.save_button.clicked.connect(self._on_save)
        self.open_button.clicked.connect(self._on_open)
        self.status = ErrorLabel()
        self.status.setObjectName("versions_status")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setSizes([380, 620])
        buttons = QHBoxLayout()
        for button in (self.restore_button, self.save_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.file_dialog: QFileDialog | None = None
        self._preview_task: asyncio.Task[None] | None = None
        self._busy: asyncio.Task[None] | None = None
        self._update_buttons()
        self.reload()

    # ------------------------------------------------------------------ listing
    def reload(self) -> asyncio.Task[None]:
        return spawn(self._load(), "versions-load")

    async def _load(self) -> None:
        try:
            versions = await self.folder.versions(self.path)
        except (RepositoryError, OSError) as exc:
            self.status.error(f"Cannot read the versions of {display(self.name)}: {exc}")
            self.loaded.emit(0)
            return
        self.versions = versions
        current = self.current()
        self.table.clear()
        for version in versions:
            size = "deleted" if version.size is None else human_size(version.size)
            item = QTreeWidgetItem([full_time(version.time), version.host, size,
                                    change_words(version)])
            item.setData(0, ROLE, version)
            item.setToolTip(0, f"{version.commit[:12]} — {display(version.path)}")
            if version.size is None:
                font = item.font(2)
                font.setItalic(True)
                item.setFont(2, font)
            self.table.addTopLevelItem(item)
        if not versions:
            self.status.error(f"{display(self.name)} has no version in the history of "
                              f"{Path(self.folder.path).name}")
        pick = 0
        if current is not None:
            pick = next((i for i, v in enumerate(versions) if v.commit == current.commit), 0)
        elif versions and versions[0].size is None and len(versions) > 1:
            pick = 1  # a deleted file: its last content
        if versions:
            self.table.setCurrentItem(self.table.topLevelItem(pick))
        self.loaded.emit(len(versions))

    def current(self) -> FileVersion | None:
        item = self.table.currentItem()
        return item.data(0, ROLE) if item is not None else None

    def select(self, commit: str) -> None:
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item is not None and item.data(0, ROLE).commit.startswith(commit):
                self.table.setCurrentItem(item)
                return

    def _previous(self, version: FileVersion) -> FileVersion | None:
        """The version just before `version` (None when it is the first)."""
        index = next((i for i, v in enumerate(self.versions) if v.commit == version.commit), -1)
        return self.versions[index + 1] if 0 <= index < len(self.versions) - 1 else None

    # ------------------------------------------------------------------ showing
    def _selected(self) -> None:
        self._update_buttons()
        version = self.current()
        if version is None:
            return
        if self._preview_task is not None and not self._preview_task.done():
            self._preview_task.cancel()
        self._preview_task = spawn(self._show(version), "versions-preview")

    async def _read(self, version: FileVersion) -> bytes | None:
        if version.size is None or version.size > PREVIEW_MAX:
            return None
        data: bytes = await self.folder.file_at(version.commit, version.path)
        return data

    async def _show(self, version: FileVersion) -> None:
        if version.size is None:
            self.preview.show_message(f"{display(self.name)} was deleted on "
                                      f"{full_time(version.time)} by {version.host}. Pick an "
                                      "older version to see or restore its content.")
            self.diff.show_message("(deleted)")
            self.previewShown.emit(version.commit, "deleted")
            return
        if version.size > PREVIEW_MAX:
            message = (f"{human_size(version.size)}: too large to show here; use Save a copy "
                       "as… to look at it")
            self.preview.show_message(message)
            self.diff.show_message(message)
            self.previewShown.emit(version.commit, "large")
            return
        previous = self._previous(version)
        try:
            data = await self._read(version)
            older = await self._read(previous) if previous is not None else None
        except (RepositoryError, OSError) as exc:
            self.preview.show_message(f"Cannot read this version: {exc}")
            self.previewShown.emit(version.commit, "error")
            return
        assert data is not None
        kind = self.preview.show_data(version.path, data)
        before = f"{full_time(previous.time)} ({previous.host})" if previous else "Before"
        if kind == "image" or is_binary(data) or (older is not None and is_binary(older)):
            was = "no earlier version" if previous is None else \
                "deleted" if previous.size is None else human_size(previous.size)
            pictures = " (a picture)" if image_of(version.path, data) is not None else ""
            self.diff.show_message(f"Binary file{pictures}: {human_size(len(data))} in this "
                                   f"version, {was} before.")
        else:
            self.diff.compare(older.decode("utf-8", "replace") if older is not None else None,
                              data.decode("utf-8", "replace"), before,
                              f"{full_time(version.time)} ({version.host})")
        self.previewShown.emit(version.commit, kind)

    def _update_buttons(self) -> None:
        version = self.current()
        has_content = version is not None and version.size is not None
        busy = self._busy is not None and not self._busy.done()
        self.restore_button.setEnabled(has_content and not busy)
        self.save_button.setEnabled(has_content and not busy)

    # ------------------------------------------------------------------ actions
    def _on_restore(self) -> None:
        version = self.current()
        if version is not None and version.size is not None:
            self._busy = spawn(self.restore(version), "versions-restore")
            self._update_buttons()

    async def restore(self, version: FileVersion) -> None:
        try:
            result = await self.folder.restore_version(self.path, version)
        except (RepositoryError, OSError) as exc:
            self.status.error(f"Could not restore {display(self.name)}: {exc}")
            return
        finally:
            self._busy = None
            self._update_buttons()
        when = f"{full_time(version.time)} from {version.host}"
        if result is None:
            self.status.info(f"{display(self.name)} already is the version of {when}.")
        else:
            self.status.info(f"Restored {display(self.name)} as of {when}; it is committed as "
                             "a new version, the one it replaced stays in the list.")
        await self._load()
        self.restored.emit(result.commit if result is not None else "")

    def _on_save(self) -> None:
        version = self.current()
        if version is None or version.size is None:
            return
        root = repo_root(self.folder)
        stem = PurePosixPath(self.name)
        suggested = (root / self.path).parent / (
            f"{stem.stem} ({version.time.astimezone().strftime('%Y-%m-%d %H.%M')})"
            f"{stem.suffix}")
        dialog = QFileDialog(self, f"Save a copy of {display(self.name)}", str(suggested))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.fileSelected.connect(
            lambda target, v=version: spawn(self.save_copy(v, Path(target)), "versions-save"))
        self.file_dialog = dialog
        dialog.open()  # not exec(): a nested loop inside qasync

    async def save_copy(self, version: FileVersion, target: Path) -> bool:
        """Write `version`'s content to `target` (a file outside history or inside the
        folder, where it is then synced as a new file)."""
        try:
            data = await self.folder.file_at(version.commit, version.path)
            await asyncio.to_thread(target.write_bytes, data)
        except (RepositoryError, OSError) as exc:
            self.status.error(f"Could not save a copy to {target}: {exc}")
            return False
        self.status.info(f"Saved the version of {full_time(version.time)} "
                         f"({version.host}) as {target}.")
        self.saved.emit(str(target))
        return True

    def _on_open(self) -> None:
        root = repo_root(self.folder)
        target = (root / self.path).parent
        while not target.exists() and target != root and target.parent != target:
            target = target.parent
        open_path(target, self.status.error)
