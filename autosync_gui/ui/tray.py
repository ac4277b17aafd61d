"""The tray icon, its menu and tooltip, and the small status window shown instead when
the desktop has no system tray (running invisibly would look like a crash)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from PyQt6.QtCore import QObject, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QCursor
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from autosync_gui.engine.events import Activity, ActivityKind, ChannelState, FolderState
from autosync_gui.ui import autostart
from autosync_gui.ui.about import AboutBox
from autosync_gui.ui.common import local_time, open_path, repo_root
from autosync_gui.ui.folder_view import FolderStatus
from autosync_gui.ui.icons import TrayState, app_icon, state_icon, tray_state
from autosync_gui.ui.transfers import TransferTracker, describe, with_progress

log = logging.getLogger(__name__)
T = TypeVar("T")

RECENT = 10
STATE_WORDS = {
    FolderState.IDLE: "up to date",
    FolderState.PENDING: "changes waiting",
    FolderState.COMMITTING: "committing",
    FolderState.PUSHING: "sending",
    FolderState.PULLING: "receiving",
    FolderState.OFFLINE: "offline",
    FolderState.PAUSED: "paused",
    FolderState.CONFLICT: "conflict",
    FolderState.ERROR: "error",
}


def _added(added: T | None) -> T:
    """QMenu.addAction/addMenu always return what they added; PyQt6's stubs say Optional."""
    assert added is not None
    return added


@dataclass(frozen=True)
class RecentItem:
    path: Path  # absolute
    text: str


def tomorrow() -> datetime:
    """The start of tomorrow, local time (aware)."""
    now = datetime.now().astimezone()
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


# "Pause for a while": menu key, text, when the pause ends (None: until resumed)
PAUSE_CHOICES: tuple[tuple[str, str, Callable[[], datetime | None]], ...] = (
    ("pause-15m", "For 15 minutes",
     lambda: datetime.now().astimezone() + timedelta(minutes=15)),
    ("pause-1h", "For 1 hour", lambda: datetime.now().astimezone() + timedelta(hours=1)),
    ("pause-tomorrow", "Until tomorrow", tomorrow),
    ("pause-resumed", "Until resumed", lambda: None),
)


class Actions:
    """What the menu asks the application to do (kept apart so tests call the same)."""

    def __init__(self, *, sync_now: Callable[[Path], object],
                 toggle_pause: Callable[[Path], object], history: Callable[[Path], object],
                 conflicts: Callable[[], object], add_folder: Callable[[], object],
                 settings: Callable[[], object], quit: Callable[[], object],
                 pause_until: Callable[[Path, datetime | None], object] | None = None,
                 activity: Callable[[], object] | None = None,
                 folder_settings: Callable[[Path], object] | None = None,
                 deleted_files: Callable[[Path], object] | None = None,
                 open_failed: Callable[[str], None] | None = None) -> None:
        """Each is called for its effect; what it returns (a dialog, say) is ignored."""
        self.sync_now = sync_now
        self.activity = activity
        self.folder_settings = folder_settings
        self.deleted_files = deleted_files
        self.open_failed = open_failed
        self.toggle_pause = toggle_pause
        self.pause_until = pause_until
        self.history = history
        self.conflicts = conflicts
        self.add_folder = add_folder
        self.settings = settings
        self.quit = quit


class TrayUi(QObject):
    """Owns the QSystemTrayIcon, the context menu and the no-tray status window."""

    fallbackShown = pyqtSignal()
    menuRebuilt = pyqtSignal()
    presented = pyqtSignal()  # another launch asked us to show ourselves

    def __init__(self, folders: Callable[[], Sequence[FolderStatus]], actions: Actions,
                 config_path: Path | None, *, tray_retries: int = 5,
                 tray_retry_ms: int = 2000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._folders = folders
        self._actions = actions
        self._config_path = config_path
        self.channel: tuple[ChannelState, str] | None = None
        self.recent: deque[RecentItem] = deque(maxlen=RECENT)
        self.state = TrayState.IDLE
        self.icon = QSystemTrayIcon(state_icon(TrayState.IDLE))
        self.icon.activated.connect(self._on_activated)
        self.menu = QMenu()
        self.menu.setObjectName("tray_menu")
        self.icon.setContextMenu(self.menu)
        self.folder_actions: dict[tuple[Path, str], QAction] = {}
        self.folder_menus: dict[Path, QMenu] = {}
        self.recent_menu = QMenu("Recent changes")
        self.transfers: TransferTracker | None = None  # set by the app: progress to show
        self.activity_action = QAction("Activity…", self)
        self.activity_action.setObjectName("activity")
        self.activity_action.triggered.connect(self._open_activity)
        self.autostart_action = QAction("Start at login", self)
        self.autostart_action.setCheckable(True)
        self.autostart_action.toggled.connect(self._on_autostart)
        self.conflicts_action = QAction("Conflicts…", self)
        self.conflicts_action.triggered.connect(lambda: self._actions.conflicts())
        self.setup_action = QAction("Set up a folder…", self)
        self.setup_action.setObjectName("setup_folder")
        self.setup_action.triggered.connect(lambda: self._actions.add_folder())
        self.add_action = QAction("Add folder…", self)
        self.add_action.triggered.connect(lambda: self._actions.add_folder())
        self.settings_action = QAction("Settings…", self)
        self.settings_action.triggered.connect(lambda: self._actions.settings())
        self.about_action = QAction("About autosync", self)
        self.about_action.triggered.connect(self.show_about)
        self.about_box: AboutBox | None = None
        self.quit_action = QAction("Quit", self)
        self.quit_action.triggered.connect(lambda: self._actions.quit())
        self.status_window: StatusWindow | None = None
        self._retries_left = tray_retries
        self._retry = QTimer(self)
        self._retry.setInterval(tray_retry_ms)
        self._retry.timeout.connect(self._check_tray)
        self.rebuild()

    # ------------------------------------------------------------------ showing
    def show(self) -> None:
        """Show the tray icon; without a tray, retry a few times, then the window."""
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon.show()
            return
        log.info("no system tray yet; retrying %d times", self._retries_left)
        self._check_tray()
        if self.status_window is None:
            self._retry.start()

    def _check_tray(self) -> None:
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._retry.stop()
            self.icon.show()
            if self.status_window is not None:
                self.status_window.hide()
            return
        if self._retries_left <= 0:
            self._retry.stop()
            self.show_fallback()
            return
        self._retries_left -= 1

    def show_fallback(self) -> None:
        if self.status_window is None:
            log.warning("no system tray available: showing the status window instead")
            self.status_window = StatusWindow(self)
        self.status_window.refresh()
        self.status_window.show()
        self.status_window.raise_()
        self.fallbackShown.emit()

    def hide(self) -> None:
        self._retry.stop()
        self.icon.hide()
        if self.status_window is not None:
            self.status_window.close()

    def present(self) -> None:
        """Another launch asked us to show ourselves."""
        if self.status_window is not None and self.status_window.isVisible():
            self.status_window.show()
            self.status_window.raise_()
            self.status_window.activateWindow()
        elif self.icon.isVisible():
            self.menu.popup(QCursor.pos())
        else:
            self.show_fallback()
        self.presented.emit()

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        """A left click opens the activity window (the menu when there is none)."""
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            if self._actions.activity is not None:
                self._actions.activity()
            else:
                self.menu.popup(QCursor.pos())

    def _open_activity(self) -> None:
        if self._actions.activity is not None:
            self._actions.activity()

    def _open(self, path: Path) -> None:
        open_path(path, self._actions.open_failed)

    # ------------------------------------------------------------------ menu
    def rebuild(self) -> None:
        """Build the menu for the current folders (called when folders are added)."""
        self.menu.clear()
        self.folder_actions.clear()
        self.folder_menus.clear()
        folders = self._folders()
        if self._actions.activity is not None:
            self.menu.addAction(self.activity_action)
            self.menu.addSeparator()
        if not folders:
            self.menu.addAction(self.setup_action)
        for folder in folders:
            path = Path(folder.path)
            sub = _added(self.menu.addMenu(path.name))
            self.folder_menus[path] = sub
            for key, text, slot in (
                ("sync", "Sync now", lambda _c=False, p=path: self._actions.sync_now(p)),
                ("pause", "Pause", lambda _c=False, p=path: self._actions.toggle_pause(p)),
                ("open", "Open folder", lambda _c=False, p=path: self._open(p)),
                ("history", "History…", lambda _c=False, p=path: self._actions.history(p)),
                *((("deleted", "Deleted files…",
                    lambda _c=False, p=path: self._call(self._actions.deleted_files, p)),)
                  if self._actions.deleted_files is not None else ()),
                *((("settings", "Folder settings…",
                    lambda _c=False, p=path: self._call(self._actions.folder_settings, p)),)
                  if self._actions.folder_settings is not None else ()),
            ):
                action = _added(sub.addAction(text))
                action.setObjectName(f"{key}:{path}")
                action.triggered.connect(slot)
                self.folder_actions[(path, key)] = action
                if key == "pause" and sub is not None \
                        and self._actions.pause_until is not None:
                    self._add_pause_choices(sub, path)
        self.menu.addSeparator()
        self.menu.addAction(self.conflicts_action)
        self.menu.addMenu(self.recent_menu)
        self.menu.addSeparator()
        self.menu.addAction(self.add_action)
        self.menu.addAction(self.settings_action)
        self.autostart_action.blockSignals(True)
        self.autostart_action.setChecked(autostart.is_enabled())
        self.autostart_action.blockSignals(False)
        self.menu.addAction(self.autostart_action)
        self.menu.addSeparator()
        self.menu.addAction(self.about_action)
        self.menu.addAction(self.quit_action)
        self._rebuild_recent()
        self.refresh()
        self.menuRebuilt.emit()

    def _add_pause_choices(self, menu: QMenu, path: Path) -> None:
        """"Pause for a while": 15 minutes, 1 hour, until tomorrow, until resumed."""
        choices = menu.addMenu("Pause for a while")
        assert choices is not None
        for key, text, until in PAUSE_CHOICES:
            action = choices.addAction(text)
            assert action is not None
            action.setObjectName(f"{key}:{path}")
            action.triggered.connect(
                lambda _c=False, p=path, u=until: self._pause_until(p, u()))
            self.folder_actions[(path, key)] = action

    @staticmethod
    def _call(action: Callable[[Path], object] | None, path: Path) -> None:
        if action is not None:
            action(path)

    def _pause_until(self, path: Path, until: datetime | None) -> None:
        if self._actions.pause_until is not None:
            self._actions.pause_until(path, until)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        if not self.recent:
            _added(self.recent_menu.addAction("Nothing yet")).setEnabled(False)
        for item in reversed(self.recent):
            action = _added(self.recent_menu.addAction(item.text))
            action.setToolTip(str(item.path))
            action.triggered.connect(lambda _c=False, p=item.path: self.open_recent(p))

    def open_recent(self, path: Path) -> None:
        """Open the file; if it is gone since, its folder."""
        target = path
        while not target.exists() and target.parent != target:
            target = target.parent
        self._open(target)

    def show_about(self) -> None:
        if self.about_box is None:
            self.about_box = AboutBox()
        self.about_box.open()
        self.about_box.raise_()

    def _on_autostart(self, on: bool) -> None:
        try:
            autostart.set_enabled(on, self._config_path)
        except OSError as exc:
            log.error("cannot change the autostart entry: %s", exc)
            self.autostart_action.blockSignals(True)
            self.autostart_action.setChecked(autostart.is_enabled())
            self.autostart_action.blockSignals(False)

    # ------------------------------------------------------------------ state
    def add_activity(self, event: Activity) -> None:
        if event.kind not in (ActivityKind.COMMITTED, ActivityKind.PULLED):
            return
        folder = next((f for f in self._folders() if Path(f.path) == Path(event.folder)), None)
        root = repo_root(folder) if folder is not None else Path(event.folder)
        who = "you" if event.kind == ActivityKind.COMMITTED else (event.host or "elsewhere")
        when = local_time(event.when)
        for name in event.files:
            self.recent.append(RecentItem(root / name, f"{Path(name).name} — {who}, {when}"))
        self._rebuild_recent()

    def refresh(self) -> None:
        """Update icon, tooltip and per-folder labels from the engine's folders."""
        folders = self._folders()
        channel = self.channel[0] if self.channel else None
        self.state = tray_state([f.state for f in folders], channel)
        running = self.transfers is not None and bool(self.transfers.running)
        icon = state_icon(self.state)
        if running and self.transfers is not None:
            icon = with_progress(icon, self.transfers.overall())
        self.icon.setIcon(icon)
        self.icon.setToolTip(self.tooltip())
        open_conflicts = sum(len(f.conflicts) for f in folders)
        self.conflicts_action.setText(f"Conflicts ({open_conflicts})…" if open_conflicts
                                      else "Conflicts…")
        self.conflicts_action.setEnabled(open_conflicts > 0)
        for folder in folders:
            path = Path(folder.path)
            sub = self.folder_menus.get(path)
            if sub is None:
                continue
            state = FolderState(folder.state)
            words = STATE_WORDS.get(state, str(state))
            if state == FolderState.PAUSED and folder.detail:
                words += f" {folder.detail}"  # "until 2025-01-31 14:30"
            sub.setTitle(f"{path.name} — {words}")
            sub.setIcon(state_icon(tray_state([state])))
            pause = self.folder_actions[(path, "pause")]
            pause.setText("Resume" if folder.paused else "Pause")
        if self.status_window is not None:
            self.status_window.refresh()

    def folder_line(self, folder: FolderStatus) -> str:
        state = FolderState(folder.state)
        words = STATE_WORDS.get(state, str(state))
        detail = f" ({folder.detail})" if folder.detail else ""
        transfer = self.transfers.running.get(Path(folder.path)) \
            if self.transfers is not None else None
        if transfer is not None:
            detail += f" — {describe(transfer)}"
        waiting = len(folder.large_files_waiting)
        if waiting:
            detail += (f"; {waiting} large file{'s' if waiting > 1 else ''} "
                       f"wait{'' if waiting > 1 else 's'} for your choice (Activity…)")
        return (f"{Path(folder.path).name}: {words}{detail}, last sync "
                f"{local_time(folder.last_sync)}")

    def tooltip(self) -> str:
        lines = [f"autosync — {self.state.value}"]
        folders = self._folders()
        if not folders:
            lines.append("no folder set up yet: choose “Set up a folder…” in this menu")
        lines.extend(self.folder_line(f) for f in folders)
        if self.channel is not None and self.channel[0] != ChannelState.CONNECTED:
            state, detail = self.channel
            lines.append(f"XMPP: {state.value}" + (f" ({detail})" if detail else ""))
        return "\n".join(lines)


class StatusWindow(QWidget):
    """Stands in for the tray icon: state icon, per-folder lines, the same menu."""

    def __init__(self, tray: TrayUi) -> None:
        super().__init__()
        self._tray = tray
        self.setWindowTitle("autosync")
        self.setWindowIcon(app_icon())
        self.setObjectName("status_window")
        self.icon = QLabel()
        self.title = QLabel()
        self.lines = QLabel()
        self.lines.setWordWrap(True)
        self.menu_button = QPushButton("Menu")
        self.menu_button.setMenu(tray.menu)
        top = QHBoxLayout()
        top.addWidget(self.icon)
        top.addWidget(self.title, 1)
        top.addWidget(self.menu_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.lines)
        note = QLabel("<small>No system tray was found, so autosync shows this window. "
                      "Closing it keeps autosync running; use Menu → Quit to stop.</small>")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.resize(420, 160)

    def refresh(self) -> None:
        self.icon.setPixmap(state_icon(self._tray.state).pixmap(32, 32))
        self.title.setText(f"<b>autosync — {self._tray.state.value}</b>")
        self.lines.setText("\n".join(self._tray.tooltip().splitlines()[1:]))
