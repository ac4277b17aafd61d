"""The bounded list of changed paths a commit looks at first: it never passes for
complete when a change was left out of it."""

from __future__ import annotations

from autosync_gui.engine.changed_paths import ChangedPaths


def test_nothing_is_known_before_the_first_commit() -> None:
    changed = ChangedPaths()
    changed.add("a.txt")
    assert changed.take() == ({"a.txt"}, False)
    changed.add("b.txt")
    assert changed.take() == ({"b.txt"}, True)


def test_a_rescan_makes_the_list_a_guess() -> None:
    changed = ChangedPaths()
    changed.take()
    changed.add("a.txt")
    changed.add("")
    assert changed.take() == ({"a.txt"}, False)


def test_a_path_dropped_at_the_limit_stays_unknown_after_a_pull_shrinks_the_list() -> None:
    """A big pull's own writes fill the list; the user's save arriving then is dropped;
    the pull's paths are forgotten afterwards: the short list left is not every change
    (a large file saved then would have missed its check)."""
    changed = ChangedPaths(limit=3)
    changed.take()
    for rel in ("pulled-1", "pulled-2", "pulled-3"):
        changed.add(rel)
    changed.add("big.iso")  # the user's save, past the limit
    changed.forget(["pulled-1", "pulled-2", "pulled-3"])
    assert changed.take() == (set(), False)


def test_a_path_seen_twice_at_the_limit_is_still_listed() -> None:
    changed = ChangedPaths(limit=2)
    changed.take()
    changed.add("a")
    changed.add("b")
    changed.add("a")
    assert changed.take() == ({"a", "b"}, True)


def test_a_failed_commit_puts_its_paths_and_their_completeness_back() -> None:
    changed = ChangedPaths(limit=3)
    changed.take()
    changed.add("a")
    changed.add("")  # a rescan: incomplete
    paths, complete = changed.take()
    changed.add("b")  # while the commit ran
    changed.put_back(paths, complete)
    assert changed.take() == ({"a", "b"}, False)
    changed.add("c")
    paths, complete = changed.take()
    changed.put_back(paths, complete)
    assert changed.take() == ({"c"}, True)
