"""The paths changed since the last commit, as the watcher reported them: a hint for
what a commit must look at first (large files, paths a synced ignore rule hides), never
the authority (`git add -A` is). Bounded: past its limit, or after a rescan, the list is
incomplete and says so, so the commit looks at every path instead (pure)."""

from __future__ import annotations

from collections.abc import Iterable

MAX_CHECKED_PATHS = 200


class ChangedPaths:
    def __init__(self, limit: int = MAX_CHECKED_PATHS) -> None:
        self._limit = limit
        self._paths: set[str] = set()
        self._complete = False  # nothing is known before the first commit

    def add(self, rel: str) -> None:
        """A change at `rel` ("" for "anything may have changed": a rescan)."""
        if not rel:
            self._complete = False
        elif rel in self._paths:
            return
        elif len(self._paths) < self._limit:
            self._paths.add(rel)
        else:
            self._complete = False  # too many to list: one dropped makes it a guess

    def forget(self, paths: Iterable[str]) -> None:
        """Paths written by autosync itself (a pull): not the user's changes."""
        self._paths.difference_update(paths)

    def take(self) -> tuple[set[str], bool]:
        """(the paths, whether they are every change) for a commit starting now; the
        list starts again, complete, from here."""
        taken = (self._paths, self._complete)
        self._paths, self._complete = set(), True
        return taken

    def put_back(self, paths: set[str], complete: bool) -> None:
        """A commit that did not go through: its paths are pending again."""
        for rel in paths:
            self.add(rel)
        self._complete = self._complete and complete

    def __bool__(self) -> bool:
        return bool(self._paths)
