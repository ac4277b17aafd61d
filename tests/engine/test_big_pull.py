"""The careful pull with many files (careful_pull.BIG_PULL and more): git's own stat check
tells which files are unchanged, the rest are hashed; old versions go to a trash folder
that maintenance empties (not deleted one by one while the user waits)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from autosync_gui.engine.careful_pull import BIG_PULL
from autosync_gui.engine.gitrepo import GitRepository
from tests.fixtures.git_remotes import Remote, commit, git

N = BIG_PULL + 100


def _many_files_changed_remotely(remote: Remote) -> tuple[Path, Path]:
    a, b = remote.clone("a"), remote.clone("b")
    for i in range(N):
        path = b / "many" / f"d{i % 10}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{i}\n")
    commit(b, "many", push=True)
    git(a, "pull", "-q", "--ff-only")
    for i in range(N):
        path = b / "many" / f"d{i % 10}" / f"f{i}.txt"
        path.write_text(f"{i} changed by b\n")
    commit(b, "changed", push=True)
    git(a, "fetch", "-q")
    return a, b


def test_a_save_among_many_pulled_files_stops_the_pull(remote: Remote) -> None:
    """With more than BIG_PULL files replaced, a save git's stat check reports is found
    before anything moves; a file only touched (same bytes, new time) does not count."""
    a, _b = _many_files_changed_remotely(remote)
    saved = a / "many" / "d3" / "f3.txt"
    saved.write_text("a's save, not committed yet\n")
    touched = a / "many" / "d4" / "f4.txt"
    later = time.time() + 5
    os.utime(touched, (later, later))
    repo = GitRepository.open(a, "alpha")
    head = git(a, "rev-parse", "HEAD")
    target = git(a, "rev-parse", "origin/main")
    outcome = repo.careful_pull.fast_forward(head, target, "b's commit")
    assert not outcome.moved and outcome.busy == "many/d3/f3.txt"
    assert saved.read_text() == "a's save, not committed yet\n"
    assert git(a, "rev-parse", "HEAD") == head
    saved.write_text("3\n")  # the save undone: only the touched file differs in time
    outcome = repo.careful_pull.fast_forward(head, target, "b's commit")
    assert outcome.moved, outcome
    assert touched.read_text() == "4 changed by b\n"
    assert git(a, "status", "--porcelain") == ""


def test_old_versions_go_to_a_trash_that_maintenance_empties(remote: Remote) -> None:
    a, _b = _many_files_changed_remotely(remote)
    repo = GitRepository.open(a, "alpha")
    result = repo.integrate()
    assert result.changed and len(result.files) == N
    scratch = repo.work_tree.scratch
    left = sorted(p.name for p in scratch.iterdir())
    assert [n for n in left if n.startswith("trash-")], left
    assert not [n for n in left if n.startswith(("aside-", "pull-"))], left
    trash = next(p for p in scratch.iterdir() if p.name.startswith("trash-"))
    assert len(list(trash.iterdir())) == N  # the replaced old versions, all of them
    repo.maintain()
    assert not [p for p in scratch.iterdir() if p.name.startswith("trash-")]
    assert (a / "many" / "d7" / "f7.txt").read_text() == "7 changed by b\n"


def test_a_file_moved_aside_is_read_again_unless_its_stat_says_unchanged(
        tmp_path: Path) -> None:
    """WorkTree.aside_unchanged, git's racy-clean rule: a file modified within two
    seconds of its move (or since it was hashed) must be hashed again."""
    from autosync_gui.engine.worktree_fs import WorkTree

    root = tmp_path / "tree"
    root.mkdir()
    tree = WorkTree(root, tmp_path / "scratch")
    old, fresh = root / "old.txt", root / "fresh.txt"
    old.write_text("old\n")
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))
    fresh.write_text("fresh\n")
    with tree.pull_asides():
        old_aside, fresh_aside = tree.new_aside("old.txt"), tree.new_aside("fresh.txt")
        assert tree.move_aside("old.txt", old_aside)
        assert tree.move_aside("fresh.txt", fresh_aside)
        _ids, old_stat = tree.aside_hash(old_aside)
        _ids, fresh_stat = tree.aside_hash(fresh_aside)
        assert old_stat is not None and fresh_stat is not None
        assert tree.aside_unchanged(old_aside, old_stat)
        assert not tree.aside_unchanged(fresh_aside, fresh_stat)  # racy: hash again
        with open(tree.aside_path(old_aside), "a") as fh:  # an editor's late write
            fh.write("more\n")
        assert not tree.aside_unchanged(old_aside, old_stat)
