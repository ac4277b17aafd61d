"""The tray application: QApplication + qasync hosting the engine and the XMPP client in
one event loop. `run_app(argv)` is what `autosync` and `autosync-gui` call."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import qasync
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QApplication, QMessageBox, QWidget

from autosync_gui import __version__
from autosync_gui.config import (
    ConfigError,
    FolderSettings,
    Settings,
    default_config_path,
    load_config,
    remember_ignored,
    save_config,
    with_folder,
    without_folder,
)
from autosync_gui.control.client import CommandFailedError, ControlClient, NoInstanceError
from autosync_gui.control.instance import InstanceLock, instance_paths
from autosync_gui.control.runtime import UnsafeRuntimeError
from autosync_gui.control.server import ControlServer
from autosync_gui.control.service import ControlService
from autosync_gui.engine.engine import Engine
from autosync_gui.engine.events import Activity, ActivityKind, ChannelState, FolderState
from autosync_gui.engine.folder import FolderSync
from autosync_gui.engine.headless_log import HeadlessLog
from autosync_gui.engine.repository import RepositoryError
from autosync_gui.engine.safe_paths import display
from autosync_gui.ui.activity_window import ActivityWindow
from autosync_gui.ui.adapter import EngineSignals
from autosync_gui.ui.common import local_time, spawn
from autosync_gui.ui.conflict_dialog import ConflictDialog
from autosync_gui.ui.deleted_files import DeletedFilesDialog
from autosync_gui.ui.folder_settings import FolderSettingsDialog
from autosync_gui.ui.gui_thread_gc import GuiThreadCollector
from autosync_gui.ui.history import HistoryDialog
from autosync_gui.ui.icons import app_icon
from autosync_gui.ui.logsetup import install_excepthook, setup_logging
from autosync_gui.ui.notifications import LARGE_FILE_ACTIONS, SHOW_ACTIVITY, Message, Notifier
from autosync_gui.ui.settings_dialog import SettingsDialog
from autosync_gui.ui.transfers import TransferTracker
from autosync_gui.ui.tray import Actions, TrayUi
from autosync_gui.ui.versions import VersionsDialog
from autosync_gui.ui.wizard import SetupWizard

if TYPE_CHECKING:  # imported where used: XMPP is optional in a build
    from autosync_gui.notify.service import DisabledService, NotificationService

log = logging.getLogger("autosync.ui")


class TrayApp(QObject):
    """Owns the engine, the XMPP service, the tray and every window."""

    started = pyqtSignal()
    wizardOpened = pyqtSignal(object)
    folderAdded = pyqtSignal(object)
    stopped = pyqtSignal()

    def __init__(self, config_path: Path | None = None, *, hostname: str | None = None,
                 tray_retries: int = 5, tray_retry_ms: int = 2000,
                 notify_delay_ms: int = 1500, instance: InstanceLock | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setQuitOnLastWindowClosed(False)  # closing a window must not stop the loop
        self.config_arg = config_path
        self.config_path = config_path or default_config_path()
        self.hostname = hostname
        self.settings = Settings()
        self.config_error: str | None = None
        self.engine: Engine | None = None
        self.signals = EngineSignals(self)
        self.xmpp_service: NotificationService | DisabledService | None = None
        self.instance = instance  # the lock that makes us the instance of our configuration
        self.control: ControlServer | None = None
        self.folder_errors: dict[Path, str] = {}
        self.history_windows: dict[Path, HistoryDialog] = {}
        self.activity_window: ActivityWindow | None = None
        self.versions_windows: dict[tuple[Path, str], VersionsDialog] = {}
        self.deleted_windows: dict[Path, DeletedFilesDialog] = {}
        self.folder_settings_windows: dict[Path, FolderSettingsDialog] = {}
        self.transfers = TransferTracker(
            lambda: self.engine.transfers if self.engine is not None else None, self)
        self.conflict_dialog: ConflictDialog | None = None
        self.wizard: SetupWizard | None = None
        self.settings_dialog: SettingsDialog | None = None
        self._error_box: QMessageBox | None = None
        self.resume_question: QMessageBox | None = None  # "Sync now" on a paused folder
        self._quit = asyncio.Event()
        self._stopping = False
        self.tray = TrayUi(self.folders, Actions(
            sync_now=self.sync_now, toggle_pause=self.toggle_pause, history=self.open_history,
            conflicts=self.open_conflicts, add_folder=self.open_wizard,
            settings=self.open_settings, quit=self.request_quit,
            pause_until=self.pause_until, activity=self.open_activity,
            deleted_files=self.open_deleted, open_failed=self.open_failed,
            folder_settings=self.open_folder_settings),
            self.config_arg, tray_retries=tray_retries, tray_retry_ms=tray_retry_ms)
        self.notifier = Notifier("all", self.tray.icon, notify_delay_ms, self)
        self.notifier.actionInvoked.connect(self._on_notification_action)
        self.tray.transfers = self.transfers
        self.signals.transferProgress.connect(self.transfers.update)
        self.transfers.changed.connect(lambda _path: self.tray.refresh())
        self.signals.stateChanged.connect(self._on_state)
        self.signals.activityHappened.connect(self._on_activity)
        self.signals.channelChanged.connect(self._on_channel)

    # ------------------------------------------------------------------ lifecycle
    def folders(self) -> list[FolderSync]:
        return self.engine.folders if self.engine is not None else []

    async def start(self) -> None:
        first_run = False
        try:
            self.settings = await asyncio.to_thread(load_config, self.config_arg)
            for warning in self.settings.warnings:
                log.warning("%s", warning)
        except ConfigError as exc:
            if self.config_path.exists() or (self.config_arg is not None and \
                    self.config_arg.exists()):
                self.config_error = str(exc)
            first_run = True
            self.settings = Settings()
        self.notifier.set_level(self.settings.ui.notifications)
        self._folder_levels()
        # a new large file waits outside commits until its notice is answered
        self.engine = Engine(replace(self.settings, folders=()), hostname=self.hostname,
                             confirm_large_files=True)
        self.engine.subscribe(self.signals)
        self.engine.subscribe(HeadlessLog())  # the log file: one line per activity
        await self._start_control(self.engine)
        await self.engine.start()
        for folder in self.settings.folders:
            await self._add_to_engine(folder)
        self.engine.watch_config(self.config_path, self._on_config_reloaded)
        self.tray.rebuild()
        self.tray.show()
        await self._start_xmpp()
        if self.config_error:
            self._show_error("autosync cannot read its configuration", self.config_error)
        elif first_run or not self.settings.folders:
            self.open_wizard(first_run=True)
        log.info("autosync %s tray app running: %d folder(s)", __version__,
                 len(self.folders()))
        self.started.emit()

    async def _start_control(self, engine: Engine) -> None:
        """Serve `autosync status` & co. (and later launches) on the control socket of
        our configuration; run_app took its lock already, a test's app takes it here."""
        if self.instance is None:
            self.instance = InstanceLock(instance_paths(self.config_arg))
            if not self.instance.acquire():
                log.error("another autosync instance runs for %s; this one takes no commands",
                          self.instance.paths.config)
                return
        service = ControlService(engine, mode="tray", config=self.instance.paths.config,
                                 on_activate=self.present)
        self.control = ControlServer(service, self.instance.paths)
        await self.control.start()

    async def stop_control(self) -> None:
        control, self.control = self.control, None
        if control is not None:
            await control.stop()
        if self.instance is not None:
            self.instance.release()

    async def _add_to_engine(self, folder: FolderSettings) -> FolderSync | None:
        assert self.engine is not None
        try:
            added = await self.engine.add_folder(folder)
        except RepositoryError as exc:
            log.error("%s", exc)
            self.folder_errors[folder.path] = str(exc)
            self.notifier.activity(Activity(folder=folder.path, kind=ActivityKind.ERROR,
                                            summary=str(exc)))
            return None
        self.folder_errors.pop(folder.path, None)
        return added

    async def _start_xmpp(self) -> None:
        if self.settings.xmpp is None or self.engine is None:
            return
        try:
            from autosync_gui.notify.service import start_notification_service
        except ImportError:
            log.warning("XMPP notification is not available in this build; polling only")
            return
        try:
            self.xmpp_service = await start_notification_service(self.engine,
                                                                 self.settings.xmpp)
        except Exception as exc:
            log.error("XMPP notification service failed to start: %s", exc)
            self.signals.channel_changed("xmpp", ChannelState.ERROR, str(exc))

    async def _stop_xmpp(self) -> None:
        service, self.xmpp_service = self.xmpp_service, None
        if service is not None:
            try:
                await service.stop()
            except Exception:
                log.exception("stopping the XMPP service failed")

    def request_quit(self) -> None:
        self._quit.set()

    async def wait_quit(self) -> None:
        await self._quit.wait()

    async def shutdown(self) -> None:
        """Quit: commit what is pending and push once, then stop everything."""
        if self._stopping:
            return
        self._stopping = True
        log.info("quitting: committing pending changes and pushing once")
        for window in self.windows():
            window.close()
        await self._stop_xmpp()
        if self.control is not None:
            await self.control.stop()
            self.control = None
        if self.engine is not None:
            await self.engine.stop(flush=True)
        if self.instance is not None:
            self.instance.release()
        self.tray.hide()
        self.notifier.stop()
        self.stopped.emit()

    def windows(self) -> list[QWidget]:
        """Every window the app has open (to close them when quitting)."""
        return [w for w in [*self.history_windows.values(), *self.versions_windows.values(),
                            *self.deleted_windows.values(),
                            *self.folder_settings_windows.values(), self.activity_window,
                            self.conflict_dialog, self.wizard, self.settings_dialog]
                if w is not None]

    async def run(self) -> int:
        await self.start()
        await self.wait_quit()
        await self.shutdown()
        return 0

    def _on_config_reloaded(self, settings: Settings) -> None:
        """The file changed (e.g. `autosync add`): keep our copy's folders current; the
        engine starts and stops them, and the menu follows (see _on_activity)."""
        self.settings = replace(self.settings, folders=settings.folders)
        self._folder_levels()

    # ------------------------------------------------------------------ engine events
    def _on_state(self, path: Path, state: FolderState, _detail: str) -> None:
        self.transfers.state_changed(path)
        self._settle_notifications(path)
        self.tray.refresh()
        if state == FolderState.CONFLICT and self.conflict_dialog is not None:
            self.conflict_dialog.refresh()

    def _settle_notifications(self, path: Path) -> None:
        """Withdraw the notifications whose news is settled in this folder."""
        if self.engine is None:
            return
        try:
            folder = self.engine.folder(path)
        except KeyError:
            self.notifier.settle(path, set(), False)
            return
        open_conflicts = {c.copy_path or c.path for c in folder.conflicts}
        needs_user = folder.state in (FolderState.ERROR, FolderState.OFFLINE) or \
            folder.error is not None
        self.notifier.settle(path, open_conflicts, needs_user,
                             set(folder.large_files_waiting))

    def _on_activity(self, event: Activity) -> None:
        if {Path(f.path) for f in self.folders()} != set(self.tray.folder_menus):
            self.tray.rebuild()  # a folder came or went (configuration changed)
        self.tray.add_activity(event)
        self.notifier.activity(event)
        if event.kind == ActivityKind.CONFLICT:
            self.open_conflicts()
        elif self.conflict_dialog is not None and self.conflict_dialog.isVisible():
            self.conflict_dialog.refresh()
        if event.kind in (ActivityKind.COMMITTED, ActivityKind.PULLED):
            window = self.history_windows.get(Path(event.folder))
            if window is not None and window.isVisible():
                window.new_commits()  # the filter stays: a new commit may match it
        if event.kind == ActivityKind.INFO:  # a conflict resolved, a large file answered
            self._settle_notifications(Path(event.folder))
        self.tray.refresh()

    def _on_channel(self, channel: str, state: ChannelState, detail: str) -> None:
        self.tray.channel = (state, detail)
        if state in (ChannelState.AUTH_FAILED, ChannelState.ERROR):
            self.notifier.activity(Activity(folder=Path(channel), kind=ActivityKind.ERROR,
                                            summary=f"XMPP: {state.value}"
                                            + (f" ({detail})" if detail else "")))
        self.tray.refresh()

    # ------------------------------------------------------------------ menu actions
    def sync_now(self, path: Path) -> None:
        """Sync now; a paused folder first asks whether to resume (it would do nothing)."""
        if self.engine is None:
            return
        folder = self.engine.folder(path)
        if not folder.paused:
            self.engine.sync_now(path)
            return
        until = f" (until {local_time(folder.paused_until)})" if folder.paused_until else ""
        box = QMessageBox(QMessageBox.Icon.Question, "autosync",
                          f"{path.name} is paused{until}. Resume syncing it and sync now?")
        box.setObjectName("resume_question")
        box.setWindowIcon(app_icon())
        resume = box.addButton("Resume and sync", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Stay paused", QMessageBox.ButtonRole.RejectRole)
        box.finished.connect(lambda _r, b=box, p=path, yes=resume: self._resume_answered(
            b, p, b.clickedButton() is yes))
        self.resume_question = box
        box.open()  # not exec(): a nested loop inside qasync

    def _resume_answered(self, box: QMessageBox, path: Path, resume: bool) -> None:
        if self.resume_question is box:
            self.resume_question = None
        if resume and self.engine is not None:
            self.engine.resume(path)
            self.engine.sync_now(path)
        self.tray.refresh()

    def pause_until(self, path: Path, until: datetime | None) -> None:
        """Pause a folder for a while (until `until`), or until resumed (None)."""
        if self.engine is not None:
            self.engine.pause(path, until)
            self.tray.refresh()

    def toggle_pause(self, path: Path) -> None:
        if self.engine is None:
            return
        if self.engine.folder(path).paused:
            self.engine.resume(path)
        else:
            self.engine.pause(path)
        self.tray.refresh()

    def open_history(self, path: Path) -> HistoryDialog | None:
        if self.engine is None:
            return None
        window = self.history_windows.get(path)
        if window is None:
            window = HistoryDialog(self.engine.folder(path))
            window.versionsRequested.connect(self.open_versions)
            window.finished.connect(lambda _r, p=path: self.history_windows.pop(p, None))
            self.history_windows[path] = window
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def open_activity(self) -> ActivityWindow | None:
        """The activity window (tray menu, left click on the icon)."""
        if self.engine is None:
            return None
        window = self.activity_window
        if window is None:
            window = ActivityWindow(self.engine, self.signals, self.transfers)
            window.versionsRequested.connect(self.open_versions)
            window.deletedRequested.connect(self.open_deleted)
            window.historyRequested.connect(self.open_history)
            window.settingsRequested.connect(self.open_folder_settings)
            window.largeFileAnswered.connect(
                lambda folder, name, choice: spawn(
                    self.answer_large_file(folder, name, choice), "large-file"))
            self.activity_window = window
        else:
            window.rebuild()
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def open_versions(self, folder_path: Path, path: str) -> VersionsDialog | None:
        """Every version of one file (`path` relative to the folder's repository)."""
        if self.engine is None:
            return None
        key = (Path(folder_path), path)
        window = self.versions_windows.get(key)
        if window is None:
            window = VersionsDialog(self.engine.folder(Path(folder_path)), path)
            window.finished.connect(lambda _r, k=key: self.versions_windows.pop(k, None))
            self.versions_windows[key] = window
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def open_deleted(self, folder_path: Path) -> DeletedFilesDialog | None:
        if self.engine is None:
            return None
        path = Path(folder_path)
        window = self.deleted_windows.get(path)
        if window is None:
            window = DeletedFilesDialog(self.engine.folder(path))
            window.versionsRequested.connect(self.open_versions)
            window.finished.connect(lambda _r, p=path: self.deleted_windows.pop(p, None))
            self.deleted_windows[path] = window
        else:
            window.reload()
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def open_folder_settings(self, folder_path: Path) -> FolderSettingsDialog | None:
        """One folder's settings, changed without a restart."""
        path = Path(folder_path)
        settings = next((f for f in self.settings.folders if f.path == path), None)
        if settings is None or self.engine is None:
            return None
        window = self.folder_settings_windows.get(path)
        if window is None:
            try:
                folder = self.engine.folder(path)
            except KeyError:
                folder = None
            window = FolderSettingsDialog(settings, folder, self.settings.ui.notifications)
            window.changed.connect(
                lambda new, w=window: spawn(self.apply_folder_settings(new, w),
                                            "folder-settings"))
            window.stopRequested.connect(
                lambda p, w=window: spawn(self.stop_syncing(p, w), "folder-stop"))
            window.finished.connect(
                lambda _r, p=path: self.folder_settings_windows.pop(p, None))
            self.folder_settings_windows[path] = window
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    async def apply_folder_settings(self, new: FolderSettings,
                                    window: FolderSettingsDialog | None = None) -> bool:
        """Write the folder's new settings (atomically) and put them in force now."""
        settings = with_folder(self.settings, new)
        try:
            await asyncio.to_thread(save_config, settings, self.config_path)
        except (ConfigError, OSError) as exc:
            if window is not None:
                window.failed(f"Not saved: {exc}")
            return False
        self.settings = settings
        self._folder_levels()
        if self.engine is not None:
            try:
                await self.engine.reconfigure(new)
            except KeyError:
                pass  # not running (it could not be opened): the file has it for next time
            except (RepositoryError, OSError) as exc:
                if window is not None:
                    window.failed(f"Saved, but not in force yet: {exc}")
                return False
        log.info("%s: settings changed", new.path)
        if window is not None:
            window.saved(new)
        return True

    async def stop_syncing(self, path: Path, window: FolderSettingsDialog | None = None) -> bool:
        """Stop syncing a folder: out of the configuration, its loop stopped (pending
        changes committed and pushed once); the files and their history stay."""
        settings = without_folder(self.settings, Path(path))
        try:
            await asyncio.to_thread(save_config, settings, self.config_path)
        except (ConfigError, OSError) as exc:
            if window is not None:
                window.failed(f"Not changed: {exc}")
            return False
        self.settings = settings
        self._folder_levels()
        if self.engine is not None:
            await self.engine.remove_folder(Path(path))
        self.folder_errors.pop(Path(path), None)
        for key in [k for k in self.versions_windows if k[0] == Path(path)]:
            self.versions_windows[key].close()
        for windows in (self.history_windows, self.deleted_windows,
                        self.folder_settings_windows):
            open_window = windows.get(Path(path))
            if open_window is not None:
                open_window.close()
        self.tray.rebuild()
        if self.activity_window is not None:
            self.activity_window.refresh_folders()
        log.info("%s: no longer synced (files and history stay)", path)
        return True

    def _on_notification_action(self, message: Message, action: str) -> None:
        """A button of one of our notifications was pressed."""
        if action == SHOW_ACTIVITY:
            self.open_activity()
        elif action in LARGE_FILE_ACTIONS and message.folder is not None \
                and message.file is not None:
            spawn(self.answer_large_file(message.folder, message.file, action), "large-file")

    async def answer_large_file(self, folder_path: Path, name: str, choice: str) -> bool:
        """The user's answer to a large file's notice (`name` relative to the folder's
        repository): "dont_sync" adds it to the folder's ignore (saved in the
        configuration), "sync_anyway" lets it enter history."""
        if self.engine is None:
            return False
        try:
            folder = self.engine.folder(Path(folder_path))
        except KeyError:
            return False
        if choice == "sync_anyway":
            folder.sync_anyway(name)
        else:
            try:
                pattern = await folder.dont_sync(name)
            except RepositoryError as exc:
                self.notifier.show(Message("autosync: cannot leave the file out", str(exc),
                                           True))
                return False
            try:
                saved = await asyncio.to_thread(remember_ignored, self.config_path,
                                                folder.path, pattern)
            except (ConfigError, OSError) as exc:
                self.notifier.show(Message(f"autosync: {Path(folder_path).name}: not saved",
                                           f"{display(name)} is not synced now, but the "
                                           f"configuration was not saved: {exc}", True))
                return False
            self.settings = replace(self.settings, folders=saved.folders)
            self._folder_levels()
        self._settle_notifications(Path(folder_path))
        if self.activity_window is not None:
            self.activity_window.refresh_folders()
        return True

    def _folder_levels(self) -> None:
        self.notifier.folder_levels = {f.path: f.notifications for f in self.settings.folders
                                       if f.notifications is not None}

    def open_failed(self, message: str) -> None:
        """A file or folder opened from the tray could not be opened: say so."""
        self.notifier.show(Message("autosync: cannot open", message, True))

    def open_conflicts(self) -> ConflictDialog:
        if self.conflict_dialog is None:
            self.conflict_dialog = ConflictDialog(self.folders)
            self.conflict_dialog.resolved.connect(lambda *_: self.tray.refresh())
        else:
            self.conflict_dialog.refresh()
        self.conflict_dialog.show()
        self.conflict_dialog.raise_()
        return self.conflict_dialog

    def open_wizard(self, first_run: bool = False) -> SetupWizard:
        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            self.wizard.activateWindow()
            return self.wizard
        wizard = SetupWizard(self.settings, self.config_path, first_run=first_run)
        wizard.completed.connect(self._on_wizard_completed)
        wizard.finished.connect(lambda _r: setattr(self, "wizard", None))
        self.wizard = wizard
        wizard.open()
        self.wizardOpened.emit(wizard)
        return wizard

    def _on_wizard_completed(self, settings: Settings, folder: FolderSettings) -> None:
        xmpp_changed = settings.xmpp != self.settings.xmpp
        self.settings = settings
        spawn(self._folder_added(folder, xmpp_changed), "add-folder")

    async def _folder_added(self, folder: FolderSettings, xmpp_changed: bool) -> None:
        added = await self._add_to_engine(folder)
        self.tray.rebuild()
        if xmpp_changed:
            await self._stop_xmpp()
            await self._start_xmpp()
        if added is not None:
            self.folderAdded.emit(added)

    def open_settings(self) -> SettingsDialog:
        if self.settings_dialog is None or not self.settings_dialog.isVisible():
            dialog = SettingsDialog(self.settings, self.config_path)
            dialog.saved.connect(self._on_settings_saved)
            self.settings_dialog = dialog
            dialog.open()
        self.settings_dialog.raise_()
        return self.settings_dialog

    def _on_settings_saved(self, settings: Settings) -> None:
        dialog = self.settings_dialog
        # A new password alone leaves the settings equal: log in again all the same (a
        # failed login is never retried by itself).
        xmpp_changed = settings.xmpp != self.settings.xmpp or \
            (dialog is not None and dialog.password_stored)
        self.settings = settings
        self.notifier.set_level(settings.ui.notifications)
        self._folder_levels()
        self.tray.rebuild()
        if xmpp_changed:
            spawn(self._restart_xmpp(), "restart-xmpp")

    async def _restart_xmpp(self) -> None:
        await self._stop_xmpp()
        await self._start_xmpp()

    def present(self, message: str = "activate") -> None:
        """A second launch asked us to show ourselves."""
        if not self.folders() and (self.wizard is None or not self.wizard.isVisible()):
            self.open_wizard(first_run=not self.settings.folders)
        elif self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            self.wizard.activateWindow()
        else:
            self.tray.present()

    def _show_error(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Critical, title, text)
        box.setWindowIcon(app_icon())
        self._error_box = box
        box.open()  # not exec(): a nested loop inside qasync


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="autosync-gui", description="autosync tray app")
    parser.add_argument("--config", type=Path, help="configuration file")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--headless", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="?", choices=["run"], help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"autosync {__version__}")
    return parser.parse_args(argv)


async def _main(app: QApplication, args: argparse.Namespace, instance: InstanceLock) -> int:
    tray_app = TrayApp(args.config, instance=instance)
    app.aboutToQuit.connect(tray_app.request_quit)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, tray_app.request_quit)
        except (NotImplementedError, RuntimeError):
            log.debug("cannot handle signal %s on this loop", sig)
    try:
        return await tray_app.run()
    finally:
        instance.release()


def _show_running(instance: InstanceLock) -> int:
    """Another instance of this configuration runs: ask it to show itself."""
    try:
        with ControlClient(instance.paths, timeout=10).connect(wait=10) as client:
            client.call("activate")
    except CommandFailedError as exc:
        print(f"autosync: {exc}", file=sys.stderr)
        return exc.code
    except (NoInstanceError, OSError) as exc:
        print(f"autosync: another autosync holds {instance.paths.lock} but does not answer "
              f"({exc}); stop it and start again", file=sys.stderr)
        return 1
    print("autosync is already running; showing it", file=sys.stderr)
    return 0


def run_app(argv: list[str]) -> int:
    """Start the tray app; with another instance of the configuration running, ask it to
    show itself."""
    args = _parse(argv)
    path = setup_logging(args.verbose)
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    assert isinstance(app, QApplication)
    app.setApplicationName("autosync")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("autosync")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)
    try:
        instance = InstanceLock(instance_paths(args.config))
        if not instance.acquire():
            return _show_running(instance)
    except UnsafeRuntimeError as exc:
        print(f"autosync: {exc}", file=sys.stderr)
        return 2
    install_excepthook()
    log.info("logging to %s", path)
    collector = GuiThreadCollector(app)
    collector.start()
    try:
        return int(qasync.run(_main(app, args, instance)) or 0)
    finally:
        collector.stop()
