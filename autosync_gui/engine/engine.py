"""The engine: every configured folder's sync loop in one asyncio process.

This is the one interface the GUI, the headless command and the XMPP client use:
state and activity come out through `subscribe` (the recent activity stays readable in
`activity_log`, the transfers under way in `transfers`); sync_now / pause / resume /
add_folder go in, and `locate` maps a path a user names to its folder. Qt-free."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from autosync_gui.config import FolderSettings, Settings
from autosync_gui.engine.activity_log import ActivityLog
from autosync_gui.engine.backends import open_repository
from autosync_gui.engine.config_watch import ConfigWatch
from autosync_gui.engine.events import Activity, ActivityKind, EngineObserver, ObserverHub
from autosync_gui.engine.folder import FolderSync
from autosync_gui.engine.repository import LargeFileFeatures, RepositoryError
from autosync_gui.engine.transfers import RunningTransfers

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, settings: Settings, *, hostname: str | None = None,
                 confirm_large_files: bool = False) -> None:
        """`confirm_large_files`: a new large file waits outside commits until the
        user answers its notice (for the tray app; headless mode syncs it and says so)."""
        self.settings = settings
        self.confirm_large_files = confirm_large_files
        self.hostname = hostname or socket.gethostname().split(".")[0]
        self.hub = ObserverHub()
        self.activity_log = ActivityLog()
        self.hub.subscribe(self.activity_log)
        # subscribed before any outside observer: what they read here is current
        self.transfers = RunningTransfers()
        self.hub.subscribe(self.transfers)
        self.failed: dict[Path, str] = {}  # configured folders that could not be opened
        self._folders: dict[Path, FolderSync] = {}
        self._repo_locks: dict[Path, asyncio.Lock] = {}
        self._changing = asyncio.Lock()  # adding/removing folders, one at a time
        self._config_watch: ConfigWatch | None = None

    # ------------------------------------------------------------------ observing
    def subscribe(self, observer: EngineObserver) -> Callable[[], None]:
        """Start receiving state changes and activities; returns the unsubscribe function."""
        return self.hub.subscribe(observer)

    @property
    def folders(self) -> list[FolderSync]:
        return list(self._folders.values())

    def folder(self, path: Path) -> FolderSync:
        return self._folders[Path(path)]

    def locate(self, path: Path) -> tuple[FolderSync, str]:
        """The folder holding `path` (absolute; the folder itself or anything inside it,
        existing or not) and the path relative to that folder's repository root ("" for
        the root). Links in the leading folders are resolved (a path that leads out of
        the folder through one is not in it); the last name is not. Raises LookupError
        with one line naming the folders."""
        target = Path(os.path.normpath(path))
        real = Path(os.path.realpath(target.parent)) / target.name if target.name else target
        best: tuple[int, FolderSync, Path] | None = None
        for folder in self._folders.values():
            root = Path(os.path.realpath(folder.path))
            if (real == root or root in real.parents) \
                    and (best is None or len(root.parts) > best[0]):
                best = (len(root.parts), folder, real.relative_to(root))
        if best is None:
            known = ", ".join(str(f.path) for f in self._folders.values()) or "none"
            raise LookupError(f"{path} is not inside a synced folder (synced: {known}); "
                              "give a path inside one")
        _depth, folder, inside = best
        if ".git" in inside.parts:
            raise LookupError(f"{path} is inside the repository's .git folder; give a path "
                              "of a synced file")
        rel = "/".join(p for p in (folder.repo.scope, inside.as_posix()) if p and p != ".")
        return folder, rel

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open and start every configured folder. A folder that cannot be opened raises
        RepositoryError (the CLI validates first, so this only happens on races)."""
        for settings in self.settings.folders:
            await self.add_folder(settings)

    async def stop(self, *, flush: bool = True) -> None:
        """Stop every folder; with flush, commit pending changes and try one push first."""
        if self._config_watch is not None:
            await self._config_watch.stop()
            self._config_watch = None
        await asyncio.gather(*(f.stop(flush=flush) for f in self._folders.values()),
                             return_exceptions=True)

    async def add_folder(self, settings: FolderSettings) -> FolderSync:
        """Open a folder (validating it: RepositoryError with a one-line message) and start
        syncing it. Adding an already running folder returns it."""
        async with self._changing:
            path = Path(settings.path)
            if path in self._folders:
                return self._folders[path]
            try:
                repo = await asyncio.to_thread(open_repository, path, self.hostname,
                                               settings.ignore)
                if isinstance(repo, LargeFileFeatures):
                    repo.large_file_size = settings.large_file_size
                    repo.hold_large_files = self.confirm_large_files
                lock = self._repo_locks.setdefault(repo.data_dir, asyncio.Lock())
                folder = FolderSync(settings, repo, self.hub, lock)
                self._folders[path] = folder
                await folder.start()
            except RepositoryError as exc:
                self._folders.pop(path, None)
                self.failed[path] = str(exc)
                raise
            self.failed.pop(path, None)
            return folder

    async def remove_folder(self, path: Path) -> None:
        """Stop syncing a folder (pending changes are committed and pushed once first);
        its files and history stay."""
        async with self._changing:
            self.failed.pop(Path(path), None)
            folder = self._folders.pop(Path(path), None)
            if folder is not None:
                await folder.stop(flush=True)
                self.transfers.forget(Path(path))
                self.hub.activity(Activity(folder=Path(path), kind=ActivityKind.INFO,
                                           summary="no longer synced"))

    async def apply_folders(self, wanted: Iterable[FolderSettings]) -> None:
        """Make the running folders match a (re)loaded configuration: start new ones,
        stop removed ones, give changed ones their new settings in place (no restart). A
        folder that cannot be opened is reported (an error activity) and skipped; the
        others go on."""
        wanted_by_path = {Path(f.path): f for f in wanted}
        for path in list(self.failed):
            if path not in wanted_by_path:
                self.failed.pop(path, None)
        for path, folder in list(self._folders.items()):
            new = wanted_by_path.get(path)
            if new is None:
                await self.remove_folder(path)
            elif new != folder.settings:
                await folder.reconfigure(new)
        for path, settings in wanted_by_path.items():
            if path in self._folders:
                continue
            try:
                await self.add_folder(settings)
            except RepositoryError as exc:
                self.hub.activity(Activity(folder=path, kind=ActivityKind.ERROR,
                                           summary=str(exc)))
                continue
            self.hub.activity(Activity(folder=path, kind=ActivityKind.INFO,
                                       summary="now synced"))

    async def reconfigure(self, settings: FolderSettings) -> None:
        """Apply a running folder's changed settings without restarting it."""
        await self.folder(Path(settings.path)).reconfigure(settings)

    def watch_config(self, path: Path,
                     on_reload: Callable[[Settings], None] | None = None) -> None:
        """Follow the configuration file: a folder added or removed there (by `autosync
        add`/`remove` or by hand) starts or stops here without a restart. `on_reload`
        sees the new settings first (the tray app keeps its copy current)."""

        async def reloaded(settings: Settings) -> None:
            self.settings = replace(self.settings, folders=settings.folders)
            if on_reload is not None:
                on_reload(settings)
            await self.apply_folders(settings.folders)

        if self._config_watch is None:
            self._config_watch = ConfigWatch(path, reloaded)
            self._config_watch.start()

    # ------------------------------------------------------------------ commands
    def _targets(self, path: Path | None) -> list[FolderSync]:
        return self.folders if path is None else [self.folder(path)]

    def sync_now(self, path: Path | None = None) -> None:
        """Commit what is pending and sync with the remote now (one folder or all)."""
        for folder in self._targets(path):
            folder.sync_now()

    def pause(self, path: Path | None = None, until: datetime | None = None) -> None:
        """Pause one folder or all, until `until` (aware) or until resumed."""
        for folder in self._targets(path):
            folder.pause(until)

    def resume(self, path: Path | None = None) -> None:
        for folder in self._targets(path):
            folder.resume()

    def remote_changed(self, identity: str, commit: str | None = None,
                       host: str | None = None, *, paths: list[Path] | None = None) -> bool:
        """A peer says it pushed `commit` to the repository `identity`. Schedules a fetch of
        the folder's configured remote (coalesced), never anything else. Returns whether
        any folder matched and did not have the commit already. `paths` limits it to
        those folders (the ones shared with the notice's sender)."""
        matched = False
        for folder in self._folders.values():
            if folder.identity == identity and folder.settings.notify and (
                    paths is None or Path(folder.settings.path) in paths):
                matched = folder.remote_changed(commit, host) or matched
        return matched

    def fetch_all(self) -> None:
        """Catch up after a notification channel (re)connects."""
        for folder in self._folders.values():
            folder.request_sync()
