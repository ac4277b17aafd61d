"""What each control command does to the running engine, and the JSON it answers with.

The commands only observe and command the engine (engine/engine.py); no sync logic lives
here. Every bad input becomes a CommandError: one line naming the thing and the fix."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from autosync_gui import __version__
from autosync_gui.config import ConfigError, remember_ignored
from autosync_gui.control.protocol import EXIT_BAD_INPUT, Request
from autosync_gui.engine.engine import Engine
from autosync_gui.engine.events import Activity, Conflict, FolderState, TransferProgress
from autosync_gui.engine.folder import FolderSync, commit_short, local_minute
from autosync_gui.engine.repository import DeletedFile, FileVersion, RepositoryError
from autosync_gui.engine.transfers import describe


class CommandError(Exception):
    """A command that cannot be done as asked; str() is the one line shown."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


def activity_json(event: Activity) -> dict[str, Any]:
    return {"folder": str(event.folder), "kind": event.kind.value, "summary": event.summary,
            "files": list(event.files), "file_count": event.file_count,
            "host": event.host, "commit": event.commit,
            "time": _iso(event.when),
            "conflict": conflict_json(event.conflict) if event.conflict else None}


def conflict_json(conflict: Conflict) -> dict[str, Any]:
    return {"path": conflict.path, "copy": conflict.copy_path, "kind": conflict.kind,
            "kept_host": conflict.kept_host or None, "kept_time": _iso(conflict.kept_time),
            "copy_host": conflict.copy_host or None, "copy_time": _iso(conflict.copy_time)}


def transfer_json(event: TransferProgress) -> dict[str, Any]:
    return {"direction": event.direction.value, "what": event.what,
            "done_bytes": event.done_bytes, "total_bytes": event.total_bytes,
            "fraction": event.fraction, "rate": event.rate, "time": _iso(event.when),
            "description": describe(event)}


def version_json(version: FileVersion) -> dict[str, Any]:
    return {"commit": version.commit, "time": _iso(version.time), "host": version.host,
            "path": version.path, "change": version.change, "size": version.size,
            "previous_path": version.previous_path}


def _described(version: FileVersion) -> str:
    return f"{commit_short(version.commit)} ({local_minute(version.time)} from {version.host})"


def choose_version(name: str, versions: list[FileVersion], *, at: datetime | None,
                   commit: str | None) -> FileVersion:
    """The version `restore` puts back: the one of `commit`, the one current `at` a time,
    else the newest before the current one (for a deleted file: its last content)."""
    if commit is not None:
        matches = [v for v in versions if v.commit.startswith(commit)]
        if not matches:
            raise CommandError(f"no version {commit} of {name}; list them with "
                               f"`autosync versions {name}`")
        if len({v.commit for v in matches}) > 1:
            raise CommandError(f"{commit} matches {len(matches)} versions of {name}; give more "
                               "digits")
        chosen = matches[0]
    elif at is not None:
        older = [v for v in versions if v.time <= at]
        if not older:
            raise CommandError(f"{name} has no version as old as {local_minute(at)} (the "
                               f"oldest is from {local_minute(versions[-1].time)}); pick a "
                               "later time")
        chosen = older[0]
        if chosen.size is None:
            raise CommandError(f"{name} did not exist at {local_minute(at)} (deleted "
                               f"{local_minute(chosen.time)} on {chosen.host}); pick an "
                               "earlier time")
        return chosen
    else:
        candidates = [v for v in versions[1:] if v.size is not None]
        if not candidates:
            raise CommandError(f"{name} has no older version to restore; list its versions "
                               f"with `autosync versions {name}`")
        chosen = candidates[0]
    if chosen.size is None:
        raise CommandError(f"version {commit_short(chosen.commit)} is the deletion of {name}; "
                           "pick an older one")
    return chosen


class ControlService:
    """Runs control requests against one engine."""

    def __init__(self, engine: Engine, *, mode: str, config: Path,
                 on_activate: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.mode = mode  # "tray" or "headless"
        self.config = config
        self.on_activate = on_activate

    async def run(self, request: Request) -> object:
        handler = getattr(self, f"_{request.command}")
        try:
            return await handler(request)
        except LookupError as exc:
            raise CommandError(str(exc.args[0] if exc.args else exc)) from None
        except RepositoryError as exc:
            raise CommandError(str(exc)) from None

    # ------------------------------------------------------------------ helpers
    def _targets(self, path: str | None) -> list[FolderSync]:
        if path is None:
            if not self.engine.folders:
                raise CommandError(f"no folder is synced by this instance ({self.config}); "
                                   "add one first")
            return self.engine.folders
        folder, _rel = self.engine.locate(Path(path))
        return [folder]

    def _file(self, path: str) -> tuple[FolderSync, str]:
        folder, rel = self.engine.locate(Path(path))
        if not rel or rel == folder.repo.scope:
            raise CommandError(f"{path} is a synced folder; give a file inside it")
        return folder, rel

    # ------------------------------------------------------------------ commands
    async def _activate(self, _request: Request) -> object:
        if self.on_activate is None:
            raise CommandError(f"the autosync instance for {self.config} runs headless and has "
                               "no window to show; use `autosync status`, or stop it first",
                               code=1)
        self.on_activate()
        return {"activated": True}

    async def _status(self, _request: Request) -> object:
        folders = list(self.engine.folders)
        counts = await asyncio.gather(*(self._counts(f) for f in folders))
        listed: list[dict[str, Any]] = []
        for folder, (pending, unpushed) in zip(folders, counts, strict=True):
            transfer = self.engine.transfers.of(folder.path)  # read after the awaits
            listed.append({
                "path": str(folder.path), "state": folder.state.value, "detail": folder.detail,
                "paused_until": _iso(folder.paused_until), "last_sync": _iso(folder.last_sync),
                "pending_changes": pending, "unpushed_commits": unpushed,
                "remote": folder.remote_display,
                "conflicts": [conflict_json(c) for c in folder.conflicts],
                "error": folder.error,
                "transfer": transfer_json(transfer) if transfer is not None else None,
                "large_files_waiting": [
                    {"path": folder.relative_name(name), "size": size,
                     "absolute": str(folder.repo.root / name)}
                    for name, size in sorted(folder.large_files_waiting.items())]})
        for path, error in self.engine.failed.items():
            listed.append({"path": str(path), "state": FolderState.ERROR.value, "detail": error,
                           "paused_until": None, "last_sync": None, "pending_changes": None,
                           "unpushed_commits": None, "remote": None, "conflicts": [],
                           "error": error, "transfer": None, "large_files_waiting": []})
        return {"instance": {"pid": os.getpid(), "mode": self.mode, "config": str(self.config),
                             "version": __version__, "host": self.engine.hostname},
                "folders": listed,
                "idle": all(f["state"] == FolderState.IDLE.value for f in listed)}

    @staticmethod
    async def _counts(folder: FolderSync) -> tuple[int | None, int | None]:
        try:
            return await folder.pending_changes(), await folder.unpushed_commits()
        except RepositoryError:
            return None, None

    async def _pause(self, request: Request) -> object:
        until = None
        if request.seconds is not None:
            until = datetime.now(UTC) + timedelta(seconds=request.seconds)
        done = []
        for folder in self._targets(request.path):
            self.engine.pause(folder.path, until)
            done.append({"path": str(folder.path), "paused_until": _iso(until)})
        return {"folders": done}

    async def _resume(self, request: Request) -> object:
        done = []
        for folder in self._targets(request.path):
            was_paused = folder.paused
            self.engine.resume(folder.path)
            done.append({"path": str(folder.path), "was_paused": was_paused})
        return {"folders": done}

    async def _sync_now(self, request: Request) -> object:
        """On a paused folder the tray asks whether to resume; a command means it: resume
        and sync, and say so."""
        done = []
        for folder in self._targets(request.path):
            resumed = folder.paused
            if resumed:
                self.engine.resume(folder.path)
            self.engine.sync_now(folder.path)
            done.append({"path": str(folder.path), "resumed": resumed})
        return {"folders": done}

    async def _activity(self, request: Request) -> object:
        return {"events": [activity_json(e) for e in self.engine.activity_log.recent(
            request.limit)]}

    async def _versions(self, request: Request) -> object:
        assert request.path is not None
        folder, rel = self._file(request.path)
        versions = await folder.versions(rel)
        if not versions:
            raise CommandError(f"{request.path} has no version in the history of "
                               f"{folder.path}; check the name (deleted files: "
                               "`autosync deleted`)")
        return {"folder": str(folder.path), "path": folder.relative_name(rel),
                "versions": [version_json(v) for v in versions]}

    async def _restore(self, request: Request) -> object:
        assert request.path is not None
        folder, rel = self._file(request.path)
        name = folder.relative_name(rel)
        versions = await folder.versions(rel)
        if not versions:
            raise CommandError(f"{request.path} has no version in the history of "
                               f"{folder.path}; check the name (deleted files: "
                               "`autosync deleted`)")
        chosen = choose_version(name, versions, at=request.at, commit=request.commit)
        result = await folder.restore_version(rel, chosen)
        return {"folder": str(folder.path), "path": name, "version": version_json(chosen),
                "commit": result.commit if result else None, "changed": result is not None,
                "description": _described(chosen)}

    async def _deleted(self, request: Request) -> object:
        since = datetime.now(UTC) - timedelta(days=request.since_days)
        if request.path is None:
            targets = [(f, "") for f in self._targets(None)]
        else:
            folder, rel = self.engine.locate(Path(request.path))
            targets = [(folder, rel)]
        listed: list[dict[str, Any]] = []
        for folder, under in targets:
            for gone in await folder.deleted_files(since, under):
                listed.append(self._deleted_json(folder, gone))
        listed.sort(key=lambda d: d["time"], reverse=True)
        return {"since": _iso(since), "files": listed}

    @staticmethod
    def _deleted_json(folder: FolderSync, gone: DeletedFile) -> dict[str, Any]:
        return {"folder": str(folder.path), "path": folder.relative_name(gone.path),
                "absolute": str(folder.repo.root / gone.path), "commit": gone.commit,
                "time": _iso(gone.time), "host": gone.host, "last_commit": gone.last_commit,
                "size": gone.size}

    async def _conflicts(self, _request: Request) -> object:
        listed = []
        for folder in self.engine.folders:
            for conflict in folder.conflicts:
                entry = conflict_json(conflict)
                entry.update(folder=str(folder.path),
                             absolute=str(folder.repo.root / conflict.path),
                             copy_absolute=str(folder.repo.root / conflict.copy_path)
                             if conflict.copy_path else None,
                             mine=self._mine(folder, conflict))
                listed.append(entry)
        return {"host": self.engine.hostname, "conflicts": listed}

    @staticmethod
    def _mine(folder: FolderSync, conflict: Conflict) -> str | None:
        """Which file holds this machine's version: "path", "copy" or None (neither)."""
        host = folder.repo.hostname
        if conflict.kept_host == host:
            return "path"
        if conflict.copy_host == host:
            return "copy"
        return None

    async def _keep(self, request: Request) -> object:
        assert request.path is not None and request.side is not None
        folder, rel = self._file(request.path)
        conflict = next((c for c in folder.conflicts if rel in (c.path, c.copy_path)), None)
        if conflict is None:
            raise CommandError(f"{request.path} has no open conflict; list them with "
                               "`autosync conflicts`")
        if request.side == "both":
            keep = "both"
        else:
            mine = self._mine(folder, conflict)
            if mine is None:
                raise CommandError(
                    f"neither version of {folder.relative_name(conflict.path)} was made on "
                    f"this machine ({folder.repo.hostname}): the file holds "
                    f"{conflict.kept_host or 'another machine'}'s, the copy "
                    f"{conflict.copy_host}'s; use --both, or delete the one you do not want")
            wants_path = (mine == "path") == (request.side == "mine")
            keep = "original" if wants_path else "copy"
        await folder.resolve_conflict(conflict, keep)  # type: ignore[arg-type]
        return {"folder": str(folder.path), "path": folder.relative_name(conflict.path),
                "kept": keep, "conflict": conflict_json(conflict)}

    async def _large_file(self, request: Request) -> object:
        """Answer a new large file's notice: leave it out of sync (its pattern joins the
        folder's ignore, in the configuration file too) or let it enter history."""
        assert request.path is not None and request.choice is not None
        folder, rel = self._file(request.path)
        name = folder.relative_name(rel)
        if rel not in folder.large_files_waiting:
            waiting = ", ".join(folder.relative_name(n) for n in folder.large_files_waiting)
            raise CommandError(f"{name} is not a large file waiting for a choice (waiting: "
                               f"{waiting or 'none'}); `autosync status` lists them")
        if request.choice == "sync_anyway":
            folder.sync_anyway(rel)
            return {"folder": str(folder.path), "path": name, "choice": request.choice,
                    "pattern": None}
        pattern = await folder.dont_sync(rel)
        try:
            await asyncio.to_thread(remember_ignored, self.config, folder.path, pattern)
        except (ConfigError, OSError) as exc:
            raise CommandError(f"{name} is not synced now, but the configuration was not "
                               f"saved ({exc}); add {pattern} to the folder's ignore",
                               code=1) from None
        return {"folder": str(folder.path), "path": name, "choice": request.choice,
                "pattern": pattern}
