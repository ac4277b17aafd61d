"""After a careful pull git needs to read no file again: the stat data of files the pull
did not touch is kept, and the files it wrote are not left "racily clean" (a 4 GB file
would otherwise be hashed again at every status, diff-index and refresh). And an entry
that was racily clean before the pull stays checked by content."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autosync_gui.engine import careful_pull
from autosync_gui.engine.gitrepo import GitRepository
from autosync_gui.engine.racy_index import NS, EntryStat, index_stats, settle_written
from tests.fixtures.git_remotes import Remote, commit, git


def _stats(repo: GitRepository, index: Path) -> dict[str, EntryStat]:
    return dict(index_stats(repo.runner, index))


def _index(clone: Path) -> Path:
    return clone / ".git" / "index"


def _trusted_by_stat(clone: Path, stats: dict[str, EntryStat], path: str) -> bool:
    """git's own rule: the recorded stat data matches and the file is older than the
    index in whole seconds (so git reads nothing to know it is unchanged)."""
    info = os.lstat(clone / path)
    index_second = os.stat(_index(clone)).st_mtime_ns // NS
    return stats[path].matches(info) and info.st_mtime_ns // NS < index_second


def test_the_pulled_tree_keeps_the_stat_data_of_unchanged_files(remote: Remote) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    (b / "kept.bin").write_bytes(b"k" * 1000)
    commit(b, "kept", push=True)
    git(a, "pull", "-q", "--ff-only")
    git(a, "update-index", "-q", "--refresh")
    (b / "new.txt").write_text("new\n")
    commit(b, "new", push=True)
    git(a, "fetch", "-q")
    repo = GitRepository.open(a, "alpha")
    before = _stats(repo, _index(a))["kept.bin"]
    assert before.size == 1000
    index = repo.careful_pull.check_tree(git(a, "rev-parse", "origin/main"), "b's commit")
    try:
        assert _stats(repo, index)["kept.bin"] == before  # not zeroed: nothing to re-hash
    finally:
        index.unlink()


def test_files_a_pull_writes_are_trusted_by_their_stat_data(
        remote: Remote, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(careful_pull, "SETTLE_BYTES", 0)  # (big files, made small here)
    a, b = remote.clone("a"), remote.clone("b")
    (b / "video.bin").write_bytes(os.urandom(1 << 20))
    (b / "kept.txt").write_text("kept\n")
    commit(b, "video", push=True)
    git(a, "fetch", "-q")
    repo = GitRepository.open(a, "alpha")
    outcome = repo.careful_pull.fast_forward(git(a, "rev-parse", "HEAD"),
                                             git(a, "rev-parse", "origin/main"), "b's commit")
    assert outcome.moved, outcome
    assert (a / "video.bin").read_bytes() == (b / "video.bin").read_bytes()
    stats = _stats(repo, _index(a))
    assert _trusted_by_stat(a, stats, "video.bin"), (stats, os.lstat(a / "video.bin"))
    assert _trusted_by_stat(a, stats, "kept.txt")
    assert git(a, "status", "--porcelain") == ""


def test_a_file_changed_after_git_recorded_it_stays_racy(remote: Remote) -> None:
    """settle_written moves the index's time only when every racily clean entry is a
    written file that has not changed since: a same-size write after git recorded the
    stat data leaves the index as it was, for git to compare by content."""
    a = remote.clone("a")
    path = a / "f.bin"
    path.write_bytes(b"1" * 4096)
    git(a, "update-index", "--add", "--", "f.bin")
    repo = GitRepository.open(a, "alpha")
    with open(path, "r+b") as fh:  # same size, same second, after git's stat
        fh.write(b"2")
    index_time = os.stat(_index(a)).st_mtime_ns
    assert not settle_written(repo.runner, repo.work_tree, _index(a), ["f.bin"])
    assert os.stat(_index(a)).st_mtime_ns == index_time
    assert git(a, "diff-files", "--name-only") == "f.bin"


def test_an_entry_racily_clean_before_the_pull_is_still_checked_by_content(
        remote: Remote) -> None:
    """The pull works on a copy of the index: the copy keeps the index's time, so an
    entry git could only trust by content (changed within the second it was recorded,
    same size) is not taken as unchanged afterwards."""
    a, b = remote.clone("a"), remote.clone("b")
    git(a, "config", "core.trustctime", "false")  # (only the time rule can catch it)
    path = a / "notes.txt"
    path.write_text("version 1\n")
    commit(a, "notes", push=True)
    git(b, "pull", "-q")
    (b / "other.txt").write_text("other\n")
    commit(b, "other", push=True)
    git(a, "fetch", "-q")
    repo = GitRepository.open(a, "alpha")
    at = 1_600_000_000 * NS + 100_000_000
    os.utime(path, ns=(at, at))
    git(a, "update-index", "-q", "--refresh")
    index = _index(a)
    os.utime(index, ns=(at + 500_000_000, at + 500_000_000))  # written in that second
    path.write_text("version 2\n")  # same size, same mtime: only content tells
    os.utime(path, ns=(at, at))
    outcome = repo.careful_pull.fast_forward(git(a, "rev-parse", "HEAD"),
                                             git(a, "rev-parse", "origin/main"), "b's commit")
    assert outcome.moved, outcome
    assert path.read_text() == "version 2\n"
    assert git(a, "status", "--porcelain") == "M notes.txt"


def test_an_index_git_cannot_list_is_left_as_it_is(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    (a / "f.bin").write_bytes(b"1" * 4096)
    broken = tmp_path / "index"
    broken.write_bytes(b"DIRC not an index")
    before = os.stat(broken).st_mtime_ns
    repo = GitRepository.open(a, "alpha")
    assert not settle_written(repo.runner, repo.work_tree, broken, ["f.bin"])
    assert os.stat(broken).st_mtime_ns == before
