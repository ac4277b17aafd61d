"""The version-control interface the engine sees: FolderSync, Engine, the UI and the
notifier use a folder's repository only through `Repository`, whichever backend (git,
Mercurial) implements it; `backends.open_repository` picks the backend once, when a folder
is opened. All methods block: callers run them in a worker thread."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from autosync_gui.disk_space import MB, Space, room_at, space_at
from autosync_gui.engine.events import Conflict, TransferDirection

# The backend-neutral remote problems, re-exported for the backends and the sync loop.
from autosync_gui.engine.remote import RemoteError as RemoteError
from autosync_gui.engine.remote import RemoteProblem as RemoteProblem
from autosync_gui.engine.worktree_fs import WorkTree
from autosync_gui.sizes import human_size


class RepositoryError(Exception):
    """A folder that cannot be synced as configured; str() is one line with the fix."""


class RepositoryBusy(RepositoryError):
    """Another git process holds the repository's lock (the user's own git command, or an
    orphaned git of a killed autosync finishing its work): try again shortly. `lock` is
    the lock file's path when known."""

    def __init__(self, message: str, *, lock: str | None = None) -> None:
        super().__init__(message)
        self.lock = lock


class RepositoryDamaged(RepositoryError):
    """The repository itself is damaged (a power cut, a bad disk): a missing or corrupt
    object, an unreadable index, a broken ref. Nothing is committed, pushed or pulled
    until it is repaired, by the backend where that is safe (`SelfRepair`), else by the
    user: str() is one line naming what is damaged and how to repair it. `part` is
    "index", "objects" or "ref"; `detail` is the backend's own words for the damage."""

    def __init__(self, message: str, *, part: str, detail: str = "") -> None:
        super().__init__(message)
        self.part = part
        self.detail = detail or message


class DiskFull(RepositoryError):
    """The disk holding the folder or its repository is full, or would be past the
    reserve autosync leaves free (disk_space.py): the step was not done (or undone), the
    changes wait. str() is the one line for the user; the folder resumes by itself once
    `resume_at` bytes are free there."""

    def __init__(self, space: Space, *, need: int = 0, failed: bool = False) -> None:
        self.device = space.device
        self.free = space.free
        self.reserve = space.reserve
        self.need = need
        # After a write that failed for lack of space (rather than a check before it),
        # only more space than now makes a retry worth it: it would fail again at once.
        self.resume_at = space.reserve + need + (space.free if failed else 0)
        needs = f" (the next step needs about {human_size(need)})" if need else ""
        super().__init__(f"disk full on {space.device}: {space.free_mb} MB free{needs}; "
                         f"autosync leaves {max(1, space.reserve // MB)} MB free and waits: "
                         "free some space there and syncing resumes by itself")

    @classmethod
    def measure(cls, *paths: Path, need: int = 0, failed: bool = False) -> DiskFull:
        """The error for the fullest of the file systems holding `paths`, measured now."""
        spaces: list[Space] = []
        for path in paths:
            try:
                spaces.append(space_at(path))
            except OSError:
                continue
        space = min(spaces, key=lambda s: s.room) if spaces else \
            Space(device=str(paths[0]) if paths else "?", free=0, total=0)
        return cls(space, need=need, failed=failed)


def ensure_room(*paths: Path, need: int = 0) -> None:
    """DiskFull unless every file system holding `paths` has `need` bytes free above
    the reserve: a step that could not finish is never started (one statvfs each)."""
    for path in paths:
        try:
            free, reserve = room_at(path)
        except OSError:
            continue  # gone: the step itself will say so
        if free < reserve + need:
            raise DiskFull.measure(path, need=need)


class HostileContent(RepositoryError):
    """Pulled content the engine refuses to apply (a path into `.git` or outside the
    folder, through a symbolic link, an unsupported entry): nothing was written; the
    folder stays in error until the remote has a commit that fixes it."""


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
    # what the commit did to each of `files`, in the same order: "added", "modified",
    # "deleted", "renamed" (empty when the backend does not say)
    changes: tuple[str, ...] = field(default=())


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

    def ignored_files(self, limit: int) -> list[str]:
        """Files in the folder an ignore rule keeps out of sync (relative to `root`; a
        wholly ignored folder as one entry ending in /), sorted, at most `limit`."""
        ...


class Repository(Protocol):
    """One synced folder's repository (the folder may be a sub-folder of the work tree)."""

    kind: str  # "git" or "hg", for messages and the README's figures
    root: Path  # the work tree's top
    data_dir: Path  # where the repository keeps its data (folders sharing it share a lock)
    scope: str  # the watched folder relative to root ("" for the whole tree)
    hostname: str  # this machine's name as recorded in commits (file-name safe)
    remote: str  # the remote's name as the user knows it (for "pushed to ...")
    work_tree: WorkTree  # link-safe file operations in the work tree
    ignore_file_name: str  # the synced ignore file (.gitignore, .hgignore)
    remote_display: str  # the remote's URL without credentials, for messages
    file_history: FileHistoryQueries

    def identity(self) -> str | None:
        """Stable across replicas and remote URL spellings: root commit plus branch."""
        ...

    def recover(self) -> list[str]:
        """Take this repository's autosync lock, then undo what a killed process left
        behind and check the repository (cheaply), repairing what is safe; returns a line
        per thing done. RepositoryError if another autosync has the lock,
        RepositoryDamaged (the lock kept) when damage remains; called again while it
        does."""
        ...

    def release(self) -> None:
        """Give up the lock taken by recover()."""
        ...

    def note_nested_repository(self, relpath: str) -> None:
        """A folder inside the tree is a repository of its own: never sync it as part of
        this one."""
        ...

    def conflict_copy_candidates(self) -> list[str]:
        """Tracked paths in the folder whose names look like conflict copies."""
        ...

    def commit_pending(self, hold: Collection[str] = ()) -> CommitResult | None:
        """Commit everything pending in the folder as one commit, except the files in
        `hold` (still being written); None if nothing changed."""
        ...

    def is_dirty(self) -> bool:
        """Whether the folder has changes not committed yet."""
        ...

    def set_ignore(self, patterns: Iterable[str]) -> None:
        """New folder ignore patterns (the folder's settings), in force for the next
        commit."""
        ...

    def ignored_by_synced_rules(self, paths: Iterable[str]) -> list[tuple[str, str, str]]:
        """Of `paths`, the existing files an ignore file that is itself synced
        (.gitignore, .hgignore) keeps out of commits: (path, that file, its pattern)."""
        ...

    def tidy(self) -> None:
        """Housekeeping (e.g. repacking), run after a sync rather than inside one."""
        ...

    def remote_moved(self) -> bool:
        """Cheap check whether the remote branch has something we have not integrated."""
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

    def tracked_files(self) -> list[str]:
        """Paths (relative to root) of the files committed in the folder."""
        ...

    def history(self, skip: int, limit: int, path_filter: str | None) -> list[CommitInfo]: ...

    def file_at(self, commit: str, path: str) -> bytes: ...

    def diff(self, commit: str, path: str | None) -> str: ...

    def restore_file(self, commit: str, path: str, to: str | None = None) -> None:
        """Write `path` as it was in `commit` into the work tree, at `to` if given."""
        ...


@runtime_checkable
class SelfRepair(Protocol):
    """What a backend offers for a damaged repository (git does; see engine/damage.py):
    the folder loop uses it when the repository has it."""

    def repair_damage(self, damage: RepositoryDamaged) -> list[str]:
        """Do what is safe about `damage` (reported by the backend during a sync), then
        check the repository again: a line per repair. RepositoryDamaged when the damage
        remains; the caller then retries later (recover() checks again)."""
        ...


# (what, direction, bytes done, bytes in all or None, bytes per second or None, finished);
# called on the worker thread that runs the transfer.
ProgressSink = Callable[[str, TransferDirection, int, "int | None", "float | None", bool], None]


@runtime_checkable
class LargeFileFeatures(Protocol):
    """What a backend offers for large files (git does; see README, Large files): the
    folder loop uses it when the repository has it."""

    large_file_size: int  # bytes; 0: no file is large
    hold_large_files: bool  # new large files wait outside commits until answered
    change_hint: set[str] | None  # paths seen changing since the last commit, or None
    progress_sink: ProgressSink | None
    large_notices: list[tuple[str, int]]  # new large files to announce (path, bytes)
    lfs_notes: list[str]  # one-line reports about Git LFS

    def ignore_path(self, path: str) -> str: ...

    def allow_large_file(self, path: str) -> None: ...

    def maintain(self) -> str: ...

    def storage(self, top: int = 10) -> StorageReport: ...
