"""Several folders, sub-folders of a work tree, nested repositories, polling, identity."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from autosync_gui.engine.events import ActivityKind, FolderState
from tests.fixtures.git_remotes import Remote, commit, git, make_remote


async def test_polling_brings_remote_changes(remote: Remote, start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    engine, rec = await start_engine(b, poll_interval=1.0)
    await rec.until(lambda: engine.folder(b).ready.is_set(), what="ready")
    (a / "polled.txt").write_text("found by polling\n")
    commit(a, "by hand", push=True)
    await rec.until(lambda: (b / "polled.txt").exists(), timeout=15, what="polled change")


async def test_two_folders_are_independent(tmp_path: Path, start_engine) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    r1, r2 = make_remote(tmp_path / "one"), make_remote(tmp_path / "two")
    a1, a2 = r1.clone("a"), r2.clone("a")
    hidden = r2.bare.with_name("away.git")
    r2.bare.rename(hidden)  # folder two's remote is unreachable
    engine, rec = await start_engine(a1, a2)
    (a1 / "x.txt").write_text("one\n")
    (a2 / "y.txt").write_text("two\n")
    await rec.until(lambda: "x.txt" in r1.tree_names(), what="folder one synced")
    await rec.until(lambda: engine.folder(a2).state == FolderState.OFFLINE, what="two offline")
    assert engine.folder(a1).state != FolderState.OFFLINE
    engine.pause(a1)
    assert engine.folder(a1).state == FolderState.PAUSED
    assert engine.folder(a2).state == FolderState.OFFLINE


async def test_sub_folder_only_commits_inside(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    (a / "synced").mkdir()
    engine, rec = await start_engine(a / "synced")
    (a / "outside.txt").write_text("not autosync's business\n")
    (a / "synced" / "inside.txt").write_text("synced\n")
    await rec.until(lambda: "synced/inside.txt" in remote.tree_names(), what="inside synced")
    assert "outside.txt" not in remote.tree_names()
    assert "?? outside.txt" in git(a, "status", "--porcelain")


async def test_nested_repository_is_never_committed(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    nested = a / "project"
    nested.mkdir()
    git(nested, "init", "-q")
    (nested / "code.py").write_text("print()\n")
    engine, rec = await start_engine(a)
    (a / "top.txt").write_text("top\n")
    await rec.until(lambda: "top.txt" in remote.tree_names(), what="top.txt")
    later = a / "later"
    later.mkdir()
    (later / "file.txt").write_text("x")
    git(later, "init", "-q")
    (a / "top2.txt").write_text("top2\n")
    await rec.until(lambda: "top2.txt" in remote.tree_names(), what="top2.txt")
    names = remote.tree_names()
    assert not any(n.startswith(("project", "later")) for n in names), names


async def test_rename_is_listed_as_rename(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    (a / "README.txt").rename(a / "READ-ME.txt")
    await rec.until(lambda: "READ-ME.txt" in remote.tree_names(), what="rename pushed")
    assert "R README.txt -> READ-ME.txt" in git(a, "log", "-1", "--format=%B")


async def test_identity_is_the_same_on_every_replica(remote: Remote, start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    engine, rec = await start_engine(a, b)
    await rec.until(lambda: engine.folder(a).ready.is_set() and engine.folder(b).ready.is_set(),
                    what="ready")
    ida, idb = engine.folder(a).identity, engine.folder(b).identity
    assert ida == idb and ida is not None and ida.endswith(":main")
    assert str(remote.bare) not in ida


async def test_notification_for_known_commit_does_not_fetch(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    head = git(a, "rev-parse", "HEAD")
    states_before = len(rec.states)
    assert engine.remote_changed(engine.folder(a).identity, head, "peer")
    assert not engine.remote_changed("0" * 40 + ":main", head, "peer")  # unknown repository
    await asyncio.sleep(0.3)  # nothing to await: asserting that nothing happens
    assert not any(s == FolderState.PULLING for _, s, _ in rec.states[states_before:])


async def test_pause_holds_commits_and_resume_syncs(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    engine.pause(a)
    (a / "while-paused.txt").write_text("wait\n")
    await asyncio.sleep(0.5)  # longer than commit_delay: asserting that nothing happens
    assert "while-paused.txt" not in git(a, "ls-files")
    engine.resume(a)
    await rec.until(lambda: "while-paused.txt" in remote.tree_names(), what="synced on resume")
    await rec.until(lambda: rec.of(ActivityKind.PUSHED), what="the push reported")


def test_mercurial_folder_without_hg_installed_is_one_line(tmp_path: Path,
                                                          monkeypatch) -> None:
    """An hg folder on a machine without `hg`: one line naming the fix, not "not a git
    work tree"."""
    import shutil

    import pytest

    from autosync_gui.engine.backends import validate_folder
    from autosync_gui.engine.repository import RepositoryError

    if shutil.which("hg") is None:
        pytest.skip("Mercurial is not installed")
    folder = tmp_path / "hgsync"
    subprocess.run(["hg", "init", str(folder)], check=True, capture_output=True)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no hg (nor anything else) found
    with pytest.raises(RepositoryError, match="hg is not installed; install it") as info:
        validate_folder(folder)
    assert "\n" not in str(info.value)
