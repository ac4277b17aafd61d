"""The history viewer of one folder: commits (time, host, message, files), a filter by
file name or path, a preview of a file at a commit and its diff, *Restore this version*
and *Open containing folder*.

Commits load a page at a time in a worker thread when the list is scrolled to its end
(Qt's canFetchMore/fetchMore), so 100,000 commits open as fast as 200."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from PyQt6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    pyqtSignal,
)
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.engine.repository import CommitInfo, RepositoryError
from autosync_gui.ui.common import ErrorLabel, local_time, open_path, repo_root, spawn
from autosync_gui.ui.folder_view import FolderHistory
from autosync_gui.ui.icons import app_icon

log = logging.getLogger(__name__)

PAGE_SIZE = 200
PREVIEW_LIMIT = 512 * 1024
ModelIndex = QModelIndex | QPersistentModelIndex


class HistoryModel(QAbstractTableModel):
    """Commits of one folder, fetched lazily; `reset(filter)` starts over."""

    COLUMNS = ("Time", "Host", "Message", "Files")
    pageLoaded = pyqtSignal(int)  # rows added (0 at the end of history)
    loadFailed = pyqtSignal(str)

    def __init__(self, folder: FolderHistory, page_size: int = PAGE_SIZE,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.page_size = page_size
        self.commits: list[CommitInfo] = []
        self.path_filter: str | None = None
        self._exhausted = False
        self._loading: asyncio.Task[None] | None = None
        self._generation = 0

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.commits)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        commit = self.commits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            column = index.column()
            if column == 0:
                return local_time(commit.time)
            if column == 1:
                return commit.host
            if column == 2:
                return commit.subject
            n = len(commit.files)
            if n == 0:
                return ""
            return commit.files[0] if n == 1 else f"{n} files: {commit.files[0]}, …"
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join([commit.subject, f"{commit.sha[:12]} by {commit.author}",
                              *commit.files[:20]])
        return None

    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted and not self.loading()

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._loading = spawn(self._load(self._generation), "history-page")

    # ------------------------------------------------------------------ loading
    def loading(self) -> bool:
        return self._loading is not None and not self._loading.done()

    async def _load(self, generation: int) -> None:
        skip = len(self.commits)
        try:
            page = await self.folder.history(skip=skip, limit=self.page_size,
                                             path_filter=self.path_filter)
        except (RepositoryError, OSError) as exc:
            if generation == self._generation:
                self._exhausted = True
                self.loadFailed.emit(str(exc))
            return
        if generation != self._generation:
            return  # the filter changed meanwhile
        if len(page) < self.page_size:
            self._exhausted = True
        if page:
            self.beginInsertRows(QModelIndex(), len(self.commits),
                                 len(self.commits) + len(page) - 1)
            self.commits.extend(page)
            self.endInsertRows()
        self.pageLoaded.emit(len(page))

    def reset(self, path_filter: str | None) -> None:
        """Start over (new filter or a new commit arrived)."""
        self._generation += 1
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        self._loading = None
        self.beginResetModel()
        self.commits = []
        self.path_filter = path_filter or None
        self._exhausted = False
        self.endResetModel()
        self.fetchMore()

    def commit_at(self, row: int) -> CommitInfo | None:
        return self.commits[row] if 0 <= row < len(self.commits) else None


class HistoryDialog(QDialog):
    """Non-modal: sync goes on while it is open."""

    restored = pyqtSignal(str, str)  # commit, path
    previewShown = pyqtSignal(str, str)  # commit, path

    def __init__(self, folder: FolderHistory, page_size: int = PAGE_SIZE,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.setWindowTitle(f"History of {Path(folder.path).name} — autosync")
        self.setWindowIcon(app_icon())
        self.resize(1000, 640)
        self.model = HistoryModel(folder, page_size, self)
        self.filter = QLineEdit()
        self.filter.setObjectName("history_filter")
        self.filter.setPlaceholderText("Filter by file name or path…")
        self.filter.setClearButtonEnabled(True)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(300)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.filter.textChanged.connect(lambda _t: self._filter_timer.start())

        self.table = QTableView()
        self.table.setObjectName("history_table")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        rows, header, selection = (self.table.verticalHeader(), self.table.horizontalHeader(),
                                   self.table.selectionModel())
        assert rows is not None and header is not None and selection is not None  # set above
        rows.hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Interactive)
        selection.currentRowChanged.connect(self._commit_selected)

        self.files = QListWidget()
        self.files.setObjectName("history_files")
        self.files.currentItemChanged.connect(self._file_selected)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        self.content = QPlainTextEdit()
        self.content.setReadOnly(True)
        self.content.setFont(mono)
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)
        self.diff.setFont(mono)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.content, "File at this version")
        self.tabs.addTab(self.diff, "Changes in this commit")
        self.restore_button = QPushButton("Restore this version")
        self.restore_button.setObjectName("history_restore")
        self.restore_button.setEnabled(False)
        self.restore_button.clicked.connect(self._on_restore)
        self.open_button = QPushButton("Open containing folder")
        self.open_button.setObjectName("history_open_folder")
        self.open_button.clicked.connect(self._on_open_folder)
        self.status = ErrorLabel()

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(QLabel("Files changed:"))
        right_layout.addWidget(self.files, 1)
        right_layout.addWidget(self.tabs, 3)
        buttons = QHBoxLayout()
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        right_layout.addLayout(buttons)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.filter)
        left_layout.addWidget(self.table)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([560, 440])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)
        self.model.loadFailed.connect(self.status.error)
        self.model.pageLoaded.connect(self._page_loaded)
        self._preview_task: asyncio.Task[None] | None = None
        self.model.fetchMore()

    # ------------------------------------------------------------------ selection
    def apply_filter(self) -> None:
        self._filter_timer.stop()
        text = self.filter.text().strip()
        self.files.clear()
        self.content.clear()
        self.diff.clear()
        self.model.reset(text or None)

    def _page_loaded(self, _count: int) -> None:
        if self.model.rowCount() <= self.model.page_size:  # size columns to the first page
            for column in (0, 1):
                self.table.resizeColumnToContents(column)
        if self.table.currentIndex().row() < 0 and self.model.rowCount() > 0:
            self.table.selectRow(0)

    def current_commit(self) -> CommitInfo | None:
        return self.model.commit_at(self.table.currentIndex().row())

    def current_path(self) -> str | None:
        item = self.files.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _commit_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        commit = self.model.commit_at(current.row())
        self.files.clear()
        self.content.clear()
        self.diff.clear()
        self.restore_button.setEnabled(False)
        if commit is None:
            return
        wanted = (self.model.path_filter or "").lower()
        pick = 0
        for i, path in enumerate(commit.files):
            item = QListWidgetItem(path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.files.addItem(item)
            if wanted and wanted in path.lower() and pick == 0:
                pick = i
        if commit.files:
            self.files.setCurrentRow(pick)
        else:
            self._show_preview(commit, None)

    def _file_selected(self, current: QListWidgetItem | None, _prev: object) -> None:
        commit = self.current_commit()
        if commit is not None:
            path = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
            self._show_preview(commit, path)

    def _show_preview(self, commit: CommitInfo, path: str | None) -> None:
        if self._preview_task is not None and not self._preview_task.done():
            self._preview_task.cancel()
        self._preview_task = spawn(self._load_preview(commit, path), "history-preview")

    async def _load_preview(self, commit: CommitInfo, path: str | None) -> None:
        content = ""
        exists = False
        if path is not None:
            try:
                data = await self.folder.file_at(commit.sha, path)
                exists = True
                content = _describe(data)
            except RepositoryError:
                content = f"{path} was deleted in this commit."
        try:
            diff = await self.folder.diff(commit.sha, path)
        except RepositoryError as exc:
            diff = str(exc)
        self.content.setPlainText(content)
        self.diff.setPlainText(diff or "(no changes to show)")
        self.restore_button.setEnabled(exists)
        self.previewShown.emit(commit.sha, path or "")

    # ------------------------------------------------------------------ actions
    def _on_restore(self) -> None:
        commit, path = self.current_commit(), self.current_path()
        if commit is not None and path is not None:
            spawn(self.restore(commit.sha, path), "history-restore")

    async def restore(self, commit: str, path: str) -> None:
        self.restore_button.setEnabled(False)
        try:
            await self.folder.restore(commit, path)
        except (RepositoryError, OSError) as exc:
            self.status.error(f"Could not restore {path}: {exc}")
            return
        finally:
            self.restore_button.setEnabled(True)
        self.status.info(f"Restored {path} as of {commit[:10]}; it is committed as a new "
                         "version, the current one stays in the history.")
        self.restored.emit(commit, path)

    def _on_open_folder(self) -> None:
        path = self.current_path()
        root = repo_root(self.folder)
        target = (root / path).parent if path else Path(self.folder.path)
        while not target.exists() and target != root and target.parent != target:
            target = target.parent
        open_path(target)


def _describe(data: bytes) -> str:
    if b"\0" in data[:8192]:
        return f"(binary file, {len(data):,} bytes)"
    text = data[:PREVIEW_LIMIT].decode("utf-8", errors="replace")
    if len(data) > PREVIEW_LIMIT:
        text += f"\n… ({len(data) - PREVIEW_LIMIT:,} more bytes not shown)"
    return text
