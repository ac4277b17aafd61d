"""What the UI sees of a synced folder. The widgets take these small protocols rather than
the engine's FolderSync, so each depends only on what it reads; the engine's folders
satisfy them (mypy checks it where the app hands them over)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from autosync_gui.engine.events import Conflict, FolderState
from autosync_gui.engine.repository import CommitInfo, FileVersion

Keep = Literal["original", "copy", "both"]


class FolderStatus(Protocol):
    """The tray menu, its tooltip and the no-tray status window."""

    @property
    def path(self) -> Path: ...
    @property
    def state(self) -> FolderState: ...
    @property
    def detail(self) -> str: ...
    @property
    def last_sync(self) -> datetime | None: ...
    @property
    def paused(self) -> bool: ...
    @property
    def conflicts(self) -> list[Conflict]: ...
    @property
    def large_files_waiting(self) -> dict[str, int]: ...


class ConflictFolder(FolderStatus, Protocol):
    """The conflict dialog: the open conflicts, and settling one."""

    async def resolve_conflict(self, conflict: Conflict, keep: Keep) -> None: ...


class FolderHistory(Protocol):
    """The history viewer."""

    @property
    def path(self) -> Path: ...
    async def history(self, skip: int = 0, limit: int = 100,
                      path_filter: str | None = None) -> list[CommitInfo]: ...
    async def file_at(self, commit: str, path: str) -> bytes: ...
    async def diff(self, commit: str, path: str | None = None) -> str: ...
    async def restore(self, commit: str, path: str) -> None: ...
    async def versions(self, path: str) -> list[FileVersion]: ...
