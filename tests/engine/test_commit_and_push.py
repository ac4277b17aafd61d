"""Watch -> quiet period -> one commit -> push, with real git or hg and real inotify.
The tests marked BOTH_BACKENDS run once per backend (git, Mercurial)."""

from __future__ import annotations

import os

from autosync_gui.engine.events import ActivityKind, FolderState
from tests.fixtures.git_remotes import BOTH_BACKENDS, Remote


@BOTH_BACKENDS
async def test_new_file_is_committed_and_pushed(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a, hostname="laptop")
    (a / "notes.txt").write_text("hello\n")
    await rec.until(lambda: remote.tree_files().get("notes.txt") == b"hello\n"
                    and rec.of(ActivityKind.PUSHED), what="notes.txt on the remote, pushed")
    msg = remote.message(a)
    assert "1 file changed" in msg and "laptop" in msg and "A notes.txt" in msg
    # the remote moves before the push is reported: await the report, don't race it
    await rec.until(lambda: rec.of(ActivityKind.PUSHED), what="the push reported")
    assert remote.is_clean(a)


@BOTH_BACKENDS
async def test_burst_is_one_commit(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    before = len(remote.subjects(a))
    for i in range(300):
        (a / f"file-{i:03}.txt").write_text(f"{i}\n")
    await rec.until(lambda: len(remote.tree_files()) == 301, what="300 files on the remote")
    assert len(remote.subjects(a)) == before + 1
    assert "300 files changed" in remote.subjects(a)[0]
    assert "... and 250 more" in remote.message(a)


@BOTH_BACKENDS
async def test_atomic_save_and_odd_names(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    names = ["with space.txt", "ünïcödé ✓.txt", "-leading-dash.txt", "--", "-n"]
    for name in names:
        (a / name).write_text(name)
    # Atomic save: write a temp file, rename it over the target.
    (a / ".README.txt.swp").write_text("swap")
    tmp = a / ".goutputstream-XYZ"
    tmp.write_text("saved atomically\n")
    os.replace(tmp, a / "README.txt")
    await rec.until(lambda: remote.tree_files().get("README.txt") == b"saved atomically\n"
                    and all(n in remote.tree_files() for n in names), what="all names")
    files = remote.tree_files()
    assert ".README.txt.swp" not in files and ".goutputstream-XYZ" not in files


@BOTH_BACKENDS
async def test_directory_rename_and_delete(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    (a / "dir" / "sub").mkdir(parents=True)
    (a / "dir" / "sub" / "x.txt").write_text("x")
    (a / "gone" ).mkdir()
    (a / "gone" / "y.txt").write_text("y")
    engine, rec = await start_engine(a)
    await rec.until(lambda: "dir/sub/x.txt" in remote.tree_files(), what="catch-up commit")
    os.rename(a / "dir", a / "moved")
    (a / "moved" / "sub" / "new.txt").write_text("created inside a moved folder")
    for p in (a / "gone").iterdir():
        p.unlink()
    (a / "gone").rmdir()
    await rec.until(lambda: set(remote.tree_files()) == {
        "README.txt", "moved/sub/x.txt", "moved/sub/new.txt"}, what="move and delete")


@BOTH_BACKENDS
async def test_gitignore_and_folder_ignore_patterns(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    (a / "sub").mkdir()
    remote.ignore_in_subfolder(a, "sub", "*.tmp")
    engine, rec = await start_engine(a, ignore=("*.log",))
    (a / "sub" / "a.tmp").write_text("ignored by a nested .gitignore")
    (a / "app.log").write_text("ignored by the folder's patterns")
    (a / "4913").write_text("vim probe")
    (a / "kept.txt").write_text("kept")
    await rec.until(lambda: "kept.txt" in remote.tree_files(), what="kept.txt")
    files = remote.tree_files()
    assert "sub/a.tmp" not in files and "app.log" not in files and "4913" not in files


@BOTH_BACKENDS
async def test_executable_bit(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    script = a / "run.sh"
    script.write_text("#!/bin/sh\n")
    engine, rec = await start_engine(a)
    await rec.until(lambda: "run.sh" in remote.tree_files(), what="run.sh")
    script.chmod(0o755)
    await rec.until(lambda: remote.executable("run.sh"), what="executable bit on the remote")


@BOTH_BACKENDS
async def test_state_goes_pending_then_idle(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: (a, FolderState.IDLE, "") in rec.states, what="start-up done")
    (a / "f.txt").write_text("1")
    await rec.until(lambda: any(s == FolderState.PENDING for _, s, _ in rec.states),
                    what="pending")
    await rec.until(lambda: rec.of(ActivityKind.PUSHED), what="push")
    await rec.until(lambda: engine.folder(a).state == FolderState.IDLE, what="idle again")
    seen = [s for _, s, _ in rec.states]
    assert FolderState.COMMITTING in seen and FolderState.PUSHING in seen


@BOTH_BACKENDS
async def test_new_folder_saved_at_start_ends_idle_not_pending(remote: Remote,
                                                              start_engine) -> None:
    """A folder and a file saved while autosync starts: the commit's look at what the
    kernel already queued re-armed the commit timer for changes that commit then took;
    the timer found nothing due and the folder said "pending" for good."""
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    (a / "sub").mkdir()
    (a / "sub" / "file.txt").write_text("inside\n")
    await rec.until(lambda: remote.tree_files().get("sub/file.txt") == b"inside\n"
                    and rec.of(ActivityKind.PUSHED), what="committed and pushed")
    await rec.until(lambda: engine.folder(a).state == FolderState.IDLE, timeout=10,
                    what="idle, nothing pending")
    assert len(rec.of(ActivityKind.COMMITTED)) == 1


@BOTH_BACKENDS
async def test_file_name_that_is_not_utf8(remote: Remote, start_engine) -> None:
    """Linux names are bytes: one that is not UTF-8 is synced, not a watcher crash."""
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    with open(os.path.join(os.fsencode(a), b"caf\xe9-latin1.txt"), "wb") as fh:
        fh.write(b"bytes name\n")
    (a / "after.txt").write_text("the watcher still works\n")
    await rec.until(lambda: "after.txt" in remote.tree_names(), what="after.txt")
    assert b"caf\xe9-latin1.txt" in remote.raw_names()
    assert not rec.of(ActivityKind.ERROR)


@BOTH_BACKENDS
async def test_pulled_ignore_file_hiding_new_files_is_reported_once(remote: Remote,
                                                                     start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    name = remote.write_ignore_file(b, "*.log")
    remote.commit(b, "ignore logs", push=True)
    engine, rec = await start_engine(a, poll_interval=0.3)
    await rec.until(lambda: (a / name).exists(), what="the ignore file pulled")
    for i in range(3):
        (a / f"run {i}.log").write_text("never synced\n")
    await rec.until(lambda: [e for e in rec.activities if f"ignored by {name}" in e.summary],
                    timeout=30, what="reported")
    (a / "run 4.log").write_text("also ignored\n")
    (a / "README.txt").write_text("tracked files still sync\n")
    await rec.until(lambda: remote.tree_files().get("README.txt")
                    == b"tracked files still sync\n", timeout=30, what="pushed")
    reports = [e for e in rec.activities if f"ignored by {name}" in e.summary]
    assert len(reports) == 1 and "3 new files" in reports[0].summary, reports
    assert not any(n.endswith(".log") for n in remote.tree_names())
