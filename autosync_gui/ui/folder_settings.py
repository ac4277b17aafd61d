"""*Folder settings…*: one folder's commit and push delays, poll interval, ignore patterns
(with the files they keep out of sync now), desktop notifications, XMPP notices, and
*Stop syncing this folder* (its files and history stay). The dialog only edits: the app
writes the configuration (atomically) and hands the change to the engine, which applies
it without a restart."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.config import NOTIFICATION_LEVELS, FolderSettings
from autosync_gui.engine.repository import RepositoryError
from autosync_gui.engine.safe_paths import display
from autosync_gui.ui.common import ErrorLabel, spawn
from autosync_gui.ui.icons import app_icon

log = logging.getLogger(__name__)

LEVEL_WORDS = {"all": "all changes, conflicts and errors", "important": "only conflicts and "
               "errors", "none": "none"}
IGNORED_SHOWN = 500


def seconds_box(value: float, minimum: float, maximum: float, name: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setObjectName(name)
    box.setDecimals(1)
    box.setRange(minimum, maximum)
    box.setSingleStep(0.5)
    box.setSuffix(" s")
    box.setValue(value)
    return box


class FolderSettingsDialog(QDialog):
    """Emits `changed(FolderSettings)` on Save and `stopRequested(path)` once the user
    confirmed *Stop syncing this folder*."""

    changed = pyqtSignal(object)  # FolderSettings
    stopRequested = pyqtSignal(object)  # folder path
    ignoredListed = pyqtSignal(int)

    def __init__(self, settings: FolderSettings, folder: Any, default_level: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.folder = folder
        path = Path(settings.path)
        self.setObjectName("folder_settings")
        self.setWindowTitle(f"Settings of {path.name} — autosync")
        self.setWindowIcon(app_icon())
        self.resize(620, 640)
        heading = QLabel(str(path))
        remote = getattr(folder, "remote_display", None)
        if remote:
            heading.setText(f"{path}\nremote: {remote}")
        heading.setWordWrap(True)
        self.commit_delay = seconds_box(settings.commit_delay, 0.0, 3600.0, "commit_delay")
        self.commit_delay.setToolTip("Quiet time after the last change before it is committed")
        self.push_delay = seconds_box(settings.push_delay, 0.0, 3600.0, "push_delay")
        self.push_delay.setToolTip("Time after a commit before it is sent to the remote")
        self.poll_interval = seconds_box(settings.poll_interval, 1.0, 86400.0, "poll_interval")
        self.poll_interval.setToolTip("How often the remote is checked for news (besides "
                                      "XMPP notices)")
        self.level = QComboBox()
        self.level.setObjectName("folder_notifications")
        self.level.addItem(f"Like all folders ({LEVEL_WORDS[default_level]})", None)
        for level in NOTIFICATION_LEVELS:
            self.level.addItem(LEVEL_WORDS[level].capitalize(), level)
        self.level.setCurrentIndex(max(0, self.level.findData(settings.notifications))
                                   if settings.notifications else 0)
        self.notify = QCheckBox("Tell my other machines at once over XMPP (when set up)")
        self.notify.setObjectName("folder_notify")
        self.notify.setChecked(settings.notify)
        form = QFormLayout()
        form.addRow("Commit after", self.commit_delay)
        form.addRow("Send after", self.push_delay)
        form.addRow("Check the remote every", self.poll_interval)
        form.addRow("Desktop notifications", self.level)
        form.addRow("", self.notify)
        self.ignore = QPlainTextEdit("\n".join(settings.ignore))
        self.ignore.setObjectName("folder_ignore")
        self.ignore.setPlaceholderText("*.tmp\nbuild/")
        self.ignore.setMaximumHeight(110)
        self.ignored = QListWidget()
        self.ignored.setObjectName("folder_ignored_files")
        ignore_box = QGroupBox("Ignore patterns (one per line, as in .gitignore)")
        ignore_layout = QVBoxLayout(ignore_box)
        ignore_layout.addWidget(self.ignore)
        note = QLabel("Not synced now (your patterns, .gitignore files and editor "
                      "temporaries); files synced already stay synced:")
        note.setWordWrap(True)
        ignore_layout.addWidget(note)
        ignore_layout.addWidget(self.ignored)
        self.message = ErrorLabel()
        self.stop_button = QPushButton("Stop syncing this folder…")
        self.stop_button.setObjectName("folder_stop")
        self.stop_button.clicked.connect(self._ask_stop)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.buttons.addButton(self.stop_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(ignore_box, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.question: QMessageBox | None = None
        self._listing: asyncio.Task[None] | None = None
        self.list_ignored()

    def list_ignored(self) -> asyncio.Task[None] | None:
        if self.folder is None:
            return None
        self._listing = spawn(self._list_ignored(), "folder-ignored")
        return self._listing

    async def _list_ignored(self) -> None:
        try:
            names = await self.folder.ignored_files(IGNORED_SHOWN + 1)
        except (RepositoryError, OSError) as exc:
            self.ignored.clear()
            self.ignored.addItem(f"(cannot list: {exc})")
            return
        self.ignored.clear()
        scope = getattr(getattr(self.folder, "repo", None), "scope", "")
        for name in names[:IGNORED_SHOWN]:
            shown = name[len(scope) + 1:] if scope and name.startswith(scope + "/") else name
            self.ignored.addItem(display(shown))
        if len(names) > IGNORED_SHOWN:
            self.ignored.addItem(f"… and more (only the first {IGNORED_SHOWN} are listed)")
        if not names:
            self.ignored.addItem("(none)")
        self.ignoredListed.emit(len(names))

    def edited(self) -> FolderSettings:
        patterns = tuple(line.strip() for line in self.ignore.toPlainText().splitlines()
                         if line.strip() and not line.strip().startswith("#"))
        return replace(self.settings, commit_delay=self.commit_delay.value(),
                       push_delay=self.push_delay.value(),
                       poll_interval=self.poll_interval.value(), ignore=patterns,
                       notifications=self.level.currentData(), notify=self.notify.isChecked())

    def save(self) -> None:
        new = self.edited()
        if new != self.settings:
            self.changed.emit(new)
        else:
            self.accept()

    def saved(self, settings: FolderSettings) -> None:
        """The app applied the change: show what is ignored now."""
        self.settings = settings
        self.message.info("Saved; in force now.")
        self.list_ignored()

    def failed(self, message: str) -> None:
        self.message.error(message)

    def _ask_stop(self) -> None:
        path = Path(self.settings.path)
        box = QMessageBox(QMessageBox.Icon.Question, "autosync",
                          f"Stop syncing {path}? Its files and their history stay where they "
                          "are; changes are no longer committed or synced. You can add it "
                          "again later.")
        box.setObjectName("stop_question")
        stop = box.addButton("Stop syncing", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda _r, b=box, yes=stop: self._stop_answered(
            b.clickedButton() is yes))
        self.question = box
        box.open()  # not exec(): a nested loop inside qasync

    def _stop_answered(self, stop: bool) -> None:
        self.question = None
        if stop:
            self.stopRequested.emit(Path(self.settings.path))
