"""The small version-control interface the sync loop needs, so a Mercurial backend can be
added beside git later. All methods block: callers run them in a worker thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from autosync_gui.engine.events import Conflict


class RepositoryError(Exception):
    """A folder that cannot be synced as configured; str() is one line with the fix."""


class RepositoryBusy(RepositoryError):
    """Another git process holds the repository's lock (the user's own git command, or an
    orphaned git of a killed autosync finishing its work): try again shortly."""


class HostileContent(RepositoryError):
    """Pulled content the engine refuses to apply (a path into `.git` or outside the
    folder, through a symbolic link, an unsupported entry): nothing was written; the
    folder stays in error until the remote has a commit that fixes it."""


class RemoteError(Exception):
    """Talking to the remote failed. `offline` means retry later (unreachable);
    otherwise the user must act (authentication, host key, missing repository)."""

    def __init__(self, message: str, *, offline: bool) -> None:
        super().__init__(message)
        self.offline = offline


@dataclass(frozen=True)
class CommitResult:
    commit: str
    files: tuple[str, ...]  # "A path", "M path", "D path", "R old -> new"


@dataclass(frozen=True)
class IntegrateResult:
    """What integrating the remote branch did to the work tree."""

    changed: bool  # HEAD moved
    files: tuple[str, ...] = ()  # paths that changed on disk
    host: str | None = None  # host of the remote tip, as recorded in its commit
    conflicts: tuple[Conflict, ...] = ()
    # ignored local files at paths the pull brought, each renamed (old path, new path)
    kept_local: tuple[tuple[str, str], ...] = ()
    saved_beside: tuple[str, ...] = ()  # saves made during the pull, kept under these names


@dataclass(frozen=True)
class StorageReport:
    """What a folder's history costs on this machine (for the activity window)."""

    local_bytes: int  # git objects plus local Git LFS copies
    lfs_bytes: int
    largest: tuple[tuple[str, int], ...]  # (path, largest version's bytes), largest first


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    time: datetime
    host: str
    author: str
    subject: str
    files: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class FileVersion:
    """One version of one file: the commit that made it, as the user sees it."""

    commit: str
    time: datetime  # the commit's time, aware
    host: str  # the machine that made it (its commit's host trailer)
    path: str  # the file's path in that commit (it may have been renamed since)
    change: str  # "added", "modified", "renamed", "deleted"
    size: int | None  # bytes; None for a deletion; -1 not fetched yet (partial clone)
    previous_path: str | None = None  # for "renamed": the name before


@dataclass(frozen=True)
class DeletedFile:
    """A file deleted lately and not there any more."""

    path: str
    commit: str  # the commit that deleted it
    time: datetime
    host: str  # the machine that deleted it
    last_commit: str  # a commit that still has its last content
    size: int | None


class FileHistoryQueries(Protocol):
    """A file's history as a user sees it (engine/git_history.py for git)."""

    def versions(self, path: str) -> list[FileVersion]:
        """Every version of `path` (relative to `root`), newest first, following renames;
        a deletion counts as a version (size None)."""
        ...

    def deleted_files(self, since: datetime, under: str) -> list[DeletedFile]:
        """Files below `under` (relative to `root`; "" for the folder) deleted since
        `since` and not there any more, newest first."""
        ...

    def commit_restore(self, path: str, title: str) -> CommitResult | None:
        """Commit the restored file at `path` alone, titled `title`; None when it was
        unchanged."""
        ...

    def describe_conflict(self, path: str, copy_path: str, fallback: Conflict) -> Conflict:
        """The conflict whose copy is `copy_path`, hosts and times read from history
        (`fallback` for what history does not tell)."""
        ...

    def pending_changes(self) -> int:
        """Files changed in the folder and not committed yet."""
        ...

    def unpushed_commits(self) -> int:
        """Commits the remote does not have yet (as of the last fetch)."""
        ...


class Repository(Protocol):
    root: Path  # the work tree's top
    git_dir: Path  # where the repository keeps its data (used to share locks)
    scope: str  # the watched folder relative to root ("" for the whole tree)
    remote_display: str  # the remote's URL without credentials, for messages
    file_history: FileHistoryQueries

    def identity(self) -> str | None:
        """Stable across replicas and remote URL spellings: root commit plus branch."""
        ...

    def recover(self) -> list[str]:
        """Undo what a killed process left behind; returns what was done."""
        ...

    def commit_pending(self) -> CommitResult | None: ...

    def remote_moved(self) -> bool:
        """Cheap check whether the remote branch differs from what we fetched last."""
        ...

    def fetch(self) -> None: ...

    def integrate(self) -> IntegrateResult: ...

    def push(self) -> bool:
        """True when pushed or nothing to push; False when rejected (remote moved on)."""
        ...

    def ahead(self) -> bool:
        """Local commits the remote does not have yet."""
        ...

    def has_commit(self, sha: str) -> bool: ...

    def head(self) -> str | None: ...

    def history(self, skip: int, limit: int, path_filter: str | None) -> list[CommitInfo]: ...

    def file_at(self, commit: str, path: str) -> bytes: ...

    def diff(self, commit: str, path: str | None) -> str: ...

    def restore_file(self, commit: str, path: str, to: str | None = None) -> None:
        """Write `path` as it was in `commit` into the work tree, at `to` if given."""
        ...
