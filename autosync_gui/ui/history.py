"""The history viewer of one folder: commits (date and time, host, message, files and
what happened to each), a filter by file name or path, a preview of a file at a commit
(text or picture) and its diff, *Restore this version* (a deleted file too: its last
content), *Versions of this file…* and *Open containing folder*.

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
from autosync_gui.engine.safe_paths import display
from autosync_gui.ui.common import ErrorLabel, date_time, full_time, open_path, repo_root, spawn
from autosync_gui.ui.folder_view import FolderHistory
from autosync_gui.ui.icons import app_icon
from autosync_gui.ui.preview import FilePreview, monospace

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
                return date_time(commit.time)
            if column == 1:
                return commit.host
            if column == 2:
                return commit.subject
            return files_summary(commit)
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join([commit.subject, f"{full_time(commit.time)} by {commit.author}",
                              *(f"{change} {display(name)}" for name, change in
                                changes_of(commit)[:20])])
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


def changes_of(commit: CommitInfo) -> list[tuple[str, str]]:
    """(path, what happened to it) for each file of a commit."""
    changes = commit.changes if len(commit.changes) == len(commit.files) else \
        ("changed",) * len(commit.files)
    return list(zip(commit.files, changes, strict=True))


def files_summary(commit: CommitInfo) -> str:
    """"deleted notes.txt", "3 files (1 deleted): a.txt, …" — deletions said as such."""
    listed = changes_of(commit)
    if not listed:
        return ""
    if len(listed) == 1:
        name, change = listed[0]
        return f"{display(name)}" if change in ("modified", "changed") else \
            f"{change} {display(name)}"
    counts: dict[str, int] = {}
    for _name, change in listed:
        counts[change] = counts.get(change, 0) + 1
    kinds = ", ".join(f"{n} {change}" for change, n in counts.items()
                      if change not in ("modified", "changed"))
    return f"{len(listed)} files{f' ({kinds})' if kinds else ''}: {display(listed[0][0])}, …"


class HistoryDialog(QDialog):
    """Non-modal: sync goes on while it is open."""

    restored = pyqtSignal(str, str)  # commit, path
    previewShown = pyqtSignal(str, str)  # commit, path
    versionsRequested = pyqtSignal(object, str)  # folder path, repository-relative file

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
        self.preview = FilePreview()
        self.content = self.preview.text  # the text of a version (pictures beside it)
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)
        self.diff.setFont(monospace())
        self.tabs = QTabWidget()
        self.tabs.addTab(self.preview, "File at this version")
        self.tabs.addTab(self.diff, "Changes in this commit")
        self.restore_button = QPushButton("Restore this version")
        self.restore_button.setObjectName("history_restore")
        self.restore_button.setEnabled(False)
        self.restore_button.clicked.connect(self._on_restore)
        self.versions_button = QPushButton("Versions of this file…")
        self.versions_button.setObjectName("history_versions")
        self.versions_button.setEnabled(False)
        self.versions_button.clicked.connect(self._on_versions)
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
        buttons.addWidget(self.versions_button)
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
        # what Restore puts back for the file shown: a version with content (commit, path,
        # "as of DATE from HOST")
        self._restorable: tuple[str, str, str] | None = None
        self.model.fetchMore()

    # ------------------------------------------------------------------ selection
    def apply_filter(self) -> None:
        self._filter_timer.stop()
        text = self.filter.text().strip()
        self.files.clear()
        self.preview.clear()
        self.diff.clear()
        self.model.reset(text or None)

    def new_commits(self) -> None:
        """A commit was made or pulled: list again from the top with the same filter, and
        keep the commit the user looked at selected."""
        selected = self.current_commit()
        self._reselect = selected.sha if selected is not None else None
        self.model.reset(self.model.path_filter)

    def _page_loaded(self, _count: int) -> None:
        if self.model.rowCount() <= self.model.page_size:  # size columns to the first page
            for column in (0, 1):
                self.table.resizeColumnToContents(column)
        wanted = getattr(self, "_reselect", None)
        if wanted is not None:
            row = next((i for i, c in enumerate(self.model.commits) if c.sha == wanted), -1)
            if row >= 0:
                self._reselect = None
                self.table.selectRow(row)
                return
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
        self.preview.clear()
        self.diff.clear()
        self.restore_button.setEnabled(False)
        self.versions_button.setEnabled(False)
        if commit is None:
            return
        wanted = (self.model.path_filter or "").lower()
        pick = 0
        for i, (path, change) in enumerate(changes_of(commit)):
            item = QListWidgetItem(f"{change}: {display(path)}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            if change == "deleted":
                font = item.font()
                font.setStrikeOut(True)
                item.setFont(font)
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
        self._restorable = None
        if path is not None:
            try:
                data = await self.folder.file_at(commit.sha, path)
                self._restorable = (commit.sha, path,
                                    f"as of {full_time(commit.time)} from {commit.host}")
                self.preview.show_data(path, data)
            except RepositoryError:
                await self._show_deleted(commit, path)
        try:
            diff = await self.folder.diff(commit.sha, path)
        except RepositoryError as exc:
            diff = str(exc)
        self.diff.setPlainText(diff or "(no changes to show)")
        self.restore_button.setEnabled(self._restorable is not None)
        self.versions_button.setEnabled(path is not None)
        self.previewShown.emit(commit.sha, path or "")

    async def _show_deleted(self, commit: CommitInfo, path: str) -> None:
        """The file was deleted in this commit: show (and offer to restore) its content
        just before."""
        try:
            versions = await self.folder.versions(path)
        except (RepositoryError, OSError):
            versions = []
        index = next((i for i, v in enumerate(versions) if v.commit == commit.sha), None)
        last = next((v for v in versions[index + 1:] if v.size is not None), None) \
            if index is not None else None
        if last is None:
            self.preview.show_message(f"{display(path)} was deleted in this commit.")
            return
        try:
            data = await self.folder.file_at(last.commit, last.path)
        except RepositoryError:
            self.preview.show_message(f"{display(path)} was deleted in this commit.")
            return
        self._restorable = (last.commit, path,
                            f"as of {full_time(last.time)} from {last.host}")
        self.preview.show_data(last.path, data)
        self.preview.setToolTip(f"{display(path)} was deleted in this commit; this is its "
                                f"last content, of {full_time(last.time)} from {last.host}")

    # ------------------------------------------------------------------ actions
    def _on_restore(self) -> None:
        if self._restorable is not None:
            spawn(self.restore(*self._restorable), "history-restore")

    def _on_versions(self) -> None:
        path = self.current_path()
        if path is not None:
            self.versionsRequested.emit(Path(self.folder.path), path)

    async def restore(self, commit: str, path: str, as_of: str = "") -> None:
        """Put `path` back as it was in `commit` (committed as a new version)."""
        self.restore_button.setEnabled(False)
        try:
            await self.folder.restore(commit, path)
        except (RepositoryError, OSError) as exc:
            self.status.error(f"Could not restore {display(path)}: {exc}")
            return
        finally:
            self.restore_button.setEnabled(True)
        self.status.info(f"Restored {display(path)} {as_of or 'as of that version'}; it is "
                         "committed as a new version, the current one stays in the history.")
        self.restored.emit(commit, path)

    def _on_open_folder(self) -> None:
        path = self.current_path()
        root = repo_root(self.folder)
        target = (root / path).parent if path else Path(self.folder.path)
        while not target.exists() and target != root and target.parent != target:
            target = target.parent
        open_path(target, self.status.error)

