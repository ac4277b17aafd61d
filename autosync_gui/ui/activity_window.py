"""The activity window (tray menu *Activity…* and a left click on the tray icon): each
folder's state, remote, last sync, disk use and running transfer; problems with their
fix; what the picked folder's history costs here (its size and largest files); new large
files waiting for the user's choice; a live list of what happened (commits, pushes,
pulls, conflicts, errors) with the files and times. From here a file's versions, the
deleted files, the history and the folder's settings are one click away. It only shows
what the engine reports."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.engine.disk_usage import DiskUsage
from autosync_gui.engine.events import Activity, ActivityKind, FolderState
from autosync_gui.engine.repository import RepositoryError, StorageReport
from autosync_gui.engine.safe_paths import display
from autosync_gui.sizes import human_size
from autosync_gui.ui.adapter import EngineSignals
from autosync_gui.ui.common import ErrorLabel, full_time, local_time, open_path, repo_root, spawn
from autosync_gui.ui.icons import app_icon, state_icon, tray_state
from autosync_gui.ui.transfers import TransferTracker, describe

log = logging.getLogger(__name__)

KEEP_SHOWN = 1000  # activities listed (the engine's log keeps as many)
SIZE_REFRESH_MS = 5000  # a folder's disk use is measured again at most this often
STORAGE_REFRESH_S = 30.0  # the largest files in history are read again at most this often
LARGEST_SHOWN = 10
STATE_WORDS = {
    FolderState.IDLE: "up to date", FolderState.PENDING: "changes waiting",
    FolderState.COMMITTING: "committing", FolderState.PUSHING: "sending",
    FolderState.PULLING: "receiving", FolderState.OFFLINE: "offline",
    FolderState.PAUSED: "paused", FolderState.CONFLICT: "conflict",
    FolderState.ERROR: "error",
}
ERROR_COLOR = QColor("#c62828")
CONFLICT_COLOR = QColor("#e65100")
ROLE = Qt.ItemDataRole.UserRole


def what_happened(event: Activity) -> str:
    """The activity's kind as a person says it."""
    if event.kind == ActivityKind.PULLED:
        return f"pulled from {event.host or 'another machine'}"
    return {ActivityKind.COMMITTED: "committed", ActivityKind.PUSHED: "pushed",
            ActivityKind.CONFLICT: "conflict", ActivityKind.ERROR: "error",
            ActivityKind.INFO: "note", ActivityKind.NOTIFIED: "notice",
            ActivityKind.LARGE_FILE: "large file"}.get(event.kind, str(event.kind))


def file_change(root: Path, name: str) -> tuple[str, str]:
    """(what happened to a file named in an activity, the path now): "renamed" for
    "old -> new", "deleted" when the file is gone from the folder, else "changed"."""
    if " -> " in name:
        old, _, new = name.partition(" -> ")
        if not os.path.lexists(root / old) and os.path.lexists(root / new):
            return f"renamed from {display(old)}", new
    if not os.path.lexists(root / name):
        return "deleted", name
    return "changed", name


class ActivityWindow(QDialog):
    """Non-modal; follows the engine live while open."""

    versionsRequested = pyqtSignal(object, str)  # folder path, repository-relative file
    deletedRequested = pyqtSignal(object)  # folder path
    historyRequested = pyqtSignal(object)  # folder path
    settingsRequested = pyqtSignal(object)  # folder path
    sizesShown = pyqtSignal(object)  # folder path, after its disk use was measured
    storageShown = pyqtSignal(object)  # folder path, after its largest files were read
    # folder path, repository-relative file, "dont_sync" or "sync_anyway"
    largeFileAnswered = pyqtSignal(object, str, str)
    openFailed = pyqtSignal(str)

    def __init__(self, engine: Any, signals: EngineSignals, transfers: TransferTracker,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.transfers = transfers
        self.sizes: dict[Path, DiskUsage] = {}
        self._measuring: dict[Path, asyncio.Task[None]] = {}
        self._measure_again: set[Path] = set()
        self.storage: dict[Path, StorageReport | str] = {}  # a report, or why there is none
        self._storage_task: asyncio.Task[None] | None = None
        self._storage_read: dict[Path, float] = {}  # when (monotonic) each was read
        self._storage_stale: set[Path] = set()
        self.setObjectName("activity_window")
        self.setWindowTitle("Activity — autosync")
        self.setWindowIcon(app_icon())
        self.resize(1000, 620)

        self.folders = QTreeWidget()
        self.folders.setObjectName("activity_folders")
        self.folders.setHeaderLabels(["Folder", "State", "Remote", "Last sync", "History",
                                      "Files", "Transfer"])
        self.folders.setRootIsDecorated(False)
        self.folders.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.folders.header()
        assert header is not None  # a QTreeWidget always has one
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.folders.currentItemChanged.connect(lambda *_: self._folder_picked())
        self.problems = ErrorLabel()
        self.problems.setObjectName("activity_problems")

        # what the picked folder's history costs on this machine
        self.storage_box = QGroupBox("History on this machine")
        self.storage_label = QLabel("…")
        self.storage_label.setObjectName("activity_storage")
        self.storage_label.setWordWrap(True)
        self.largest = QTreeWidget()
        self.largest.setObjectName("activity_largest")
        self.largest.setHeaderLabels(["Largest files in history", "Largest version"])
        self.largest.setRootIsDecorated(False)
        largest_header = self.largest.header()
        assert largest_header is not None
        largest_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        largest_header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        storage_layout = QVBoxLayout(self.storage_box)
        storage_layout.addWidget(self.storage_label)
        storage_layout.addWidget(self.largest, 1)

        # new large files held outside history until the user chooses
        self.waiting_box = QGroupBox("Large files waiting for your choice")
        self.waiting_box.setObjectName("activity_waiting")
        self.waiting = QTreeWidget()
        self.waiting.setHeaderLabels(["Folder", "File", "Size"])
        self.waiting.setRootIsDecorated(False)
        waiting_header = self.waiting.header()
        assert waiting_header is not None
        waiting_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        waiting_header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.waiting.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.waiting_note = QLabel()
        self.waiting_note.setWordWrap(True)
        self.dont_sync_button = QPushButton("Don't sync this file")
        self.dont_sync_button.setObjectName("activity_dont_sync")
        self.sync_anyway_button = QPushButton("Sync it anyway")
        self.sync_anyway_button.setObjectName("activity_sync_anyway")
        self.dont_sync_button.clicked.connect(lambda: self._answer("dont_sync"))
        self.sync_anyway_button.clicked.connect(lambda: self._answer("sync_anyway"))
        waiting_buttons = QHBoxLayout()
        waiting_buttons.addWidget(self.dont_sync_button)
        waiting_buttons.addWidget(self.sync_anyway_button)
        waiting_buttons.addStretch(1)
        waiting_layout = QVBoxLayout(self.waiting_box)
        waiting_layout.addWidget(self.waiting, 1)
        waiting_layout.addWidget(self.waiting_note)
        waiting_layout.addLayout(waiting_buttons)
        self.waiting_box.hide()

        self.events = QTreeWidget()
        self.events.setObjectName("activity_events")
        self.events.setHeaderLabels(["Time", "Folder", "What", "Details"])
        self.events.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        events_header = self.events.header()
        assert events_header is not None
        events_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        events_header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.events.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.events.itemDoubleClicked.connect(lambda *_: self._on_versions())

        self.versions_button = QPushButton("Versions of this file…")
        self.versions_button.setObjectName("activity_versions")
        self.deleted_button = QPushButton("Deleted files…")
        self.deleted_button.setObjectName("activity_deleted")
        self.history_button = QPushButton("History…")
        self.settings_button = QPushButton("Folder settings…")
        self.settings_button.setObjectName("activity_settings")
        self.open_button = QPushButton("Open folder")
        self.sync_button = QPushButton("Sync now")
        self.versions_button.clicked.connect(self._on_versions)
        self.deleted_button.clicked.connect(
            lambda: self._with_folder(self.deletedRequested.emit))
        self.history_button.clicked.connect(
            lambda: self._with_folder(self.historyRequested.emit))
        self.settings_button.clicked.connect(
            lambda: self._with_folder(self.settingsRequested.emit))
        self.open_button.clicked.connect(self._on_open)
        self.sync_button.clicked.connect(lambda: self._with_folder(self.engine.sync_now))
        self.status = ErrorLabel()

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.folders, 2)
        top_layout.addWidget(self.problems)
        details = QHBoxLayout()
        details.addWidget(self.storage_box, 1)
        details.addWidget(self.waiting_box, 1)
        top_layout.addLayout(details, 3)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(QLabel("What happened (newest first):"))
        bottom_layout.addWidget(self.events, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setSizes([340, 280])
        buttons = QHBoxLayout()
        for button in (self.versions_button, self.deleted_button, self.history_button,
                       self.settings_button, self.open_button, self.sync_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        signals.stateChanged.connect(lambda path, *_: self.refresh_folders())
        signals.activityHappened.connect(self.add_activity)
        transfers.changed.connect(lambda _path: self.refresh_folders())
        self._clock = QTimer(self)  # "last sync" and sizes stay current while open
        self._clock.setInterval(SIZE_REFRESH_MS)
        self._clock.timeout.connect(self._tick)
        self.rebuild()

    # ------------------------------------------------------------------ folders
    def rebuild(self) -> None:
        """Everything again: the folders (they may have come or gone) and the events."""
        self.refresh_folders()
        self.events.clear()
        for event in self.engine.activity_log.recent(KEEP_SHOWN):
            self.add_activity(event)
        for folder in self.engine.folders:
            self.measure(Path(folder.path))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._clock.start()

    def hideEvent(self, event: Any) -> None:
        self._clock.stop()
        super().hideEvent(event)

    def _tick(self) -> None:
        self.refresh_folders()
        for path in list(self._measure_again):
            self.measure(path)
        picked = self.selected_folder()
        if picked is not None and picked in self._storage_stale:
            self.read_storage(picked)

    def folder_item(self, path: Path) -> QTreeWidgetItem | None:
        for i in range(self.folders.topLevelItemCount()):
            item = self.folders.topLevelItem(i)
            if item is not None and item.data(0, ROLE) == path:
                return item
        return None

    def refresh_folders(self) -> None:
        """Update each folder's row from the engine (rows for new folders, none for gone)."""
        folders = {Path(f.path): f for f in self.engine.folders}
        failed: dict[Path, str] = dict(getattr(self.engine, "failed", {}))
        wanted = list(folders) + [p for p in failed if p not in folders]
        for i in reversed(range(self.folders.topLevelItemCount())):
            item = self.folders.topLevelItem(i)
            if item is not None and item.data(0, ROLE) not in wanted:
                self.folders.takeTopLevelItem(i)
        problems: list[str] = []
        for path in wanted:
            item = self.folder_item(path)
            if item is None:
                item = QTreeWidgetItem([path.name])
                item.setData(0, ROLE, path)
                item.setToolTip(0, str(path))
                self.folders.addTopLevelItem(item)
            folder = folders.get(path)
            if folder is None:
                item.setText(1, "cannot be synced")
                item.setIcon(0, state_icon(tray_state([FolderState.ERROR])))
                problems.append(f"{path.name}: {failed[path]}")
                continue
            self._fill_folder(item, folder)
            if folder.error:
                problems.append(f"{path.name}: {display(folder.error)}")
        if self.folders.currentItem() is None and self.folders.topLevelItemCount():
            self.folders.setCurrentItem(self.folders.topLevelItem(0))
        if problems:
            self.problems.error("\n".join(problems))
        else:
            self.problems.clear_message()
        self._fill_waiting(folders)
        self._update_buttons()

    def _fill_folder(self, item: QTreeWidgetItem, folder: Any) -> None:
        path = Path(folder.path)
        state = FolderState(folder.state)
        words = STATE_WORDS.get(state, str(state))
        if folder.detail and state != FolderState.ERROR:
            words += f" ({folder.detail})"
        item.setIcon(0, state_icon(tray_state([state])))
        item.setText(1, words)
        item.setText(2, folder.remote_display)
        item.setText(3, local_time(folder.last_sync))
        item.setToolTip(3, full_time(folder.last_sync) if folder.last_sync else "never")
        usage = self.sizes.get(path)
        item.setText(4, human_size(usage.repository_bytes) if usage else "…")
        item.setText(5, f"{human_size(usage.work_tree_bytes)} in {usage.files:,} files"
                     if usage else "…")
        transfer = self.transfers.running.get(path)
        bar = self.folders.itemWidget(item, 6)
        if transfer is None:
            if bar is not None:
                self.folders.removeItemWidget(item, 6)
            item.setText(6, "—")
            return
        item.setText(6, "")
        if not isinstance(bar, QProgressBar):
            bar = QProgressBar()
            bar.setMinimumWidth(260)
            self.folders.setItemWidget(item, 6, bar)
        part = transfer.fraction
        if part is None:
            bar.setRange(0, 0)  # busy: total unknown
        else:
            bar.setRange(0, 1000)
            bar.setValue(int(part * 1000))
        bar.setFormat(describe(transfer))
        bar.setTextVisible(True)
        bar.setToolTip(describe(transfer))

    def _fill_waiting(self, folders: dict[Path, Any]) -> None:
        """The new large files every folder holds back until the user chooses."""
        wanted: list[tuple[Path, str, int]] = []
        for path, folder in folders.items():
            for name, size in sorted(getattr(folder, "large_files_waiting", {}).items()):
                wanted.append((path, name, size))
        current = self.waiting.currentItem()
        picked = current.data(0, ROLE) if current is not None else None
        shown = [item.data(0, ROLE) for i in range(self.waiting.topLevelItemCount())
                 if (item := self.waiting.topLevelItem(i)) is not None]
        if shown != [(p, n) for p, n, _s in wanted]:
            self.waiting.clear()
            for path, name, size in wanted:
                item = QTreeWidgetItem([path.name, display(name), human_size(size)])
                item.setData(0, ROLE, (path, name))
                item.setToolTip(1, str(path / name))
                self.waiting.addTopLevelItem(item)
                if (path, name) == picked:
                    self.waiting.setCurrentItem(item)
            if self.waiting.currentItem() is None and self.waiting.topLevelItemCount():
                self.waiting.setCurrentItem(self.waiting.topLevelItem(0))
        if wanted:
            biggest = max(size for _p, _n, size in wanted)
            self.waiting_note.setText(
                "Kept out of history until you choose: in history, every saved version of "
                f"a file like this adds about {human_size(biggest)} on the server and on "
                "each machine. “Don't sync this file” adds it to the folder's ignore "
                "patterns.")
        self.waiting_box.setVisible(bool(wanted))

    def selected_waiting(self) -> tuple[Path, str] | None:
        item = self.waiting.currentItem()
        return item.data(0, ROLE) if item is not None else None

    def _answer(self, choice: str) -> None:
        picked = self.selected_waiting()
        if picked is not None:
            self.largeFileAnswered.emit(picked[0], picked[1], choice)

    def _folder_picked(self) -> None:
        self._update_buttons()
        path = self.selected_folder()
        if path is None:
            return
        self._show_storage(path)
        if path not in self.storage or path in self._storage_stale:
            self.read_storage(path)

    def read_storage(self, path: Path) -> None:
        """Read what the folder's history costs (in a worker thread; one at a time, and
        the same folder at most every STORAGE_REFRESH_S)."""
        running = self._storage_task
        if running is not None and not running.done():
            self._storage_stale.add(path)
            return
        last = self._storage_read.get(path)
        if last is not None and time.monotonic() - last < STORAGE_REFRESH_S \
                and path in self.storage:
            self._storage_stale.add(path)  # again at a later tick
            return
        self._storage_stale.discard(path)
        self._storage_task = spawn(self._read_storage(path), "activity-storage")

    async def _read_storage(self, path: Path) -> None:
        try:
            folder = self.engine.folder(path)
        except KeyError:
            return
        self._storage_read[path] = time.monotonic()
        try:
            self.storage[path] = await folder.storage(LARGEST_SHOWN)
        except (OSError, RepositoryError) as exc:
            self.storage[path] = str(exc)
        if self.selected_folder() == path:
            self._show_storage(path)
        self.storageShown.emit(path)

    def _show_storage(self, path: Path) -> None:
        report = self.storage.get(path)
        self.storage_box.setTitle(f"History of {path.name} on this machine")
        self.largest.clear()
        if report is None:
            self.storage_label.setText("reading…")
            return
        if isinstance(report, str):
            self.storage_label.setText(f"not known: {display(report)}")
            return
        text = f"{human_size(report.local_bytes)} in the repository here"
        if report.lfs_bytes:
            text += f" (of which {human_size(report.lfs_bytes)} Git LFS copies)"
        self.storage_label.setText(text)
        for name, size in report.largest:
            item = QTreeWidgetItem([display(name), human_size(size)])
            item.setToolTip(0, str(path / name))
            self.largest.addTopLevelItem(item)

    def measure(self, path: Path) -> None:
        """Measure the folder's disk use in a worker thread (at most one at a time)."""
        running = self._measuring.get(path)
        if running is not None and not running.done():
            self._measure_again.add(path)
            return
        self._measure_again.discard(path)
        self._measuring[path] = spawn(self._measure(path), "activity-sizes")

    async def _measure(self, path: Path) -> None:
        try:
            folder = self.engine.folder(path)
        except KeyError:
            return
        try:
            self.sizes[path] = await folder.disk_usage()
        except (OSError, RepositoryError) as exc:
            log.warning("cannot measure %s: %s", path, exc)
            return
        self.refresh_folders()
        self.sizesShown.emit(path)

    # ------------------------------------------------------------------ events
    def add_activity(self, event: Activity) -> None:
        """Put one activity on top of the list (with its files below it)."""
        folder_path = Path(event.folder)
        try:
            root = repo_root(self.engine.folder(folder_path))
        except KeyError:
            root = folder_path
        item = QTreeWidgetItem([full_time(event.when), folder_path.name, what_happened(event),
                                display(event.summary)])
        item.setData(0, ROLE, (folder_path, None))
        item.setToolTip(3, display(event.summary))
        color = ERROR_COLOR if event.kind == ActivityKind.ERROR else \
            CONFLICT_COLOR if event.kind == ActivityKind.CONFLICT else None
        if color is not None:
            for column in range(4):
                item.setForeground(column, QBrush(color))
        files = list(event.files)
        if event.conflict is not None and event.conflict.copy_path:
            files.append(event.conflict.copy_path)
        for name in files[:200]:
            change, current = file_change(root, name) \
                if event.kind in (ActivityKind.COMMITTED, ActivityKind.PULLED) \
                else ("", name)
            child = QTreeWidgetItem(["", "", change, display(current)])
            child.setData(0, ROLE, (folder_path, current))
            child.setToolTip(3, str(root / current))
            if change == "deleted":
                font = child.font(3)
                font.setStrikeOut(True)
                child.setFont(3, font)
                child.setForeground(2, QBrush(ERROR_COLOR))
            item.addChild(child)
        total = event.file_count + len(files) - len(event.files)  # (the copy)
        if total > 200:
            item.addChild(QTreeWidgetItem(["", "", "", f"… and {total - 200} more"]))
        self.events.insertTopLevelItem(0, item)
        while self.events.topLevelItemCount() > KEEP_SHOWN:
            self.events.takeTopLevelItem(self.events.topLevelItemCount() - 1)
        if event.kind in (ActivityKind.COMMITTED, ActivityKind.PULLED, ActivityKind.PUSHED):
            self._storage_stale.add(folder_path)
            if self.isVisible():
                self.measure(folder_path)
        if event.kind in (ActivityKind.LARGE_FILE, ActivityKind.INFO):
            self.refresh_folders()  # a large file waits, or waits no more

    # ------------------------------------------------------------------ actions
    def selected_folder(self) -> Path | None:
        item = self.folders.currentItem()
        return item.data(0, ROLE) if item is not None else None

    def selected_file(self) -> tuple[Path, str] | None:
        """The folder and repository-relative path of the file picked in the list (an
        activity naming exactly one file counts as that file)."""
        item = self.events.currentItem()
        if item is None:
            return None
        folder, name = item.data(0, ROLE) or (None, None)
        if name is None and item.childCount() == 1:
            child = item.child(0)
            folder, name = child.data(0, ROLE) if child is not None else (None, None)
        return (folder, name) if folder is not None and name else None

    def _update_buttons(self) -> None:
        has_folder = self.selected_folder() in {Path(f.path) for f in self.engine.folders}
        for button in (self.deleted_button, self.history_button, self.settings_button,
                       self.open_button, self.sync_button):
            button.setEnabled(has_folder)
        self.versions_button.setEnabled(self.selected_file() is not None)
        waiting = self.selected_waiting() is not None
        self.dont_sync_button.setEnabled(waiting)
        self.sync_anyway_button.setEnabled(waiting)

    def _with_folder(self, action: Callable[[Path], object]) -> None:
        path = self.selected_folder()
        if path is not None:
            action(path)

    def _on_versions(self) -> None:
        picked = self.selected_file()
        if picked is not None:
            self.versionsRequested.emit(picked[0], picked[1])

    def _on_open(self) -> None:
        path = self.selected_folder()
        if path is not None:
            open_path(path, self._open_failed)

    def _open_failed(self, message: str) -> None:
        self.status.error(message)
        self.openFailed.emit(message)
