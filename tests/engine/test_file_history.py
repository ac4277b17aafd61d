"""The engine side of `autosync versions/deleted/restore/status/pause --for`: real git or
hg, real engine, a bare remote. The tests marked BOTH_BACKENDS run once per backend."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autosync_gui.engine.events import ActivityKind, FolderState
from autosync_gui.engine.folder import local_minute
from autosync_gui.engine.remote_url import without_credentials
from autosync_gui.engine.repository import RepositoryError
from tests.fixtures.git_remotes import BOTH_BACKENDS, Remote


def _commits(rec: object) -> int:
    return len(rec.of(ActivityKind.COMMITTED))  # type: ignore[attr-defined]


@BOTH_BACKENDS
async def test_versions_follow_renames_and_show_deletions(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a, hostname="alpha")
    folder = engine.folder(a)
    (a / "notes.txt").write_text("v1")
    await rec.until(lambda: _commits(rec) == 1, what="first version")
    (a / "notes.txt").write_text("v22")
    await rec.until(lambda: _commits(rec) == 2, what="second version")
    (a / "notes.txt").rename(a / "renamed.txt")
    await rec.until(lambda: _commits(rec) == 3, what="rename")
    versions = await folder.versions("renamed.txt")
    assert [(v.change, v.path, v.size, v.host) for v in versions] == [
        ("renamed", "renamed.txt", 3, "alpha"),
        ("modified", "notes.txt", 3, "alpha"),
        ("added", "notes.txt", 2, "alpha")]
    assert versions[0].previous_path == "notes.txt"
    assert versions[0].time >= versions[1].time >= versions[2].time
    (a / "renamed.txt").unlink()
    await rec.until(lambda: _commits(rec) == 4, what="deletion")
    versions = await folder.versions("renamed.txt")
    assert versions[0].change == "deleted" and versions[0].size is None
    assert len(versions) == 4
    oldest = versions[-1]
    await folder.restore_version("renamed.txt", oldest)  # from before the rename
    assert (a / "renamed.txt").read_text() == "v1" and not (a / "notes.txt").exists()
    assert remote.subjects(a)[0] == \
        f"restored renamed.txt as of {local_minute(oldest.time)} from alpha"


@BOTH_BACKENDS
async def test_the_history_viewers_restore_is_titled(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a, hostname="alpha")
    folder = engine.folder(a)
    (a / "plan.txt").write_text("one")
    await rec.until(lambda: _commits(rec) == 1, what="first")
    first = rec.of(ActivityKind.COMMITTED)[0]
    (a / "plan.txt").write_text("two")
    await rec.until(lambda: _commits(rec) == 2, what="second")
    assert first.commit is not None
    await folder.restore(first.commit, "plan.txt")
    assert (a / "plan.txt").read_text() == "one"
    assert remote.subjects(a)[0].startswith("restored plan.txt as of ")


@BOTH_BACKENDS
async def test_versions_made_elsewhere_name_their_host(remote: Remote, start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    engine_b, rec_b = await start_engine(b, hostname="bravo")
    engine_a, rec_a = await start_engine(a, hostname="alpha", poll_interval=0.3)
    (b / "shared.txt").write_text("from bravo\n")
    await rec_a.until(lambda: (a / "shared.txt").exists(), what="pulled")
    (a / "shared.txt").write_text("from alpha, longer\n")
    await rec_a.until(lambda: _commits(rec_a) == 1, what="edited on alpha")
    versions = await engine_a.folder(a).versions("shared.txt")
    assert [(v.host, v.size) for v in versions] == [("alpha", 19), ("bravo", 11)]


@BOTH_BACKENDS
async def test_deleted_files_lists_what_is_gone(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a, hostname="alpha")
    folder = engine.folder(a)
    (a / "docs").mkdir()
    (a / "docs" / "old.txt").write_text("old content")
    (a / "docs" / "back.txt").write_text("comes back")
    (a / "moved.txt").write_text("moved, not deleted")
    await rec.until(lambda: _commits(rec) == 1, what="added")
    (a / "docs" / "old.txt").unlink()
    (a / "docs" / "back.txt").unlink()
    (a / "moved.txt").rename(a / "docs" / "moved.txt")
    await rec.until(lambda: _commits(rec) == 2, what="deleted")
    (a / "docs" / "back.txt").write_text("is back")
    await rec.until(lambda: _commits(rec) == 3, what="re-created")
    since = datetime.now(UTC) - timedelta(days=1)
    gone = await folder.deleted_files(since)
    assert [(d.path, d.host, d.size) for d in gone] == [("docs/old.txt", "alpha", 11)]
    assert (await folder.file_at(gone[0].last_commit, "docs/old.txt")) == b"old content"
    assert await folder.deleted_files(since, "docs") == gone
    assert await folder.deleted_files(since, "elsewhere") == []
    assert await folder.deleted_files(datetime.now(UTC) + timedelta(minutes=5)) == []


@BOTH_BACKENDS
async def test_restore_commits_the_file_alone_with_its_title(remote: Remote,
                                                             start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a, hostname="alpha", commit_delay=0.2)
    folder = engine.folder(a)
    (a / "sub").mkdir()
    (a / "sub" / "gone.txt").write_text("precious\n")
    await rec.until(lambda: _commits(rec) == 1, what="added")
    (a / "sub" / "gone.txt").unlink()
    (a / "sub").rmdir()
    await rec.until(lambda: _commits(rec) == 2, what="deleted")
    engine.pause(a)  # what the user does meanwhile stays pending
    (a / "pending.txt").write_text("not yet committed\n")
    versions = await folder.versions("sub/gone.txt")
    last = versions[1]
    result = await folder.restore_version("sub/gone.txt", last)
    assert result is not None
    assert (a / "sub" / "gone.txt").read_text() == "precious\n"
    title = f"restored sub/gone.txt as of {local_minute(last.time)} from alpha"
    assert remote.subjects(a)[0] == title
    assert remote.last_files(a) == ["sub/gone.txt"]
    assert await folder.pending_changes() == 1, "pending.txt stays pending"
    assert await folder.restore_version("sub/gone.txt", last) is None, "already restored"
    engine.resume(a)
    await rec.until(lambda: {"sub/gone.txt", "pending.txt"} <= remote.tree_names(),
                    what="restore pushed")


@BOTH_BACKENDS
async def test_restore_never_writes_through_a_link(remote: Remote, start_engine,
                                                   tmp_path: Path) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    (a / "sub").mkdir()
    (a / "sub" / "file.txt").write_text("inside\n")
    await rec.until(lambda: _commits(rec) == 1 and folder.state == FolderState.IDLE,
                    what="added and pushed")
    outside = tmp_path / "outside"
    outside.mkdir()
    engine.pause(a)
    (a / "sub" / "file.txt").unlink()
    (a / "sub").rmdir()
    (a / "sub").symlink_to(outside)
    # (a look for changes already under way when the folder was paused may commit the
    # deletion: the version wanted is the file's)
    version = next(v for v in await folder.versions("sub/file.txt") if v.size is not None)
    with pytest.raises(RepositoryError, match="refusing to restore"):
        await folder.restore_version("sub/file.txt", version)
    assert list(outside.iterdir()) == []


async def test_timed_pause_resumes_on_time(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    await rec.until(folder.ready.is_set, what="start-up catch-up done")
    until = datetime.now(UTC) + timedelta(seconds=0.5)
    engine.pause(a, until)
    assert folder.state == FolderState.PAUSED and folder.paused_until == until
    assert folder.detail == f"until {local_minute(until)}"
    (a / "while-paused.txt").write_text("wait\n")
    await rec.until(lambda: not folder.paused, timeout=10, what="resumed on time")
    assert datetime.now(UTC) >= until
    assert folder.paused_until is None
    await rec.until(lambda: "while-paused.txt" in remote.tree_names(), what="synced after")
    summaries = [e.summary for e in rec.of(ActivityKind.INFO)]
    assert f"paused until {local_minute(until)}" in summaries and "resumed" in summaries


async def test_resume_cancels_a_timed_pause(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    engine.pause(a, datetime.now(UTC) + timedelta(hours=1))
    engine.resume(a)
    assert not folder.paused and folder.paused_until is None
    engine.pause(a)  # until resumed: no timer of the earlier pause may end it
    assert folder.paused and folder.paused_until is None
    assert "unpause" not in folder._timers  # the earlier timer itself is what is tested


@BOTH_BACKENDS
async def test_pending_and_unpushed_counts(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a, commit_delay=60)
    folder = engine.folder(a)
    await rec.until(folder.ready.is_set, what="start-up catch-up done")
    (a / "one.txt").write_text("1")
    (a / "two.txt").write_text("2")
    assert await folder.pending_changes() == 2
    remote.commit_paths(a, "by hand", ["one.txt"])
    assert await folder.pending_changes() == 1
    assert await folder.unpushed_commits() == 1


async def test_locate_maps_paths_to_folders(remote: Remote, start_engine,
                                            tmp_path: Path) -> None:
    a = remote.clone("a")
    (a / "sub").mkdir()
    engine, _rec = await start_engine(a / "sub")
    folder = engine.folder(a / "sub")
    assert engine.locate(a / "sub") == (folder, "sub")
    assert engine.locate(a / "sub" / "x" / ".." / "f.txt") == (folder, "sub/f.txt")
    link = tmp_path / "link"
    link.symlink_to(a / "sub")
    assert engine.locate(link / "deep" / "f.txt") == (folder, "sub/deep/f.txt")
    with pytest.raises(LookupError, match="not inside a synced folder"):
        engine.locate(a / "README.txt")
    with pytest.raises(LookupError, match="not inside a synced folder"):
        engine.locate(a / "subway.txt")
    os.symlink(a / ".git", a / "sub" / "dotgit")
    with pytest.raises(LookupError, match="not inside a synced folder"):
        engine.locate(a / "sub" / "dotgit" / "config")
    (a / "sub" / ".git").mkdir()  # a nested repository's folder is not synced either
    with pytest.raises(LookupError, match=r"\.git folder"):
        engine.locate(a / "sub" / ".git" / "config")


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:secret@example.org/x.git?token=abc", "https://example.org/x.git"),
    ("https://ghp_TOKEN@github.com/me/sync.git", "https://github.com/me/sync.git"),
    ("ssh://git:pw@host:2222/srv/sync.git", "ssh://git@host:2222/srv/sync.git"),
    ("ssh://git@host/srv/sync.git", "ssh://git@host/srv/sync.git"),
    ("git@host:sync.git", "git@host:sync.git"),
    ("/srv/git/sync.git", "/srv/git/sync.git"),
])
def test_remote_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert without_credentials(url) == shown
