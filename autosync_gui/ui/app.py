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
from PyQt6.QtWidgets import QApplication, QMessageBox

from autosync_gui import __version__
from autosync_gui.config import ConfigError, FolderSettings, Settings, default_config_path, load_config
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
from autosync_gui.ui.adapter import EngineSignals
from autosync_gui.ui.common import local_time, spawn
from autosync_gui.ui.conflict_dialog import ConflictDialog
from autosync_gui.ui.history import HistoryDialog
from autosync_gui.ui.icons import app_icon
from autosync_gui.ui.logsetup import install_excepthook, setup_logging
from autosync_gui.ui.notifications import Notifier
from autosync_gui.ui.settings_dialog import SettingsDialog
from autosync_gui.ui.tray import Actions, TrayUi
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
            pause_until=self.pause_until),
            self.config_arg, tray_retries=tray_retries, tray_retry_ms=tray_retry_ms)
        self.notifier = Notifier("all", self.tray.icon, notify_delay_ms, self)
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
        self.engine = Engine(replace(self.settings, folders=()), hostname=self.hostname)
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
        for window in [*self.history_windows.values(), self.conflict_dialog, self.wizard,
                       self.settings_dialog]:
            if window is not None:
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
        self.stopped.emit()

    async def run(self) -> int:
        await self.start()
        await self.wait_quit()
        await self.shutdown()
        return 0

    def _on_config_reloaded(self, settings: Settings) -> None:
        """The file changed (e.g. `autosync add`): keep our copy's folders current; the
        engine starts and stops them, and the menu follows (see _on_activity)."""
        self.settings = replace(self.settings, folders=settings.folders)

    # ------------------------------------------------------------------ engine events
    def _on_state(self, path: Path, state: FolderState, _detail: str) -> None:
        self.tray.refresh()
        if state == FolderState.CONFLICT and self.conflict_dialog is not None:
            self.conflict_dialog.refresh()

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
            if window is not None and window.isVisible() and not window.filter.text():
                window.model.reset(None)
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
            window.finished.connect(lambda _r, p=path: self.history_windows.pop(p, None))
            self.history_windows[path] = window
        window.show()
        window.raise_()
        window.activateWindow()
        return window

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
    return int(qasync.run(_main(app, args, instance)) or 0)
