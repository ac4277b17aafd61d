"""Recursive inotify watching of one folder, read on the running asyncio loop.

The watcher only says *that* something changed (where, and whether a file was written,
closed or removed: the quiet period needs that); git decides what is committed, so a missed
or mangled event costs at most a rescan, never data.

One watch per folder; the only state per folder is its path in one dict (watch
descriptor -> path relative to the repository root). Threads: `add_watches` walks the tree
in a worker thread before anything reads events; `attach` then hands everything to the
event loop, which alone touches the watches from then on."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autosync_gui.engine import inotify
from autosync_gui.engine.ignore import is_temporary
from autosync_gui.engine.quiet_period import Change

log = logging.getLogger(__name__)

# A repository's own data (git, Mercurial): never watched; a folder holding one inside the
# tree is a nested repository.
REPOSITORY_DIRS = frozenset({".git", ".hg"})
# While our own pull writes (echo_only), past its first ECHO_SKIP_AFTER events: the
# events still read one by one. Folders need watches as they come and go; a file's event
# is the pull's echo (or a save it lands among, which the check after the pull finds):
# counted, not classified. (The folder keeps only 200 changed paths anyway.)
ECHO_SKIP_AFTER = 1000
# While our own pull writes, events are read every ECHO_READ_EVERY seconds, not as each
# arrives: woken for every few of a pull's 80,000 events, the loop's thread took the
# interpreter from the thread moving files about as often. (The kernel queues 16,384
# events by default: a pull makes about 1,500 in that time.)
ECHO_READ_EVERY = 0.05
_ECHO_KEPT = (inotify.IN_ISDIR | inotify.IN_Q_OVERFLOW | inotify.IN_IGNORED
              | inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | inotify.IN_UNMOUNT)
_REPOSITORY_NAMES = frozenset(os.fsencode(n) for n in REPOSITORY_DIRS)
MASK = (inotify.IN_CREATE | inotify.IN_DELETE | inotify.IN_MODIFY | inotify.IN_CLOSE_WRITE
        | inotify.IN_MOVED_FROM | inotify.IN_MOVED_TO | inotify.IN_ATTRIB
        | inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | inotify.IN_ONLYDIR
        | inotify.IN_DONT_FOLLOW | inotify.IN_EXCL_UNLINK)
# The system-wide setting, and the per-user-namespace one (Linux >= 5.11); the lower wins.
MAX_WATCHES_FILES = (Path("/proc/sys/fs/inotify/max_user_watches"),
                     Path("/proc/sys/user/max_inotify_watches"))


@dataclass(frozen=True)
class WatchReport:
    watched: int  # directories watched
    failed: int  # directories that could not be watched (the kernel's limit)


def watch_limit() -> int | None:
    limits = []
    for path in MAX_WATCHES_FILES:
        try:
            limits.append(int(path.read_text().strip()))
        except (OSError, ValueError):
            continue
    return min(limits) if limits else None


def _kind(mask: int) -> Change:
    """What a file event says about the file's content being written."""
    if mask & (inotify.IN_CLOSE_WRITE | inotify.IN_MOVED_TO):
        return Change.CLOSED
    if mask & (inotify.IN_DELETE | inotify.IN_MOVED_FROM):
        return Change.GONE
    if mask & (inotify.IN_MODIFY | inotify.IN_CREATE):
        return Change.WRITTEN
    return Change.OTHER


class TreeWatcher:
    """Watches `folder` (inside the work tree `root`) and reports repository-relative
    paths. `.git` folders and nested repositories are never watched."""

    def __init__(self, folder: Path, root: Path, *, on_change: Callable[[str, Change], None],
                 on_rescan: Callable[[str], None], on_nested: Callable[[str], None],
                 on_limit: Callable[[int, int], None]) -> None:
        self._root_prefix = str(root).rstrip("/") + "/"
        self._folder = str(folder)
        self._top = os.path.relpath(folder, root).replace(os.sep, "/")
        self._top = "" if self._top == "." else self._top
        self._on_change = on_change
        self._on_rescan = on_rescan
        self._on_nested = on_nested
        self._on_limit = on_limit
        self._inotify: inotify.Inotify | None = None
        self._paths: dict[int, str] = {}  # wd -> folder path relative to the root
        self._top_wd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._needed = 0  # watches a walk could not add (the kernel's limit)
        self._limit_reported = False
        # Set while our own pull writes the tree: past echo_skip_after events, file
        # events are only counted and reported as one unknown change (on_change("")),
        # which the pull's caller checks afterwards; a pull of 20,000 files otherwise
        # meant 80,000 events classified one by one beside it.
        self._echo_only = False
        self._echo_seen = 0
        self.echo_skip_after = ECHO_SKIP_AFTER
        self._echo_timer: asyncio.TimerHandle | None = None  # reading in batches

    # ------------------------------------------------------------------ lifecycle
    def add_watches(self) -> WatchReport:
        """Watch the whole folder: a blocking walk, for a worker thread, called once before
        `attach` (nothing reads events meanwhile; the kernel queues them)."""
        self._inotify = inotify.Inotify()
        watched, failed = self._watch_tree(self._top)
        self._top_wd = next((wd for wd, rel in self._paths.items() if rel == self._top), None)
        if failed:
            self._needed = watched + failed
        return WatchReport(watched=watched, failed=failed)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading events on `loop` (on the loop's thread, after `add_watches`)."""
        self._loop = loop
        if self._inotify is None:
            return
        loop.add_reader(self._inotify.fd, self._read)
        if self._needed:
            self._report_limit(self._needed)

    def drain(self) -> None:
        """Process every event the kernel has queued so far (used right after our own
        git operations, so their echo is classified before we move on)."""
        if self._loop is not None:
            self._read()

    def stop(self) -> None:
        if self._echo_timer is not None:
            self._echo_timer.cancel()
            self._echo_timer = None
        if self._inotify is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._inotify.fd)
            self._inotify.close()
            self._inotify = None
        self._paths.clear()

    @property
    def echo_only(self) -> bool:
        return self._echo_only

    @echo_only.setter
    def echo_only(self, on: bool) -> None:
        """(On the loop's thread.) Also: read events in batches while on."""
        self._echo_only = on
        self._echo_seen = 0
        if not on:
            self._read_each_event()
        elif self._echo_timer is None and self._loop is not None and \
                self._inotify is not None:
            self._loop.remove_reader(self._inotify.fd)
            self._echo_timer = self._loop.call_later(ECHO_READ_EVERY, self._read_batch)

    def _read_batch(self) -> None:
        assert self._loop is not None
        self._echo_timer = self._loop.call_later(ECHO_READ_EVERY, self._read_batch)
        self._read()

    def _read_each_event(self) -> None:
        if self._echo_timer is None:
            return
        self._echo_timer.cancel()
        self._echo_timer = None
        if self._loop is not None and self._inotify is not None:
            self._loop.add_reader(self._inotify.fd, self._read)

    @property
    def watch_count(self) -> int:
        return len(self._paths)

    # ------------------------------------------------------------------ walking
    def _join(self, rel_dir: str, name: str) -> str:
        return f"{rel_dir}/{name}" if rel_dir else name

    def _watch_tree(self, top: str) -> tuple[int, int]:
        """Watch `top` (root-relative) and every folder below it that is not a .git or a
        nested repository. Each folder is watched before it is listed, so a sub-folder
        made meanwhile is either listed or reported by its parent's watch. Returns
        (folders watched, folders the kernel's limit left unwatched)."""
        assert self._inotify is not None
        watched = failed = 0
        stack = [top]
        while stack:
            rel = stack.pop()
            absolute = self._root_prefix + rel
            try:
                wd = self._inotify.add_watch(absolute, MASK)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    continue  # vanished meanwhile, not a folder any more, no permission
                failed += 1
                wd = -1
            try:
                with os.scandir(absolute) as entries:
                    names = [e.name for e in entries if e.is_dir(follow_symlinks=False)
                             or e.name in REPOSITORY_DIRS]
            except OSError:
                names = []
            own = [n for n in names if n in REPOSITORY_DIRS]
            for name in own:
                names.remove(name)
            nested = bool(own) and rel != ""  # the root's own is the repository itself
            if nested:
                if wd >= 0:
                    self._inotify.rm_watch(wd)
                self._on_nested(rel)
                continue
            if wd >= 0:
                watched += wd not in self._paths
                self._paths[wd] = rel
            stack.extend(f"{rel}/{name}" for name in names) if rel else stack.extend(names)
        return watched, failed

    def _forget_tree(self, rel: str) -> None:
        """Stop watching `rel` and everything below it (moved out of the folder)."""
        assert self._inotify is not None
        prefix = rel + "/"
        for wd, path in list(self._paths.items()):
            if path == rel or path.startswith(prefix):
                del self._paths[wd]
                self._inotify.rm_watch(wd)

    def _move_tree(self, old: str, new: str) -> None:
        """A watched folder moved within the tree: its watches stay, their paths change."""
        prefix = old + "/"
        for wd, path in self._paths.items():
            if path == old:
                self._paths[wd] = new
            elif path.startswith(prefix):
                self._paths[wd] = new + path[len(old):]

    def _report_limit(self, needed: int) -> None:
        if not self._limit_reported:
            self._limit_reported = True
            self._on_limit(needed, watch_limit() or 0)

    # ------------------------------------------------------------------ events
    def _read(self) -> None:
        if self._inotify is None:
            return
        try:
            if self._echo_only and self._echo_seen >= self.echo_skip_after:
                skipped = self._inotify.skipped
                events = self._inotify.read(only=_ECHO_KEPT, names=_REPOSITORY_NAMES)
                if self._inotify.skipped != skipped:
                    self._on_change("", Change.UNKNOWN)
            else:
                events = self._inotify.read()
                self._echo_seen += len(events) if self._echo_only else 0
        except OSError as exc:
            self._on_rescan(f"inotify read failed ({exc}); rescanning")
            return
        moved_to = {e.cookie for e in events if e.mask & inotify.IN_MOVED_TO and e.cookie}
        moved_from: dict[int, str] = {}
        for event in events:
            try:
                self._event(event, moved_to, moved_from)
            except Exception as exc:  # never let one odd event kill the loop's reader
                log.exception("inotify event %s", event)
                self._on_rescan(f"inotify event not understood ({exc}); rescanning")
        for rel in moved_from.values():  # moved away with no partner in this read
            self._forget_tree(rel)

    def _event(self, event: inotify.Event, moved_to: set[int],
               moved_from: dict[int, str]) -> None:
        mask = event.mask
        if mask & inotify.IN_Q_OVERFLOW:
            self._on_rescan("inotify event queue overflowed; rescanning")
            return
        base = self._paths.get(event.wd)
        if base is None:
            return  # a watch already dropped (its folder moved away or deleted)
        if mask & inotify.IN_IGNORED:
            del self._paths[event.wd]
            return
        if mask & (inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | inotify.IN_UNMOUNT):
            if event.wd == self._top_wd:
                self._on_rescan(f"{self._folder} itself was moved or deleted")
            return
        name = event.name
        if not name:
            return
        rel = f"{base}/{name}" if base else name
        if name in REPOSITORY_DIRS:
            if base and mask & (inotify.IN_CREATE | inotify.IN_MOVED_TO):
                self._on_nested(base)  # `git init` or a clone finishing inside the tree
                self._on_change(rel, Change.OTHER)
            return
        is_dir = bool(mask & inotify.IN_ISDIR)
        if not is_dir and is_temporary(name) and not mask & inotify.IN_MOVED_FROM:
            return
        if not is_dir:
            self._on_change(rel, _kind(mask))
            return
        kind = Change.OTHER
        if mask & inotify.IN_MOVED_FROM:
            if event.cookie in moved_to:
                moved_from[event.cookie] = rel  # the IN_MOVED_TO that follows moves it
            else:
                self._forget_tree(rel)
        elif mask & inotify.IN_MOVED_TO and event.cookie in moved_from:
            self._move_tree(moved_from.pop(event.cookie), rel)
        elif mask & (inotify.IN_CREATE | inotify.IN_MOVED_TO):
            kind = self._watch_new_folder(rel)
        self._on_change(rel, kind)

    def _watch_new_folder(self, rel: str) -> Change:
        """A folder made in (or moved into) the tree: watch it and what is inside. Files
        in it were made before its watch, so nothing says whether they are complete."""
        before = len(self._paths)
        watched, failed = self._watch_tree(rel)
        if failed:
            self._report_limit(before + watched + failed)
        try:
            with os.scandir(self._root_prefix + rel) as entries:
                empty = next(entries, None) is None
        except OSError:
            empty = True
        return Change.OTHER if empty else Change.UNKNOWN
