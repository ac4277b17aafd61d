"""The conflict dialog: every open conflict of every folder with both versions (path,
host, time) and *Open both*, *Keep this one*, *Keep the other one*, *Keep both*.

The engine already kept both versions when it found the conflict; this only lets the
user settle it. Non-modal, so sync goes on while it is open."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.engine.events import Conflict
from autosync_gui.engine.repository import RepositoryError
from autosync_gui.engine.safe_paths import display
from autosync_gui.ui.common import ErrorLabel, full_time, open_path, repo_root, spawn
from autosync_gui.ui.folder_view import ConflictFolder, FolderStatus, Keep
from autosync_gui.ui.icons import TrayState, app_icon, state_icon

log = logging.getLogger(__name__)

KEEP_LABELS: dict[Keep, str] = {"original": "kept this one", "copy": "kept the other one",
                                "both": "kept both"}


class ConflictDialog(QDialog):
    resolved = pyqtSignal(object, object, str)  # folder path, Conflict, keep
    refreshed = pyqtSignal(int)  # number of open conflicts shown

    def __init__(self, folders: Callable[[], Sequence[ConflictFolder]],
                 parent: QWidget | None = None) -> None:
        """`folders` returns the synced folders (the engine's)."""
        super().__init__(parent)
        self._folders = folders
        self._task: asyncio.Task[None] | None = None
        self.setWindowTitle("Conflicts — autosync")
        self.setWindowIcon(state_icon(TrayState.CONFLICT) or app_icon())
        self.resize(860, 360)
        intro = QLabel("These files were changed on two machines at the same time. Both "
                       "versions were kept; choose which one stays.")
        intro.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("conflict_list")
        self.tree.setHeaderLabels(["File", "This version (in place)", "Other version (copy)"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        assert header is not None  # a QTreeWidget always has one
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.open_both = QPushButton("Open both")
        self.keep_this = QPushButton("Keep this one")
        self.keep_other = QPushButton("Keep the other one")
        self.keep_both = QPushButton("Keep both")
        for name, button in (("open_both", self.open_both), ("keep_original", self.keep_this),
                             ("keep_copy", self.keep_other), ("keep_both", self.keep_both)):
            button.setObjectName(f"conflict_{name}")
        self.keep_this.setToolTip("Keep the version in place and delete the other copy "
                                  "(a new commit; the copy stays in the history)")
        self.keep_other.setToolTip("Replace the file with the other version (a new commit)")
        self.keep_both.setToolTip("Keep both files; the copy keeps a name of its own")
        self.open_both.clicked.connect(self._on_open_both)
        self.keep_this.clicked.connect(lambda: self._on_keep("original"))
        self.keep_other.clicked.connect(lambda: self._on_keep("copy"))
        self.keep_both.clicked.connect(lambda: self._on_keep("both"))
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        self.status = ErrorLabel()
        buttons = QHBoxLayout()
        for button in (self.open_both, self.keep_this, self.keep_other, self.keep_both):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._shown: set[tuple[Path, str]] = set()
        self.refresh()

    def refresh(self) -> int:
        """Rebuild the list from the folders' open conflicts; returns how many. A message
        about an earlier choice goes once a conflict it did not cover is listed."""
        selected = self.selected()
        listed = {(Path(f.path), c.copy_path or c.path) for f in self._folders()
                  for c in f.conflicts}
        if listed - self._shown:
            self.status.clear_message()
        self._shown = listed
        self.tree.clear()
        count = 0
        for folder in self._folders():
            root = repo_root(folder)
            for conflict in folder.conflicts:
                item = QTreeWidgetItem([
                    str(Path(folder.path).name + "/" + _relative(folder, root, conflict.path)),
                    whose(conflict.kept_host, conflict.kept_time, this_host(folder)),
                    (whose(conflict.copy_host, conflict.copy_time, this_host(folder))
                     + (f"\n{display(Path(conflict.copy_path).name)}" if conflict.copy_path
                        else " (deleted there)")),
                ])
                item.setToolTip(0, str(root / conflict.path))
                if conflict.copy_path:
                    item.setToolTip(2, str(root / conflict.copy_path))
                item.setData(0, Qt.ItemDataRole.UserRole, (folder, conflict))
                self.tree.addTopLevelItem(item)
                if selected is not None and selected[1] == conflict:
                    self.tree.setCurrentItem(item)
                count += 1
        if any(not c.kept_host for f in self._folders() for c in f.conflicts):
            QTimer.singleShot(1000, self._refresh_if_shown)  # hosts still being read
        if self.tree.currentItem() is None and count:
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self._update_buttons()
        self.refreshed.emit(count)
        return count

    def _refresh_if_shown(self) -> None:
        if self.isVisible():
            self.refresh()

    def selected(self) -> tuple[ConflictFolder, Conflict] | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        chosen: tuple[ConflictFolder, Conflict] = item.data(0, Qt.ItemDataRole.UserRole)
        return chosen

    def _update_buttons(self) -> None:
        chosen = self.selected()
        busy = self._busy()
        has_copy = chosen is not None and chosen[1].copy_path is not None
        self.open_both.setEnabled(chosen is not None)
        for button in (self.keep_this, self.keep_other, self.keep_both):
            button.setEnabled(has_copy and not busy)

    def _busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def _on_open_both(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        folder, conflict = chosen
        root = repo_root(folder)
        open_path(root / conflict.path, self.status.error)
        if conflict.copy_path:
            open_path(root / conflict.copy_path, self.status.error)

    def _on_keep(self, keep: Keep) -> None:
        chosen = self.selected()
        if chosen is None or self._busy():
            return
        self._task = spawn(self.resolve(chosen[0], chosen[1], keep), "resolve-conflict")
        self._update_buttons()

    async def resolve(self, folder: ConflictFolder, conflict: Conflict, keep: Keep) -> None:
        try:
            await folder.resolve_conflict(conflict, keep)
        except (RepositoryError, OSError) as exc:
            self.status.error(f"Could not settle {conflict.path}: {exc}")
            return
        finally:
            self._task = None
        self.status.info(f"{conflict.path}: {KEEP_LABELS[keep]}.")
        self.refresh()
        self.resolved.emit(Path(folder.path), conflict, keep)


def this_host(folder: object) -> str:
    repo = getattr(folder, "repo", None)
    return str(getattr(repo, "hostname", ""))


def whose(host: str, when: datetime, here: str) -> str:
    """"desktop's version, 2025-01-31 19:18:00 by desktop's clock" ("this machine's" for
    our own): a time is the clock of the machine that made the edit, which may be off."""
    if not host:
        return f"the version of {full_time(when)} (its machine is being read from history)"
    if host == here:
        return f"this machine's ({host}) version, {full_time(when)} by this machine's clock"
    return f"{host}'s version, {full_time(when)} by {host}'s clock"


def _relative(folder: FolderStatus, root: Path, path: str) -> str:
    """Show paths relative to the synced folder (it may be below the repository top)."""
    full = root / path
    try:
        return str(full.relative_to(Path(folder.path)))
    except ValueError:
        return path
