"""Recursive inotify watching of one folder with pyinotify, on the running asyncio loop.

The watcher only says *that* something changed (and where, for logs); git decides what
is committed, so a missed or mangled event costs at most a rescan, never data."""

from __future__ import annotations

import array
import asyncio
import fcntl
import logging
import os
import struct
import termios
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyinotify

from autosync_gui.engine.ignore import is_temporary

log = logging.getLogger(__name__)
logging.getLogger("pyinotify").setLevel(logging.CRITICAL)  # we report failures ourselves

MASK = (pyinotify.IN_CREATE | pyinotify.IN_DELETE | pyinotify.IN_MODIFY
        | pyinotify.IN_CLOSE_WRITE | pyinotify.IN_MOVED_FROM | pyinotify.IN_MOVED_TO
        | pyinotify.IN_ATTRIB | pyinotify.IN_DELETE_SELF | pyinotify.IN_MOVE_SELF)
# The system-wide setting, and the per-user-namespace one (Linux >= 5.11); the lower wins.
_HEADER = struct.Struct("iIII")  # struct inotify_event without its name
# A repository's own data (git, Mercurial): never watched; a folder holding one inside the
# tree is a nested repository.
REPOSITORY_DIRS = frozenset({".git", ".hg"})
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


class _Notifier(pyinotify.AsyncioNotifier):
    """pyinotify's asyncio notifier, but a failure while reading never kills the loop."""

    def __init__(self, wm: pyinotify.WatchManager, loop: asyncio.AbstractEventLoop,
                 handler: pyinotify.ProcessEvent, on_error: Callable[[str], None]) -> None:
        self._on_error = on_error
        super().__init__(wm, loop, default_proc_fun=handler)
        # A blocking read of an empty inotify queue waits for the next event: never on the loop.
        os.set_blocking(self._fd, False)

    def read_events(self) -> None:
        """pyinotify's reader, minus its cost per event (it formats every event for a debug
        log) and its crash on file names that are not UTF-8 (kept as surrogates)."""
        pending = array.array("i", [0])
        fcntl.ioctl(self._fd, termios.FIONREAD, pending, True)
        if pending[0] <= 0:
            return  # drain() already took what woke the loop up
        try:
            data = os.read(self._fd, pending[0])
        except BlockingIOError:
            return
        offset = 0
        while offset + _HEADER.size <= len(data):
            wd, mask, cookie, length = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            event = pyinotify._RawEvent.__new__(pyinotify._RawEvent)
            event._str = None
            event.wd, event.mask, event.cookie = wd, mask, cookie
            event.name = os.fsdecode(data[start:start + length].rstrip(b"\0"))
            self._eventq.append(event)
            offset = start + length

    def handle_read(self, *args: object, **kwargs: object) -> None:
        try:
            self.read_events()
            self.process_events()
        except Exception as exc:
            self._eventq.clear()
            self._on_error(f"inotify read failed ({exc}); rescanning")


class TreeWatcher:
    """Watches `folder` (inside the work tree `root`) and reports repository-relative
    paths. `.git`/`.hg` folders and nested repositories are never watched."""

    def __init__(self, folder: Path, root: Path, *, on_change: Callable[[str], None],
                 on_rescan: Callable[[str], None], on_nested: Callable[[str], None],
                 on_limit: Callable[[int, int], None]) -> None:
        self._folder = str(folder)
        self._root = str(root)
        self._root_prefix = self._root.rstrip("/") + "/"
        self._on_change = on_change
        self._on_rescan = on_rescan
        self._on_nested = on_nested
        self._on_limit = on_limit
        self._wm = pyinotify.WatchManager()
        self._notifier: _Notifier | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limit_reported = False

    # ------------------------------------------------------------------ lifecycle
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading events on `loop` (must be called on the loop's thread)."""
        handler = _Handler(self)
        self._loop = loop
        self._notifier = _Notifier(self._wm, loop, handler, self._on_rescan)

    def add_watches(self) -> WatchReport:
        """Watch the whole folder (blocking walk; run it in a worker thread)."""
        result = self._wm.add_watch(self._folder, MASK, rec=True, auto_add=True,
                                    exclude_filter=self._excluded)
        failed = [p for p, wd in result.items() if wd < 0 and wd != -2 and os.path.isdir(p)]
        watched = sum(1 for wd in result.values() if wd >= 0)
        if failed:
            self._report_limit(watched + len(failed))
        return WatchReport(watched=watched, failed=len(failed))

    def drain(self) -> None:
        """Process every event the kernel has queued so far (used right after our own
        git operations, so their echo is classified before we move on)."""
        if self._notifier is not None and self._notifier.check_events(0):
            self._notifier.handle_read()

    def stop(self) -> None:
        if self._notifier is not None:
            self._notifier.stop()
            self._notifier = None

    @property
    def watch_count(self) -> int:
        return len(self._wm.watches)

    # ------------------------------------------------------------------ internals
    def _rel(self, path: str) -> str | None:
        """Repository-relative path (watch paths are built from the resolved root)."""
        if not path.startswith(self._root_prefix):
            return None
        return path[len(self._root_prefix):]

    def _excluded(self, path: str) -> bool:
        rel = self._rel(path)
        if rel is None:
            return False
        if not REPOSITORY_DIRS.isdisjoint(rel.split("/")):
            return True
        if any(os.path.lexists(os.path.join(path, name)) for name in REPOSITORY_DIRS):
            self._on_nested(rel)
            return True
        return False

    def _report_limit(self, needed: int) -> None:
        """Called from the loop or from the worker thread that adds watches."""
        if not self._limit_reported and self._loop is not None:
            self._limit_reported = True
            self._loop.call_soon_threadsafe(self._on_limit, needed, watch_limit() or 0)

    def _event(self, event: pyinotify.Event) -> None:
        path: str = event.pathname
        if path.endswith("-unknown-path"):
            self._on_rescan("a watched folder moved out of sight; rescanning")
            return
        if event.mask & pyinotify.IN_IGNORED:
            return
        if event.mask & (pyinotify.IN_DELETE_SELF | pyinotify.IN_MOVE_SELF) \
                and path == self._folder:
            self._on_rescan(f"{self._folder} itself was moved or deleted")
            return
        rel = self._rel(path)
        if rel is None:
            return
        parts = rel.split("/")
        inside = next((name for name in REPOSITORY_DIRS if name in parts), None)
        if inside is not None:
            index = parts.index(inside)
            if index > 0 and event.mask & pyinotify.IN_CREATE:
                self._on_nested("/".join(parts[:index]))
                self._on_change(rel)
            return
        if is_temporary(parts[-1]) and not event.mask & pyinotify.IN_MOVED_FROM:
            return
        # A folder moved within the tree keeps its watch, which pyinotify renames only on
        # the later IN_MOVE_SELF: no watch at the new path yet is not the kernel's limit.
        if event.dir and event.mask & (pyinotify.IN_CREATE | pyinotify.IN_MOVED_TO) \
                and not getattr(event, "src_pathname", None) \
                and self._wm.get_wd(path) is None and not self._excluded(path) \
                and os.path.isdir(path):
            self._report_limit(len(self._wm.watches) + 1)
        self._on_change(rel)


class _Handler(pyinotify.ProcessEvent):
    def my_init(self, watcher: TreeWatcher) -> None:  # pyinotify's init hook
        self._watcher = watcher

    def __init__(self, watcher: TreeWatcher) -> None:
        super().__init__(watcher=watcher)

    def process_default(self, event: pyinotify.Event) -> None:
        self._watcher._event(event)

    def process_IN_Q_OVERFLOW(self, event: pyinotify.Event) -> None:
        self._watcher._on_rescan("inotify event queue overflowed; rescanning")
