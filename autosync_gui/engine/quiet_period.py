"""When a folder's changes are committed: the adaptive quiet period.

A lone save -- a few files, each closed after writing (or moved into place), the folder
quiet for a moment before -- is committed after a short settle time. When changes
keep arriving (a burst of files, saves a fraction of a second apart) or a file is still
open for writing, the commit waits until the folder has been quiet for `commit_delay`.
That wait is capped (`max(30 s, 10 x commit_delay)` from the first change), but the cap
never commits a file that is still being written: a file written and not closed within the
last `commit_delay` is a candidate to hold back, and the caller holds back those that some
process really still has open for writing (see open_files.py).

Pure bookkeeping, no I/O: the caller passes the time (the event loop's clock) and the kind
of each change, as told by inotify."""

from __future__ import annotations

import math
from enum import Enum

SETTLE = 0.05  # seconds of quiet after a lone save (catches the rest of an editor's save)
LONE_AFTER = 0.3  # a change is lone only if the folder was quiet this long before it
LONE_FILES = 8  # an editor's save touches a few names (file, temporary, backup); more: a burst
CAP_MIN = 30.0  # the longest wait for quiet is max(CAP_MIN, CAP_FACTOR x commit_delay)
CAP_FACTOR = 10


class Change(Enum):
    """What one event says about a file."""

    WRITTEN = "written"  # content written (or a file created): it may still be open
    CLOSED = "closed"  # closed after writing, or moved into place complete
    GONE = "gone"  # deleted or moved away
    OTHER = "other"  # metadata, folders: says nothing about a file being written
    UNKNOWN = "unknown"  # something changed somewhere (a rescan): no quick commit


class QuietPeriod:
    """The pending changes of one folder and when they are due for a commit."""

    def __init__(self, commit_delay: float) -> None:
        self.commit_delay = max(0.0, commit_delay)
        self.settle = min(SETTLE, self.commit_delay)
        self.lone_after = min(LONE_AFTER, self.commit_delay)
        self.cap = max(CAP_MIN, CAP_FACTOR * self.commit_delay)
        self._writing: dict[str, float] = {}  # path -> last write seen, no close since
        self._first: float | None = None  # first change of the pending batch
        self._last = -math.inf  # the latest change, pending or not
        self._quiet_before = math.inf  # quiet the folder had before this batch began
        self._unknown = False
        self._touched: set[str] = set()  # names in the pending batch, up to LONE_FILES + 1

    @property
    def pending(self) -> bool:
        return self._first is not None

    def change(self, path: str, kind: Change, now: float) -> None:
        """Record one change (`path` repository-relative; "" when unknown)."""
        if self._first is None:
            self._first = now
            self._quiet_before = now - self._last
            self._unknown = False
            self._touched.clear()
        self._last = now
        if len(self._touched) <= LONE_FILES:
            self._touched.add(path)
        if kind is Change.WRITTEN and path:
            self._writing[path] = now
        elif kind in (Change.CLOSED, Change.GONE):
            self._writing.pop(path, None)
        elif kind is Change.UNKNOWN:
            self._unknown = True

    def writing(self, now: float) -> set[str]:
        """Files written within the last commit_delay and not closed since."""
        return {p for p, t in self._writing.items() if now - t < self.commit_delay}

    def lone(self, now: float) -> bool:
        """Whether the pending batch is a lone save: committed after the settle time."""
        return (self._first is not None and not self._unknown
                and self._quiet_before >= self.lone_after
                and len(self._touched) <= LONE_FILES and not self.writing(now))

    def due(self, now: float) -> float | None:
        """When the pending batch should be committed (on the caller's clock); None when
        nothing is pending. May be <= now: due already."""
        if self._first is None:
            return None
        wait = self.settle if self.lone(now) else self.commit_delay
        return min(self._last + wait, self._first + self.cap)

    def take(self, now: float) -> set[str]:
        """The batch is being committed now: returns the files to hold back if some
        process still has them open for writing (the caller checks), and starts afresh.
        Changes recorded after this call belong to the next batch."""
        self._writing = {p: t for p, t in self._writing.items()
                         if now - t < self.commit_delay}
        self._first = None
        self._unknown = False
        self._touched.clear()
        return set(self._writing)

    def held_back(self, now: float) -> None:
        """Some changes were left out of the commit (files still being written, or the
        commit failed): they are still pending. A file still being written waits for
        quiet (commit_delay); once closed, with nothing else changing, it is a lone save."""
        if self._first is None:
            self._first = now
            self._quiet_before = math.inf
            self._unknown = False
            self._touched.clear()
