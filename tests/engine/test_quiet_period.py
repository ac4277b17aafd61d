"""The adaptive quiet period: a lone save commits at once, bursts and steady saving
coalesce, a file still being written is never committed half-written.

The first tests drive the bookkeeping with explicit times (no clock, no sleeping); the rest
run the real engine on real files, with real child processes holding files open for
writing (and rsync), and await what it reports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autosync_gui.engine import quiet_period
from autosync_gui.engine.events import ActivityKind
from autosync_gui.engine.quiet_period import LONE_FILES, SETTLE, Change, QuietPeriod
from tests.engine.test_faults import _wait, _write_config, headless, log_of, stop
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.writers import (
    SlowWriter,
    blob_size,
    commits_touching,
    move_folder_in,
    paths_ever_committed,
)


# ---------------------------------------------------------------- the bookkeeping
def test_lone_save_is_due_after_the_settle_time() -> None:
    q = QuietPeriod(commit_delay=60.0)
    q.change("notes.txt", Change.WRITTEN, 100.0)
    q.change("notes.txt", Change.CLOSED, 100.001)
    assert q.due(100.002) == pytest.approx(100.001 + SETTLE)


def test_change_soon_after_another_waits_for_commit_delay() -> None:
    q = QuietPeriod(commit_delay=1.0)
    q.change("a.txt", Change.CLOSED, 10.0)
    assert q.due(10.0) == pytest.approx(10.0 + SETTLE)
    assert q.take(10.1) == set()
    q.change("a.txt", Change.CLOSED, 10.2)  # saved again 0.2 s later: steady saving
    assert q.due(10.2) == pytest.approx(11.2)


def test_many_files_are_a_burst_not_a_lone_save() -> None:
    q = QuietPeriod(commit_delay=1.0)
    for i in range(LONE_FILES + 1):
        q.change(f"f{i}", Change.CLOSED, 5.0)
    assert q.due(5.0) == pytest.approx(6.0)


def test_file_open_for_writing_waits_then_is_held_back_at_the_cap() -> None:
    q = QuietPeriod(commit_delay=1.0)
    t = 0.0
    q.change("big.bin", Change.WRITTEN, t)
    assert q.due(t) == pytest.approx(1.0)  # not closed: the whole commit_delay
    while t < q.cap:  # still growing, never quiet
        t += 0.25
        q.change("big.bin", Change.WRITTEN, t)
    assert q.due(t) == pytest.approx(q.cap)  # the cap ...
    assert q.take(t) == {"big.bin"}  # ... offers it to be held back
    q.held_back(t)
    q.change("big.bin", Change.WRITTEN, t + 0.1)  # still growing: still the whole quiet
    assert q.due(t + 0.1) == pytest.approx(t + 1.1)
    q.change("big.bin", Change.CLOSED, t + 0.2)  # closed at last: like a lone save
    assert q.due(t + 0.2) == pytest.approx(t + 0.2 + SETTLE)


def test_file_unchanged_for_commit_delay_is_no_longer_held() -> None:
    q = QuietPeriod(commit_delay=1.0)
    q.change("big.bin", Change.WRITTEN, 0.0)
    assert q.due(0.5) == pytest.approx(1.0)
    assert q.take(1.0) == set()


def test_rescan_never_commits_at_once() -> None:
    q = QuietPeriod(commit_delay=2.0)
    q.change("", Change.UNKNOWN, 0.0)
    assert q.due(0.0) == pytest.approx(2.0)


# ---------------------------------------------------------------- the engine
async def test_lone_save_commits_long_before_commit_delay(remote: Remote, start_engine) -> None:
    """commit_delay is an hour: only the quick path for a lone save can commit this."""
    a = remote.clone("a")
    engine, rec = await start_engine(a, commit_delay=3600.0, push_delay=0.0)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    (a / "notes.txt").write_text("saved once\n")
    await rec.until(lambda: remote.tree_files().get("notes.txt") == b"saved once\n",
                    what="lone save committed and pushed")


async def test_burst_still_coalesces(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a, commit_delay=1.0, push_delay=0.0)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    for i in range(500):
        (a / f"burst-{i:03}.txt").write_text(f"{i}\n")
    await rec.until(lambda: len(remote.tree_names()) == 501, what="500 files on the remote")
    assert len(rec.of(ActivityKind.COMMITTED)) <= 2


def test_steady_saving_coalesces(remote: Remote, tmp_path: Path) -> None:
    """A save every 0.1 s for 2.5 s, by a separate process (so its pace is its own): at
    most two commits (the first save alone, the rest once they stop)."""
    a = remote.clone("a")
    cfg = _write_config(tmp_path, a)
    cfg.write_text(cfg.read_text().replace("commit_delay = 0.3", "commit_delay = 1.0"))
    script = ("import sys, time\n"
              "for i in range(25):\n"
              "    open(sys.argv[1], 'w').write(f'save {i}\\n')\n"
              "    time.sleep(0.1)  # the pace of the saves\n")
    with headless(cfg) as proc:
        _wait(lambda: "ready:" in log_of(cfg), what="started")
        before = int(git(a, "rev-list", "--count", "HEAD"))
        subprocess.run([sys.executable, "-c", script, str(a / "typing.txt")], check=True)
        _wait(lambda: remote.tree_files().get("typing.txt") == b"save 24\n", what="last save")
        stop(proc, cfg)
    assert int(git(a, "rev-list", "--count", "HEAD")) - before <= 2


async def test_growing_file_is_held_back_until_closed(remote: Remote, start_engine) -> None:
    """A process writes big.bin chunk by chunk; a commit forced meanwhile (Sync now, a
    notice from a peer) takes the other changes and leaves big.bin for later."""
    a = remote.clone("a")
    engine, rec = await start_engine(a, commit_delay=1.0, push_delay=0.0)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    writer = SlowWriter(a / "big.bin", chunks=60, gap=0.05, close_when_done=True)
    try:
        writer.wait_chunk(10)
        (a / "other.txt").write_text("saved meanwhile\n")
        engine.sync_now(a)
        await rec.until(lambda: "other.txt" in remote.tree_names(), what="other.txt pushed")
        assert "big.bin" not in remote.tree_names()
        await rec.until(lambda: len(remote.tree_files().get("big.bin", b"")) == writer.size,
                        timeout=30, what="big.bin complete")
    finally:
        writer.kill()
    for commit in commits_touching(a, "big.bin"):
        assert blob_size(a, commit, "big.bin") == writer.size


async def test_file_open_but_quiet_for_commit_delay_is_committed(remote: Remote,
                                                                 start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a, commit_delay=0.3, push_delay=0.0)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    writer = SlowWriter(a / "log.txt", chunks=1, size=20)
    try:
        writer.wait_chunk(0)
        await rec.until(lambda: remote.tree_files().get("log.txt") == b"A" * 20,
                        what="still open, unchanged for commit_delay: committed")
        assert writer.proc.poll() is None  # it really was open all along
    finally:
        writer.close()


@pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync")
async def test_slow_rsync_temporary_is_never_committed(remote: Remote, start_engine,
                                                       tmp_path: Path, monkeypatch) -> None:
    """Issue 15, item 2, scaled down: rsync writing its temporary for longer than the cap
    on the quiet period (2 s here instead of 30) is not committed at the cap."""
    monkeypatch.setattr(quiet_period, "CAP_MIN", 2.0)
    monkeypatch.setattr(quiet_period, "CAP_FACTOR", 2)
    source = tmp_path / "src" / "big.bin"
    source.parent.mkdir()
    source.write_bytes(bytes(range(256)) * 20_000)  # 5 MB: about 5 s at 1000 KB/s
    a = remote.clone("a")
    engine, rec = await start_engine(a, commit_delay=1.0, push_delay=0.0)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    proc = subprocess.Popen(["rsync", "--bwlimit=1000", str(source), str(a) + "/"])
    try:
        await rec.until(lambda: proc.poll() is not None, timeout=60, what="rsync done")
        assert proc.returncode == 0
        await rec.until(lambda: "big.bin" in remote.tree_names(), what="big.bin pushed")
    finally:
        if proc.poll() is None:
            proc.kill()
    committed = paths_ever_committed(a)
    assert not [p for p in committed if p.startswith(".big.bin.")], committed
    for commit in commits_touching(a, "big.bin"):
        assert blob_size(a, commit, "big.bin") == source.stat().st_size


async def test_folder_moved_in_waits_for_commit_delay(remote: Remote, start_engine) -> None:
    """Files that arrive inside a folder moved in were written before any watch saw them:
    not a lone save. (Other tests rely on this to hold a change back.)"""
    a = remote.clone("a")
    engine, rec = await start_engine(a, commit_delay=3600.0)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    move_folder_in(a, "inbox", {"note.txt": b"moved in\n"})
    (a / "lone.txt").write_text("not alone: the folder moved in just before\n")
    await rec.until(lambda: engine.folder(a).state.value == "pending", what="pending")
    engine.sync_now(a)
    await rec.until(lambda: {"inbox/note.txt", "lone.txt"} <= remote.tree_names(),
                    what="committed by Sync now")
    assert len(rec.of(ActivityKind.COMMITTED)) == 1


async def test_file_being_written_at_start_waits(remote: Remote, start_engine) -> None:
    """A download still running when autosync starts: no event said it is open, /proc
    does; the start-up commit leaves it for later."""
    a = remote.clone("a")
    writer = SlowWriter(a / "download.bin", chunks=2, size=1000, gap=0.01)
    try:
        writer.wait_chunk(1)  # written, still open for writing
        (a / "other.txt").write_text("made before the start\n")
        engine, rec = await start_engine(a, commit_delay=60.0)
        await rec.until(lambda: "other.txt" in remote.tree_names(), what="start-up commit")
        assert "download.bin" not in remote.tree_names()
        writer.close()
        await rec.until(lambda: len(remote.tree_files().get("download.bin", b"")) == 2000,
                        what="committed once closed")
    finally:
        writer.kill()
