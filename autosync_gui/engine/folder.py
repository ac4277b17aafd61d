"""One folder's sync loop: watch -> quiet period (quiet_period.py) -> commit -> push
(after push_delay, if set) -> fetch, integrate, push; plus polling, back-off while offline,
pause/resume and catch-up at start.

Everything here runs on the event loop; git runs in worker threads, one operation per
repository at a time (the shared lock). Requests are flags, so a flood of triggers
collapses into at most one operation in flight and one queued."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from autosync_gui.config import FolderSettings
from autosync_gui.disk_space import MB, is_disk_full_error, room_at
from autosync_gui.engine import conflict_rules as rules
from autosync_gui.engine.backoff import Backoff
from autosync_gui.engine.changed_paths import ChangedPaths
from autosync_gui.engine.disk_usage import DiskUsage, measure_disk_usage
from autosync_gui.engine.events import (
    Activity,
    ActivityKind,
    Conflict,
    FolderState,
    ObserverHub,
    TransferDirection,
    TransferProgress,
)
from autosync_gui.engine.free_memory import give_back_free_memory
from autosync_gui.engine.open_files import open_files, open_for_writing_under
from autosync_gui.engine.quiet_period import Change, QuietPeriod
from autosync_gui.engine.repository import (
    CommitInfo,
    CommitResult,
    DeletedFile,
    DiskFull,
    FileVersion,
    HostileContent,
    IntegrateResult,
    LargeFileFeatures,
    RemoteError,
    Repository,
    RepositoryBusy,
    RepositoryDamaged,
    RepositoryError,
    SelfRepair,
    StorageReport,
    ensure_room,
)
from autosync_gui.engine.safe_paths import UnsafePath, display
from autosync_gui.engine.watcher import TreeWatcher
from autosync_gui.sizes import human_size

log = logging.getLogger(__name__)

MAX_PUSH_ROUNDS = 5
STOP_TIMEOUT = 30.0
FLUSH_TIMEOUT = 20.0
KEEP_NOTIFIED = 64
BUSY_REPORT_AFTER = 50
LOCK_POLL = 0.1  # while another git holds the lock a commit needs: look this often
LOCK_RETRY = 5.0  # ... and try the commit anyway this often (the lock may be another one)
LOCK_REPORT_AFTER = 5.0  # a commit held up this long says why (state and one log line)
PROGRESS_INTERVAL = 0.25  # seconds between two progress events of one transfer
MANY_FILES = 1000  # a pull of as many files gives the memory it used back at the end
MAINTENANCE_DELAY = 5.0  # seconds after the last sync before the object store is tidied
MAX_QUICK_REPAIRS = 3  # repairs in a row retried at once; then back-off
DISK_RECHECK = 2.0  # while the disk is full: look at its free space this often


def commit_short(sha: str) -> str:
    return sha[:10]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _short_list(files: tuple[str, ...] | list[str], limit: int = 3) -> str:
    shown = ", ".join(display(f) for f in files[:limit])
    return shown + (f" and {len(files) - limit} more" if len(files) > limit else "")


def local_minute(when: datetime) -> str:
    """A moment as the user reads it: local time to the minute."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def restore_title(name: str, version: FileVersion) -> str:
    """The subject of a restore commit."""
    return f"restored {name} as of {local_minute(version.time)} from {version.host}"


UNPAUSE_CHECK = 60.0  # a timed pause re-reads the wall clock at least this often (suspend)


class FolderSync:
    """The sync loop of one configured folder."""

    def __init__(self, settings: FolderSettings, repo: Repository, hub: ObserverHub,
                 lock: asyncio.Lock) -> None:
        self.settings = settings
        self.path = Path(settings.path)
        self.repo = repo
        self._hub = hub
        self._lock = lock
        self.state = FolderState.IDLE
        self.detail = ""
        self.last_sync: datetime | None = None
        self.identity: str | None = None
        self._conflicts: dict[str, Conflict] = {}  # by copy path
        self._dirty = False
        self._quiet = QuietPeriod(settings.commit_delay)
        self._commit_at: float | None = None  # when the armed commit timer fires
        self._stalled_since: float | None = None  # a commit held up by another git's lock
        self._stalled_lock: str | None = None  # that lock file
        self._stall_tried = 0.0  # the last commit attempt while stalled
        self._stall_reported = False
        self._unpushed_commit = False  # a commit made since the last push
        self._paused = False
        self._paused_until: datetime | None = None
        self._stopping = False
        self._want_commit = False
        self._want_sync = False
        self._want_poll = False
        self._sync_reasons: set[str] = set()
        self._notified: list[str] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # conflict copies whose hosts and times are still to be read from history, with the
        # host that resolved the conflict when it arrived in a pull (None: found at start)
        self._to_describe: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self._describer: asyncio.Task[None] | None = None
        self._suppress = 0
        self._echo = False
        self._remote_problem: RemoteError | None = None
        self._changed = ChangedPaths()  # since the last commit (bounded, says if complete)
        self._gitignore_reported: set[str] = set()
        self._pulled_ignore_files: set[str] = set()  # .gitignore files last changed by a pull
        self._error: str | None = None
        # The disk is full (DiskFull): nothing is done until enough is free again; the
        # episode is said once (one line, state error) until a step goes through.
        self._disk_full: DiskFull | None = None
        self._disk_full_said: str | None = None
        self._refused: str | None = None  # pulled content refused (HostileContent)
        self._check_first = False  # damaged (or a repair waited): recover() before a step
        self._damage_reported = False  # said so; a sync that goes through says it is over
        self._quick_repairs = 0  # repairs in a row without a step that went through
        self._last_reported: str | None = None
        self._backoff = Backoff(first=1.0, cap=60.0)
        self._failures = 0  # failed syncs in a row, for the back-off
        self._rescan_every: float | None = None
        self._busy_count = 0
        self._watched = 0
        self.ready = asyncio.Event()  # set once watches are in place and start-up catch-up ran
        self._loop: asyncio.AbstractEventLoop | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self.maintenance_runs = 0  # finished rounds (for tests and benchmarks)
        self.disk_checks = 0  # looks at the free space while the disk was full (the same)
        self._last_progress = 0.0
        # new large files held outside commits until the user answers (path -> bytes)
        self._large_waiting: dict[str, int] = {}
        # Large-file support, where the backend has it (git): progress, notices, LFS,
        # maintenance. None for a backend without it.
        self._big: LargeFileFeatures | None = repo if isinstance(repo, LargeFileFeatures) \
            else None
        if self._big is not None:
            self._big.progress_sink = self._progress_from_thread
        self._watcher = TreeWatcher(
            repo.root / repo.scope if repo.scope else repo.root, repo.root,
            on_change=self._on_change, on_rescan=self._on_rescan,
            on_nested=repo.note_nested_repository, on_limit=self._on_watch_limit)

    # ================================================================== public interface
    @property
    def conflicts(self) -> list[Conflict]:
        """Open conflicts: conflict copies that are still in the folder."""
        return list(self._conflicts.values())

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def paused_until(self) -> datetime | None:
        """When a timed pause ends (aware); None while syncing or paused until resumed."""
        return self._paused_until

    @property
    def error(self) -> str | None:
        """What needs the user now (None when nothing does)."""
        if self._disk_full is not None:
            return self._disk_full_said or str(self._disk_full)
        if self._error is not None or self._refused is not None:
            return self._error or self._refused
        return str(self._remote_problem) if self._remote_problem is not None else None

    @property
    def remote_display(self) -> str:
        """The remote's URL without credentials, fit to show."""
        return self.repo.remote_display

    def relative_name(self, path: str) -> str:
        """A repository-relative path as the user names it: relative to the folder."""
        scope = self.repo.scope
        return path[len(scope) + 1:] if scope and path.startswith(scope + "/") else path

    @property
    def work_queued(self) -> bool:
        """Whether a commit or sync is requested and not yet started (for observers that
        must know the folder is truly quiet, e.g. tests of the flood guard)."""
        return self._want_commit or self._want_sync or self._wake.is_set()

    async def start(self) -> None:
        """Recover from a crash, start watching, then catch up (commit, fetch, push).
        Raises RepositoryError when the folder cannot be synced at all."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        async with self._lock:
            try:
                for line in await asyncio.to_thread(self.repo.recover):
                    self._emit(ActivityKind.INFO, line)
            except RepositoryDamaged as exc:  # the folder starts, in error, and looks again
                self._check_first = True
                self._damage_reported = True
                self._error = str(exc)
                self._last_reported = str(exc)
                self._emit(ActivityKind.ERROR, str(exc))
            except RepositoryBusy as exc:  # (a repair needs a lock another git holds)
                self._check_first = True
                log.info("%s: %s; looking again shortly", self.path, exc)
            except DiskFull as exc:  # (a repair found no room: objects fetched again)
                self._check_first = True
                self._on_disk_full(exc)
        # The walk runs in a worker thread before anything reads events (the kernel queues
        # them meanwhile); from attach on, only this loop touches the watches.
        report = await asyncio.to_thread(self._watcher.add_watches)
        self._watcher.attach(loop)
        self._watched = report.watched
        # Files some program is writing as we start (a download, a copy): no event has
        # said so, /proc does; they wait like any file still being written.
        root = self.repo.root / self.repo.scope if self.repo.scope else self.repo.root
        for path in await asyncio.to_thread(open_for_writing_under, str(root)):
            self._quiet.change(os.path.relpath(path, self.repo.root), Change.WRITTEN,
                               loop.time())
        self.identity = await asyncio.to_thread(self.repo.identity)
        try:
            copies = await asyncio.to_thread(self._scan_conflict_copies)
        except RepositoryError as exc:  # a damaged index: listed again once repaired
            log.warning("%s: conflict copies not listed: %s", self.path, exc)
            copies = []
        for conflict in copies:
            self._conflicts[conflict.copy_path or conflict.path] = conflict
            self._to_describe.put_nowait((conflict.copy_path or conflict.path, None))
        self._want_commit = True
        self._request_sync("startup")
        self._arm("poll", self.settings.poll_interval, self._due_poll)
        self._task = loop.create_task(self._run(), name=f"autosync {self.path}")
        self._describer = loop.create_task(self._describe_conflicts(),
                                           name=f"autosync conflicts {self.path}")

    async def stop(self, *, flush: bool = True) -> None:
        """Stop syncing; with flush, commit what is pending and try one push."""
        self._stopping = True
        for name in list(self._timers):
            self._cancel(name)
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
            except TimeoutError:
                self._task.cancel()
        if self._describer is not None:
            self._describer.cancel()
        self._watcher.stop()
        if self._maintenance is not None and not self._maintenance.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._maintenance), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("%s: maintenance still running at exit", self.path)
        if flush and self._error is None and self._disk_full is None:
            try:
                await asyncio.wait_for(self._flush(), FLUSH_TIMEOUT)
            except (TimeoutError, RemoteError, RepositoryError) as exc:
                log.warning("%s: final sync incomplete: %s", self.path, exc)
        self.repo.release()

    def sync_now(self) -> None:
        """Commit what is pending and sync with the remote right away."""
        self._cancel("commit")
        self._want_commit = True
        self._error = None
        self._request_sync("user")

    def request_sync(self) -> None:
        """Fetch and integrate soon (e.g. after the notification channel reconnects)."""
        self._request_sync("catch-up")

    def remote_changed(self, commit: str | None, host: str | None) -> bool:
        """A peer pushed `commit`; fetch unless we have it (checked off the loop)."""
        if commit:
            self._notified.append(commit)
            del self._notified[:-KEEP_NOTIFIED]
        self._request_sync("notify")
        return True

    async def reconfigure(self, settings: FolderSettings) -> None:
        """New settings for this folder, in force at once: delays and the poll interval
        from their next use (a poll due later than the new interval comes sooner), ignore
        patterns from the next commit, XMPP notices from the next one."""
        old, self.settings = self.settings, settings
        if settings.ignore != old.ignore:
            async with self._lock:
                await asyncio.to_thread(self.repo.set_ignore, settings.ignore)
        if settings.poll_interval != old.poll_interval:
            self._arm("poll", settings.poll_interval, self._due_poll)
        self._emit(ActivityKind.INFO, "settings changed")

    def pause(self, until: datetime | None = None) -> None:
        """Stop committing and syncing, until `until` (aware) or until resumed. Changes
        made meanwhile are committed and synced on resume."""
        self._paused = True
        self._paused_until = until
        for name in ("commit", "push", "retry", "unpause"):
            self._cancel(name)
        if until is not None:
            self._check_unpause()
        self._emit(ActivityKind.INFO, f"paused until {local_minute(until)}" if until
                   else "paused until resumed")
        self._settle()

    def _check_unpause(self) -> None:
        if self._paused_until is None:
            return
        left = (self._paused_until - datetime.now(UTC)).total_seconds()
        if left <= 0:
            self.resume()
        else:
            self._arm("unpause", min(left, UNPAUSE_CHECK), self._check_unpause)

    def resume(self) -> None:
        if not self._paused:
            return
        self._paused = False
        self._paused_until = None
        self._cancel("unpause")
        self._want_commit = True
        self._request_sync("resume")
        self._emit(ActivityKind.INFO, "resumed")
        self._settle()

    async def history(self, skip: int = 0, limit: int = 100,
                      path_filter: str | None = None) -> list[CommitInfo]:
        return await asyncio.to_thread(self.repo.history, skip, limit, path_filter)

    async def file_at(self, commit: str, path: str) -> bytes:
        return await asyncio.to_thread(self.repo.file_at, commit, path)

    async def diff(self, commit: str, path: str | None = None) -> str:
        return await asyncio.to_thread(self.repo.diff, commit, path)

    async def versions(self, path: str) -> list[FileVersion]:
        """Every version of `path` (repository-relative), newest first, renames followed."""
        return await asyncio.to_thread(self.repo.file_history.versions, path)

    async def deleted_files(self, since: datetime, under: str = "") -> list[DeletedFile]:
        return await asyncio.to_thread(self.repo.file_history.deleted_files, since, under)

    async def pending_changes(self) -> int:
        return await asyncio.to_thread(self.repo.file_history.pending_changes)

    async def unpushed_commits(self) -> int:
        return await asyncio.to_thread(self.repo.file_history.unpushed_commits)

    async def ignored_files(self, limit: int = 1000) -> list[str]:
        """Files in the folder that are not synced because an ignore rule matches them."""
        return await asyncio.to_thread(self.repo.file_history.ignored_files, limit)

    async def disk_usage(self) -> DiskUsage:
        """Sizes of the repository (history) and of the folder's files (a walk of both,
        off the loop)."""
        top = self.repo.root / self.repo.scope if self.repo.scope else self.repo.root
        return await asyncio.to_thread(measure_disk_usage, top, self.repo.data_dir)

    async def restore_version(self, path: str, version: FileVersion) -> CommitResult | None:
        """Put `version` back at `path` (repository-relative; a deleted file too, and a
        version from before a rename) and commit it on its own as "restored NAME as of
        DATE from HOST"; the content it replaces stays in history. Never writes through a
        link. None when the file already was that version."""
        if version.size is None:
            raise RepositoryError(f"the version of {commit_short(version.commit)} is the "
                                  f"deletion of {display(version.path)}; pick an older one")
        title = restore_title(self.relative_name(path), version)
        async with self._lock:
            await asyncio.to_thread(self.repo.restore_file, version.commit, version.path, path)
            result = await asyncio.to_thread(self.repo.file_history.commit_restore, path,
                                             title)
        if result is not None:
            self._emit(ActivityKind.COMMITTED, title, files=(path,), host=self.repo.hostname,
                       commit=result.commit)
            self._arm("push", self.settings.push_delay, lambda: self._request_sync("push"))
        return result

    async def restore(self, commit: str, path: str) -> None:
        """The history viewer's restore: the file as it was in `commit`. When `commit`
        made a version of it, that version is committed on its own as "restored NAME as
        of DATE from HOST"; otherwise the watcher commits it. The current version stays
        in history. Never writes through a link."""
        version = next((v for v in await self.versions(path)
                        if v.commit == commit and v.size is not None), None)
        if version is not None:
            await self.restore_version(path, version)
            return
        await asyncio.to_thread(self.repo.restore_file, commit, path)
        self._emit(ActivityKind.INFO, f"restored {display(path)} from {commit[:10]}",
                   files=(path,))

    async def resolve_conflict(self, conflict: Conflict,
                               keep: Literal["original", "copy", "both"]) -> None:
        """Settle a conflict: keep the version at the original path, keep the copy's
        version (it replaces the original), or keep both files under plain names."""
        if conflict.copy_path is None:
            return
        copy = conflict.copy_path
        tree = self.repo.work_tree

        def apply() -> None:
            try:
                if keep == "original":
                    tree.remove(copy)
                elif keep == "copy":
                    tree.rename(copy, conflict.path, replace=True)
                else:
                    renamed = rules.kept_both_name(copy)
                    if renamed is not None and not tree.rename(copy, renamed, replace=False):
                        raise RepositoryError(f"{display(renamed)} exists already; rename "
                                              "the conflict copy by hand")
            except UnsafePath as exc:
                raise RepositoryError(f"refusing to change {exc}") from None

        await asyncio.to_thread(apply)
        self._conflicts.pop(conflict.copy_path, None)
        self._emit(ActivityKind.INFO, f"conflict on {conflict.path} resolved ({keep})",
                   files=(conflict.path,))
        self.sync_now()

    # ================================================================== events in
    def _progress_from_thread(self, what: str, direction: TransferDirection, done: int,
                              total: int | None, rate: float | None, finished: bool) -> None:
        """Called by the repository on the worker thread of a transfer: a few events a
        second reach the observers, on the loop's thread."""
        now = time.monotonic()
        if not finished and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        event = TransferProgress(folder=self.path, direction=direction, what=what,
                                 done_bytes=done, total_bytes=total, rate=rate,
                                 finished=finished)
        loop.call_soon_threadsafe(self._hub.transfer_progress, event)

    def _on_change(self, rel: str, kind: Change) -> None:
        self._changed.add(rel)
        if self._suppress:
            self._echo = True  # maybe our own merge writing files: checked afterwards
            return
        self._mark_changed(rel, kind)

    def _on_rescan(self, reason: str) -> None:
        log.info("%s: %s", self.path, reason)
        self._on_change("", Change.UNKNOWN)

    def _on_watch_limit(self, needed: int, limit: int) -> None:
        suggested = max(524288, needed * 2)
        self._rescan_every = max(5.0, self.settings.commit_delay * 5)
        self._emit(ActivityKind.ERROR,
                   f"inotify watch limit reached: this folder needs about {needed} watches, "
                   f"fs.inotify.max_user_watches is {limit}; raise it with `sudo sysctl "
                   f"fs.inotify.max_user_watches={suggested}`. Rescanning every "
                   f"{self._rescan_every:g} s meanwhile")
        self._arm("rescan", self._rescan_every, self._due_rescan)

    def _mark_changed(self, rel: str = "", kind: Change = Change.UNKNOWN) -> None:
        now = asyncio.get_running_loop().time()
        self._dirty = True
        self._quiet.change(rel, kind, now)
        if self._paused or self._stopping:
            return
        if self.state == FolderState.IDLE:
            self._set_state(FolderState.PENDING)
        self._schedule_commit(now)

    def _still_pending(self) -> None:
        """Found dirty after a pull, with no new event of its own: pending, without
        starting the quiet period again (pulls arriving every second would otherwise hold
        a waiting save back indefinitely; torture seed 20261125 lost a version so)."""
        now = asyncio.get_running_loop().time()
        self._dirty = True
        self._quiet.held_back(now)
        if not (self._paused or self._stopping):
            self._schedule_commit(now)

    def _schedule_commit(self, now: float) -> None:
        """Arm the commit timer for when the quiet period ends, unless it is armed for
        that time or earlier already (it re-checks when it fires)."""
        due = self._quiet.due(now)
        if due is None:
            return
        if "commit" in self._timers and self._commit_at is not None \
                and self._commit_at <= due:
            return
        self._commit_at = due
        self._arm("commit", due - now, self._due_commit)

    # ================================================================== timers
    def _arm(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel(name)
        if self._stopping:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(name, None)
            callback()

        self._timers[name] = loop.call_later(max(0.0, delay), fire)

    def _arm_earliest(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        """Like _arm, but keep a timer of that name that fires sooner."""
        handle = self._timers.get(name)
        if handle is not None and handle.when() <= asyncio.get_running_loop().time() + delay:
            return
        self._arm(name, delay, callback)

    def _cancel(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _due_commit(self) -> None:
        now = asyncio.get_running_loop().time()
        self._commit_at = None
        due = self._quiet.due(now)
        if due is None:
            return
        if due > now:
            self._schedule_commit(now)  # still changing: wait for the rest of the quiet
            return
        if self._stalled_lock is not None and now - self._stall_tried < LOCK_RETRY \
                and os.path.lexists(self._stalled_lock):
            self._commit_at = now + LOCK_POLL  # another git still holds the lock
            self._arm("commit", LOCK_POLL, self._due_commit)
            self._report_stall(now)
            return
        self._want_commit = True
        self._wake.set()

    def _due_poll(self) -> None:
        self._want_poll = True
        self._wake.set()
        self._arm("poll", self.settings.poll_interval, self._due_poll)

    def _due_rescan(self) -> None:
        self._on_change("", Change.UNKNOWN)
        if self._rescan_every is not None:
            self._arm("rescan", self._rescan_every, self._due_rescan)

    def _due_maintenance(self) -> None:
        """Tidy the object store in a worker thread, beside (not instead of) syncing."""
        if self._maintenance is not None and not self._maintenance.done():
            self._arm("maintenance", MAINTENANCE_DELAY, self._due_maintenance)
            return
        self._maintenance = asyncio.get_running_loop().create_task(
            self._run_maintenance(), name=f"autosync maintenance {self.path}")

    async def _run_maintenance(self) -> None:
        try:
            if self._big is None:
                return
            done = await asyncio.to_thread(self._big.maintain)
        except Exception:
            log.exception("%s: maintenance failed", self.path)
            return
        finally:
            self.maintenance_runs += 1
        level = logging.DEBUG if done.startswith(("nothing to do", "skipped repacking")) \
            else logging.INFO
        log.log(level, "%s: maintenance: %s", self.path, done)

    def _request_sync(self, reason: str) -> None:
        self._sync_reasons.add(reason)
        self._want_sync = True
        self._wake.set()

    # ================================================================== the loop
    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            if self._paused:
                continue
            try:
                await self._step()
            except RepositoryBusy as exc:
                self._busy(str(exc))
            except HostileContent as exc:
                self._refused = str(exc)  # stays until a sync succeeds (a fix arrived)
                self._fail(str(exc))
            except DiskFull as exc:
                self._on_disk_full(exc)
            except RepositoryDamaged as exc:
                await self._damaged(exc)
            except RepositoryError as exc:
                self._fail(str(exc))
            except OSError as exc:
                if is_disk_full_error(exc):  # one of our own writes
                    self._on_disk_full(await asyncio.to_thread(
                        DiskFull.measure, self.repo.root, self.repo.data_dir, failed=True))
                else:
                    log.exception("%s: unexpected failure", self.path)
                    self._fail(f"unexpected failure: {exc}")
            except Exception as exc:
                log.exception("%s: unexpected failure", self.path)
                self._fail(f"unexpected failure: {exc}")
            if self._disk_full is None and self._disk_full_said is not None:
                self._disk_full_said = None
                self._emit(ActivityKind.INFO, "disk space available again: syncing resumed")
            self._settle()
            if not self.ready.is_set():
                self.ready.set()
                self._emit(ActivityKind.INFO, f"ready: watching {_plural(self._watched, 'folder')}, "
                           "start-up catch-up done")

    async def _step(self) -> None:
        if self._disk_full is not None and not await self._space_back():
            return  # (what was asked for stays asked for)
        if self._check_first:
            await self._check_repository()
        if self._want_commit:
            self._want_commit = False
            await self._commit()
        if self._want_poll:
            self._want_poll = False
            await self._poll()
        if self._want_sync:
            self._want_sync = False
            reasons, self._sync_reasons = self._sync_reasons, set()
            await self._sync(reasons)

    async def _check_repository(self) -> None:
        """While the repository is damaged, each step looks again first (the user may have
        repaired it); RepositoryDamaged while it still is."""
        async with self._lock:
            lines = await asyncio.to_thread(self.repo.recover)
        self._check_first = False
        for line in lines:
            self._emit(ActivityKind.INFO, line)

    async def _damaged(self, exc: RepositoryDamaged) -> None:
        """The repository is damaged: nothing is committed, pushed or pulled. What is
        safe is repaired at once (then the step runs again); otherwise the folder is in
        error, saying what is damaged and how to repair it, and looks again with
        back-off (or at Sync now)."""
        lines: list[str] = []
        if isinstance(self.repo, SelfRepair) and self._quick_repairs < MAX_QUICK_REPAIRS:
            try:
                async with self._lock:
                    lines = await asyncio.to_thread(self.repo.repair_damage, exc)
            except RepositoryDamaged as still:
                exc = still
            except RepositoryBusy as busy:
                self._busy(str(busy))
                return
            except DiskFull as full:  # (fetching the objects again needs room)
                self._on_disk_full(full)
                return
            except Exception as other:  # a repair that failed otherwise: the damage stands
                log.warning("%s: repairing the repository failed: %s", self.path, other)
        for line in lines:
            self._emit(ActivityKind.INFO, line)
        if lines:
            self._quick_repairs += 1
            self._check_first = False
            self._error = None
            self._retry_all()  # at once: the commit or sync it stopped
            return
        self._check_first = True
        self._damage_reported = True
        self._fail(str(exc))

    def _fail(self, message: str) -> None:
        self._error = message
        if message != self._last_reported:
            self._last_reported = message
            self._emit(ActivityKind.ERROR, message)
        # Try again later with back-off; the user can also press "Sync now".
        delay = min(self.settings.poll_interval, self._next_backoff())
        self._arm("retry", delay, self._retry_all)

    def _on_disk_full(self, exc: DiskFull) -> None:
        """The disk filled up: stop committing, fetching and pulling (what was asked for
        stays asked for), say so once, and look every DISK_RECHECK seconds (and at each
        change in the folder) whether enough was freed."""
        self._disk_full = exc
        if self._disk_full_said is None:
            self._disk_full_said = str(exc)
            self._emit(ActivityKind.ERROR, str(exc))
        self._cancel("retry")
        self._arm("diskcheck", DISK_RECHECK, self._wake.set)

    async def _space_back(self) -> bool:
        """Whether enough space was freed to go on; if so, commit and sync at once."""
        full = self._disk_full
        if full is None:
            return True
        free = await asyncio.to_thread(self._free_bytes)
        self.disk_checks += 1
        if free < full.resume_at:
            self._arm("diskcheck", DISK_RECHECK, self._wake.set)
            return False
        self._disk_full = None
        self._cancel("diskcheck")
        log.info("%s: %d MB free again", self.path, free // MB)
        self._want_commit = True
        self._sync_reasons.add("disk space")
        self._want_sync = True
        return True

    def _free_bytes(self) -> int:
        """The free bytes of the fuller of the folder's and the repository's disks."""
        free: list[int] = []
        for path in (self.repo.root, self.repo.data_dir):
            with contextlib.suppress(OSError):
                free.append(room_at(path)[0])
        return min(free, default=0)

    def _commit_room(self, changed: set[str]) -> None:
        """DiskFull unless a commit of `changed` (their bytes, as loose objects at worst,
        and a new index) fits above the reserve."""
        need = 0
        for rel in changed if "" not in changed else ():
            with contextlib.suppress(OSError, ValueError):
                info = os.lstat(self.repo.root / rel)
                if info.st_mode & 0o170000 == 0o100000:
                    need += info.st_size
        with contextlib.suppress(OSError):
            need += os.stat(self.repo.data_dir / "index").st_size
        ensure_room(self.repo.root, self.repo.data_dir, need=need)

    def _next_backoff(self) -> float:
        self._failures += 1
        return self._backoff.delay(self._failures - 1)

    def _busy(self, message: str) -> None:
        """Someone else's git holds the lock: quietly try again soon."""
        self._busy_count += 1
        if self._busy_count == BUSY_REPORT_AFTER:
            self._emit(ActivityKind.ERROR, f"{message}; still waiting")
        self._arm("retry", min(5.0, 0.2 * self._busy_count), self._retry_all)

    def _retry_all(self) -> None:
        self._want_commit = True
        self._request_sync("retry")

    async def _commit(self) -> None:
        """Commit what is pending, except files a process is still writing (they stay
        pending). A commit that fails stays pending too: nothing is ever forgotten."""
        if not self.path.is_dir():
            raise RepositoryError(f"{self.path} is missing (moved, deleted or unmounted); "
                                  "nothing is committed until it is back")
        self._watcher.drain()  # what the kernel already knows counts for this commit
        self._cancel("commit")  # (after the drain: its timer is for what is taken now)
        self._commit_at = None
        now = asyncio.get_running_loop().time()
        candidates = self._quiet.take(now)
        self._dirty = False
        changed, complete = self._changed.take()
        hint = changed if complete else None
        hidden: list[tuple[str, str, str]] = []
        try:
            await asyncio.to_thread(self._commit_room, changed)
            async with self._lock:
                self._set_state(FolderState.COMMITTING)
                held = await asyncio.to_thread(self._still_writing, candidates)
                if self._big is not None:
                    self._big.change_hint = hint
                result = await asyncio.to_thread(self.repo.commit_pending, held)
                if changed:
                    hidden = await asyncio.to_thread(self.repo.ignored_by_synced_rules, changed)
        except RepositoryBusy as exc:
            self._changed.put_back(changed, complete)
            self._commit_stalled(exc, now)
            return
        except BaseException:
            self._changed.put_back(changed, complete)
            self._dirty = True
            self._quiet.held_back(now)
            raise
        self._commit_went_through()
        self._error = None
        self._busy_count = 0
        self._report_gitignored(hidden)
        self._report_large_files()
        if held:
            log.info("%s: not committing %s yet: still being written",
                     self.path, _short_list(sorted(held)))
            self._dirty = True
            self._quiet.held_back(now)
            self._schedule_commit(now)
        if result is None:
            return
        self._unpushed_commit = True
        if self.settings.push_delay > 0:
            self._arm("push", self.settings.push_delay, lambda: self._request_sync("push"))
        else:
            self._request_sync("push")
        self._report_commit(result)
        if self.identity is None:
            self.identity = await asyncio.to_thread(self.repo.identity)

    def _still_writing(self, candidates: set[str]) -> set[str]:
        """Of the files written lately and not closed since, those some process still has
        open for writing (one pass over /proc)."""
        if not candidates:
            return set()
        by_path = {str(self.repo.root / rel): rel for rel in candidates}
        return {by_path[p] for p in open_files(set(by_path), writing_only=True)}

    def _commit_stalled(self, exc: RepositoryBusy, now: float) -> None:
        """Another git holds a lock the commit needs (the user's `git status`, a stale
        lock): the changes stay pending and are committed as soon as the lock is gone;
        after LOCK_REPORT_AFTER seconds the folder says why (state and one log line)."""
        self._dirty = True
        self._quiet.held_back(now)
        self._stall_tried = now
        self._stalled_lock = exc.lock or str(self.repo.data_dir / "index.lock")
        if self._stalled_since is None:
            self._stalled_since = now
        self._commit_at = now + LOCK_POLL
        self._arm("commit", LOCK_POLL, self._due_commit)
        self._report_stall(now)

    def _report_stall(self, now: float) -> None:
        if self._stall_reported or self._stalled_since is None \
                or now - self._stalled_since < LOCK_REPORT_AFTER:
            return
        self._stall_reported = True
        self._emit(ActivityKind.INFO, f"not committing yet: {self._stall_reason()} for "
                   f"{now - self._stalled_since:.0f} s; committing as soon as it is gone")
        if self.state not in (FolderState.COMMITTING, FolderState.PULLING, FolderState.PUSHING):
            self._settle()  # (a step in progress settles the state when it ends)

    def _stall_reason(self) -> str:
        lock = self._stalled_lock
        if lock is None:
            return "another git process is using the repository"
        with contextlib.suppress(ValueError):
            lock = str(Path(lock).relative_to(self.repo.root))
        return f"another git process holds {lock}"

    def _commit_went_through(self) -> None:
        self._stalled_since = None
        self._stalled_lock = None
        self._stall_reported = False

    def _report_commit(self, result: CommitResult) -> None:
        for change in result.files:
            self._pulled_ignore_files.discard(change.rsplit(" ", 1)[-1])  # edited here now
        n = len(result.files)
        self._emit(ActivityKind.COMMITTED,
                   f"committed {_plural(n, 'file')}: {_short_list(result.files)}",
                   files=tuple(f.split(" ", 1)[1] for f in result.files),
                   host=self.repo.hostname, commit=result.commit)
        self._note_new_copies([f.rsplit(" ", 1)[-1] for f in result.files])

    def _report_large_files(self) -> None:
        big = self._big
        if big is None:
            return
        notes, big.lfs_notes = big.lfs_notes, []
        for note in notes:
            self._emit(ActivityKind.INFO, note)
        notices, big.large_notices = big.large_notices, []
        for path, size in notices:
            held = " (waiting: don't sync it, or sync it anyway)" \
                if big.hold_large_files else ""
            if big.hold_large_files:
                self._large_waiting[path] = size
            self._emit(ActivityKind.LARGE_FILE,
                       f"{display(path)} ({human_size(size)}) will be kept in history; every "
                       f"saved version adds about {human_size(size)} on the server and on "
                       f"each machine{held}", files=(path,), size=size)

    async def dont_sync(self, path: str) -> str:
        """Keep `path` (relative to the repository root) out of sync: it joins the
        folder's `ignore` (settings.ignore, for the configuration file). Returns the
        pattern added."""
        if self._big is None:
            raise RepositoryError(f"{self.path}: this kind of repository has no large-file "
                                  "support; add the file to the folder's ignore")
        pattern = await asyncio.to_thread(self._big.ignore_path, path)
        self._large_waiting.pop(path, None)
        if pattern not in self.settings.ignore:
            self.settings = replace(self.settings, ignore=(*self.settings.ignore, pattern))
        self._emit(ActivityKind.INFO, f"{display(path)} is not synced (ignore {pattern})",
                   files=(path,))
        return pattern

    async def storage(self, top: int = 10) -> StorageReport:
        """The repository's size here and its largest files in history."""
        if self._big is None:
            raise RepositoryError(f"{self.path}: no storage report for this kind of "
                                  "repository")
        return await asyncio.to_thread(self._big.storage, top)

    def sync_anyway(self, path: str) -> None:
        """Commit a held large file after all (it enters history)."""
        if self._big is not None:
            self._big.allow_large_file(path)
        self._large_waiting.pop(path, None)
        self.sync_now()

    @property
    def large_files_waiting(self) -> dict[str, int]:
        """New large files held outside commits until the user answers their notice
        (repository-relative path -> bytes); a file deleted meanwhile is not listed."""
        root = self.repo.root
        return {path: size for path, size in self._large_waiting.items()
                if os.path.lexists(root / path)}

    def _report_gitignored(self, hidden: list[tuple[str, str, str]]) -> None:
        """New files that a .gitignore written on another machine keeps out of sync: said
        once per rule (the user's own ignore rules are what they want, never reported)."""
        by_rule: dict[tuple[str, str], list[str]] = {}
        for path, source, pattern in hidden:
            by_rule.setdefault((source, pattern), []).append(path)
        for (source, pattern), paths in by_rule.items():
            key = f"{source}\0{pattern}"
            if source not in self._pulled_ignore_files or key in self._gitignore_reported:
                continue
            self._gitignore_reported.add(key)
            self._emit(ActivityKind.ERROR,
                       f"{_plural(len(paths), 'new file')} {'are' if len(paths) != 1 else 'is'}"
                       f" ignored by {display(source)} in {self.path} (pattern "
                       f"'{display(pattern)}'): {_short_list(paths)} not synced; change "
                       f"{display(source)} to sync them", files=tuple(paths))

    async def _poll(self) -> None:
        try:
            moved = await asyncio.to_thread(self.repo.remote_moved)
        except RemoteError as exc:
            self._remote_failed(exc)
            return
        # The remote answered: whatever failed before (a key, a host key, a password now
        # fixed; the network back) is worth a sync now, not after the back-off.
        recovered = self._remote_problem is not None or self._failures > 0
        if recovered:
            self._failures = 0
            self._cancel("retry")
        if moved or recovered or await asyncio.to_thread(self.repo.ahead):
            self._request_sync("poll")

    async def _sync(self, reasons: set[str]) -> None:
        push_first = reasons <= {"push"}
        if reasons == {"notify"} and not self._dirty and self._remote_problem is None:
            notified = list(self._notified)
            self._notified.clear()
            if notified and all(await asyncio.to_thread(
                    lambda: [self.repo.has_commit(c) for c in notified])):
                return  # we already have what the peer pushed
        self._cancel("push")
        if self._dirty and not push_first:
            await self._commit()  # local work is committed before a merge
        # (A push right after our own commit leaves pending changes to their quiet period:
        # committing them here would make one commit per push while someone types.)
        try:
            await self._fetch_integrate_push(push_first=push_first)
        except RemoteError as exc:
            self._remote_failed(exc)
            return
        self._remote_problem = None
        self._error = None
        self._refused = None
        self._last_reported = None
        self._failures = 0
        self._quick_repairs = 0
        if self._damage_reported:
            self._damage_reported = False
            self._emit(ActivityKind.INFO, "the repository is sound again; synced")
        self._cancel("retry")
        self.last_sync = datetime.now(UTC)
        if self._big is not None:
            self._arm("maintenance", MAINTENANCE_DELAY, self._due_maintenance)
        else:
            await asyncio.to_thread(self.repo.tidy)  # after the sync: no save waits for it

    async def _fetch_integrate_push(self, *, push_first: bool = False) -> None:
        """Fetch, integrate, push; a rejected push goes round again. Right after our own
        commit the push is tried first: when nobody else pushed meanwhile (the usual case)
        that saves the fetch and the merge checks, and when somebody did, the remote
        rejects it and we go round. The repository's lock is held for each round, not
        across them: a commit that fell due meanwhile goes in between."""
        if push_first:
            async with self._lock:
                if await self._push():
                    return
        for _round in range(MAX_PUSH_ROUNDS):
            if self._want_commit:
                # A save's quiet period ended while the remote kept us busy (a slow
                # merge, a busy remote): commit it now, not after every round.
                self._want_commit = False
                await self._commit()
            async with self._lock:
                self._set_state(FolderState.PULLING)
                await asyncio.to_thread(ensure_room, self.repo.data_dir)  # (size unknown)
                await asyncio.to_thread(self.repo.fetch)
                await self._integrate()
                if await self._push():
                    return
            log.info("%s: push rejected (the remote moved on); fetching again", self.path)
        raise RepositoryError(f"{self.path}: push rejected {MAX_PUSH_ROUNDS} times in a row "
                              "(busy remote); will retry")

    async def _push(self) -> bool:
        """Push what the remote lacks; True when the remote has all our commits."""
        if not self._unpushed_commit and not await asyncio.to_thread(self.repo.ahead):
            return True  # (right after our own commit, it is ahead: no need to ask)
        self._set_state(FolderState.PUSHING)
        if not await asyncio.to_thread(self.repo.push):
            return False
        self._unpushed_commit = False
        head = await asyncio.to_thread(self.repo.head)
        if self.identity is None:
            self.identity = await asyncio.to_thread(self.repo.identity)
        self._emit(ActivityKind.PUSHED, f"pushed to {self.repo.remote}", commit=head,
                   host=self.repo.hostname)
        return True

    async def _integrate(self) -> None:
        self._suppress += 1
        self._watcher.echo_only = True
        try:
            result = await asyncio.to_thread(self.repo.integrate)
        finally:
            self._watcher.drain()
            self._watcher.echo_only = False
            self._suppress -= 1
        echo, self._echo = self._echo, False
        if echo:
            self._changed.forget(result.files)  # what the pull itself wrote
        self._report_large_files()
        if result.changed:
            await self._report_pulled(result)
        # (after the report: the files are there when it is made; this look is for the
        # next commit, and a 20,000-file tree's status took 0.25 s)
        if echo and (bool(self._changed) or await asyncio.to_thread(self.repo.is_dirty)):
            self._still_pending()  # saved before or while we merged

    async def _report_pulled(self, result: IntegrateResult) -> None:
        """What a pull that moved HEAD brought: the activity lines and conflicts."""
        host = result.host or "unknown"
        if self.identity is None:
            self.identity = await asyncio.to_thread(self.repo.identity)
        self._emit(ActivityKind.PULLED,
                   f"pulled {_plural(len(result.files), 'file')} from {host}: "
                   f"{_short_list(result.files)}",
                   files=result.files, host=host)
        for path in result.files:
            if path.rsplit("/", 1)[-1] == self.repo.ignore_file_name:
                self._pulled_ignore_files.add(path)
        for path, kept in result.kept_local:
            self._emit(ActivityKind.CONFLICT,
                       f"your ignored file {display(path)} is now {display(kept)}: a file "
                       f"with the same name arrived from {host}; yours stays local and is "
                       "never synced", files=(kept,), host=host)
        for path in result.saved_beside:
            self._emit(ActivityKind.INFO, f"a save made during the pull is kept as "
                       f"{display(path)}", files=(path,))
        for conflict in result.conflicts:
            if conflict.copy_path:
                self._conflicts[conflict.copy_path] = conflict
                summary = (f"conflict on {conflict.path}: kept {conflict.kept_host}'s version, "
                           f"{conflict.copy_host}'s is in {conflict.copy_path} (dated by "
                           f"{conflict.copy_host}'s clock)")
            else:
                summary = (f"conflict on {conflict.path}: {conflict.kind}; kept the edited "
                           "file")
            self._emit(ActivityKind.CONFLICT, summary, files=(conflict.path,),
                       host=conflict.copy_host, conflict=conflict)
        received = [p for p in result.files if p not in self._conflicts]
        self._note_new_copies(list(result.files))
        for path in received:
            if path in self._conflicts:  # a copy another machine made: described apart,
                self._to_describe.put_nowait((path, host))  # off the sync path
        if len(result.files) >= MANY_FILES:
            give_back_free_memory()  # (what the pull built and dropped: tens of MB)


    def _remote_failed(self, exc: RemoteError) -> None:
        self._remote_problem = exc
        message = str(exc)
        if message != self._last_reported:
            self._last_reported = message
            self._emit(ActivityKind.ERROR, message)
        if exc.offline:
            delay = self._next_backoff()
        else:
            delay = max(self.settings.poll_interval, 60.0)
        # A later failure (e.g. the next poll) never pushes a pending retry further out.
        self._arm_earliest("retry", delay, lambda: self._request_sync("retry"))

    async def _flush(self) -> None:
        if not self.path.is_dir():
            return
        now = asyncio.get_running_loop().time()
        async with self._lock:
            held = await asyncio.to_thread(self._still_writing, self._quiet.take(now))
            result = await asyncio.to_thread(self.repo.commit_pending, held)
            if held:
                log.warning("%s: not committed at exit, still being written: %s",
                            self.path, _short_list(sorted(held)))
            if result is not None:
                self._report_commit(result)
        if not self._paused:
            await self._fetch_integrate_push()  # takes the lock for each round

    # ================================================================== state
    def _settle(self) -> None:
        if self._stopping:
            return
        if self._paused:
            until = self._paused_until
            self._set_state(FolderState.PAUSED, f"until {local_minute(until)}" if until else "")
        elif self._disk_full is not None:
            self._set_state(FolderState.ERROR, self._disk_full_said or str(self._disk_full))
        elif self._error is not None or self._refused is not None:
            self._set_state(FolderState.ERROR, self._error or self._refused or "")
        elif self._remote_problem is not None:
            state = FolderState.OFFLINE if self._remote_problem.offline else FolderState.ERROR
            self._set_state(state, str(self._remote_problem))
        elif self._conflicts:
            self._set_state(FolderState.CONFLICT, _plural(len(self._conflicts), "conflict"))
        elif self._stall_reported:
            self._set_state(FolderState.PENDING, f"waiting: {self._stall_reason()}")
        elif self._dirty or "commit" in self._timers:
            self._set_state(FolderState.PENDING)
        else:
            self._set_state(FolderState.IDLE)

    def _set_state(self, state: FolderState, detail: str = "") -> None:
        if state != self.state or detail != self.detail:
            self.state = state
            self.detail = detail
            self._hub.state_changed(self.path, state, detail)

    def _emit(self, kind: ActivityKind, summary: str, **fields: object) -> None:
        self._hub.activity(Activity(folder=self.path, kind=kind, summary=summary,
                                    **fields))  # type: ignore[arg-type]

    # ================================================================== conflicts
    def _scan_conflict_copies(self) -> list[Conflict]:
        return [c for c in (self._conflict_from_name(p)
                            for p in self.repo.conflict_copy_candidates())
                if c is not None]

    async def _describe_conflicts(self) -> None:
        """Read whose version is where (hosts, full times) for conflict copies known only
        by name, one at a time beside the sync loop (read-only git, no repository lock).
        A copy that arrived in a pull was made by the machine that resolved the conflict:
        it is announced here too, naming whose version is where."""
        while True:
            copy, resolved_on = await self._to_describe.get()
            named = self._conflicts.get(copy)
            if named is None:
                continue  # settled meanwhile
            try:
                conflict = await asyncio.to_thread(self.repo.file_history.describe_conflict,
                                                   named.path, copy, named)
            except Exception as exc:  # a description is a nicety: never stop for it
                log.warning("%s: cannot read the history of the conflict copy %s: %s",
                            self.path, display(copy), exc)
                conflict = named
            if copy not in self._conflicts:
                continue
            self._conflicts[copy] = conflict
            if resolved_on is not None:
                self._emit(ActivityKind.CONFLICT,
                           f"conflict on {display(conflict.path)} (resolved on {resolved_on}): "
                           f"kept {conflict.kept_host or 'unknown'}'s version, "
                           f"{conflict.copy_host}'s is in {display(copy)} (dated by "
                           f"{conflict.copy_host}'s clock)",
                           files=(conflict.path,), host=conflict.copy_host, conflict=conflict)

    def _conflict_from_name(self, path: str) -> Conflict | None:
        parsed = rules.parse_copy_name(path)
        if parsed is None:
            return None
        try:
            when = datetime.strptime(parsed.stamp, "%Y-%m-%d %H.%M").replace(tzinfo=UTC)
        except ValueError:
            return None
        return Conflict(path=parsed.original, copy_path=path, kind="content", kept_host="",
                        kept_time=when, copy_host=parsed.host, copy_time=when)

    def _note_new_copies(self, paths: list[str]) -> None:
        """Conflict copies that arrive from other replicas count as open conflicts too."""
        for path in paths:
            if path in self._conflicts:
                continue
            conflict = self._conflict_from_name(path)  # a name match first: no disk access
            if conflict is not None and self.repo.work_tree.lstat(path) is not None:
                self._conflicts[path] = conflict
        self._forget_resolved_conflicts()

    def _forget_resolved_conflicts(self) -> None:
        for copy in list(self._conflicts):
            if self.repo.work_tree.lstat(copy) is None:
                del self._conflicts[copy]
