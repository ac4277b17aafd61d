"""Offline remotes, catch-up at start, crashes: nothing is lost."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from autosync_gui.engine.events import ActivityKind, FolderState
from autosync_gui.engine.gitrepo import GitRepository
from tests.fixtures.git_remotes import BOTH_BACKENDS, Remote, commit, git
from tests.fixtures.waiting import poll
from tests.fixtures.writers import move_folder_in

pytestmark = pytest.mark.slow  # kill -9, restarts and offline remotes with real processes


@BOTH_BACKENDS
async def test_offline_keeps_committing_then_syncs(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: (a, FolderState.IDLE, "") in rec.states, what="started")
    hidden = remote.bare.with_name("hidden-remote")
    os.rename(remote.bare, hidden)  # the remote disappears (unplugged disk, network down)
    (a / "offline.txt").write_text("written offline\n")
    await rec.until(lambda: engine.folder(a).state == FolderState.OFFLINE, what="offline")
    assert "offline.txt" in remote.last_files(a)
    errors = rec.of(ActivityKind.ERROR)
    (a / "offline2.txt").write_text("more\n")
    await rec.until(lambda: "offline2.txt" in remote.last_files(a),
                    what="second offline commit")
    assert len(rec.of(ActivityKind.ERROR)) == len(errors), "one error line, not a flood"
    os.rename(hidden, remote.bare)
    await rec.until(lambda: "offline2.txt" in remote.tree_files(), timeout=30,
                    what="pushed after the remote came back (back-off retry)")
    await rec.until(lambda: engine.folder(a).state == FolderState.IDLE, what="idle")


@BOTH_BACKENDS
async def test_changes_made_while_stopped_are_caught_up(remote: Remote, start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    (b / "from-b.txt").write_text("b\n")
    remote.commit(b, "b", push=True)
    (a / "while-stopped.txt").write_text("a\n")
    engine, rec = await start_engine(a)
    await rec.until(lambda: "while-stopped.txt" in remote.tree_files()
                    and (a / "from-b.txt").exists(), what="catch-up")


@BOTH_BACKENDS
async def test_edit_during_pull_is_committed_afterwards(remote: Remote, start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    for i in range(400):
        (b / f"bulk-{i}.txt").write_text(str(i))
    remote.commit(b, "bulk", push=True)
    engine, rec = await start_engine(a)
    await rec.until(lambda: (a / "bulk-0.txt").exists(), what="pull started")
    (a / "mine.txt").write_text("saved while the pull ran\n")
    # tree_names, not tree_files: reading 401 blobs one git process each, on the loop,
    # at every check starved the engine under test (it took 20 s at load 7)
    await rec.until(lambda: "mine.txt" in remote.tree_names(), what="edit committed and pushed")


def test_stale_index_lock_and_interrupted_merge_recovered(remote: Remote) -> None:
    """The state a kill -9 leaves mid-merge: MERGE_HEAD, conflict markers, index.lock."""
    a, b = remote.clone("a"), remote.clone("b")
    (b / "README.txt").write_text("b's edit\n")
    commit(b, "b", push=True)
    (a / "README.txt").write_text("a's edit\n")
    git(a, "commit", "-qam", "a")
    git(a, "fetch", "-q")
    git(a, "merge", "-q", "origin/main", check=False)
    assert (a / ".git" / "MERGE_HEAD").exists()
    (a / "unsaved.txt").write_text("pending user work\n")
    (a / ".git" / "index.lock").write_text("")
    repo = GitRepository.open(a, "alpha")
    done = repo.recover()
    assert any("index.lock" in d for d in done) and any("merge" in d for d in done)
    assert not (a / ".git" / "index.lock").exists()
    assert not (a / ".git" / "MERGE_HEAD").exists()
    repo.commit_pending()
    repo.fetch()
    result = repo.integrate()
    assert result.conflicts
    assert (a / "unsaved.txt").read_text() == "pending user work\n"
    assert b"<<<<<<<" not in (a / "README.txt").read_bytes()
    repo.release()


def test_live_lock_is_not_removed(remote: Remote) -> None:
    a = remote.clone("a")
    lock = a / ".git" / "index.lock"
    with open(lock, "w"):  # a live process (us) holds it open, like a running git
        repo = GitRepository.open(a, "alpha")
        assert repo.recover() == []
        assert lock.exists()
        repo.release()
    lock.unlink()


def test_second_process_on_same_repo_refused(remote: Remote) -> None:
    a = remote.clone("a")
    first = GitRepository.open(a, "alpha")
    first.recover()
    second = GitRepository.open(a, "alpha")
    with pytest.raises(Exception, match="already synced by another autosync"):
        second.recover()
    first.release()


def _write_config(tmp: Path, folder: Path, **extra: object) -> Path:
    cfg = tmp / "config.toml"
    lines = ["[[folder]]", f'path = "{folder}"', "commit_delay = 0.3", "push_delay = 0.1",
             "poll_interval = 3600"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


@contextlib.contextmanager
def headless(cfg: Path) -> Iterator[subprocess.Popen]:
    """`autosync run --headless` as a real process (so kill -9 is real); its log goes to a
    file beside the config (a pipe nobody reads could fill up and stall it)."""
    log = open(cfg.with_suffix(".log"), "a")
    proc = subprocess.Popen([sys.executable, "-m", "autosync_gui", "run", "--headless",
                             "--config", str(cfg)], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def log_of(cfg: Path) -> str:
    return cfg.with_suffix(".log").read_text()


def stop(proc: subprocess.Popen, cfg: Path) -> None:
    """SIGTERM: commit what is pending, push once, exit 0."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log_of(cfg)


def kill_9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def _wait(condition, timeout: float = 30.0, what: str = "condition") -> None:
    # polling the file system: there is no event to await across processes (every 10 ms:
    # a kill -9 lands in the step it waits for; less often when the look runs git or hg)
    poll(condition, timeout, what, interval=0.01)


def _files_to_kill_in(remote: Remote) -> int:
    """Enough files that the step a kill -9 lands in takes a while: 3,000 for git; 1,000
    for hg, whose commit and merge take seconds for that many (3,000 cost 25 s of CPU)."""
    return 3000 if remote.kind == "git" else 1000


@BOTH_BACKENDS
def test_kill_9_during_commit_loses_nothing(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    cfg = _write_config(tmp_path, a)
    count = _files_to_kill_in(remote)
    with headless(cfg) as proc:
        _wait(lambda: "ready:" in log_of(cfg), what="started")
        for i in range(count):
            (a / f"f{i:04}.txt").write_text(f"content {i}\n")
        _wait(lambda: os.path.lexists(remote.lock_file(a)), timeout=30, what="commit running")
        kill_9(proc)
    with headless(cfg) as proc:
        _wait(lambda: len(remote.tree_names()) == count + 1, timeout=60,
              what="all files pushed")
        stop(proc, cfg)
    assert remote.is_clean(a)


@BOTH_BACKENDS
def test_kill_9_during_merge_loses_nothing(remote: Remote, tmp_path: Path) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    count = _files_to_kill_in(remote)
    for i in range(count):
        (b / f"incoming-{i:04}.txt").write_text(f"{i}\n")
    remote.commit(b, "incoming", push=True)
    (a / "local.txt").write_text("local work\n")
    cfg = _write_config(tmp_path, a)
    with headless(cfg) as proc:
        _wait(lambda: (a / "incoming-0000.txt").exists() or os.path.lexists(remote.lock_file(a)),
              what="merge running")
        kill_9(proc)
    with headless(cfg) as proc:
        _wait(lambda: "local.txt" in remote.tree_names() and len(remote.tree_names()) == count + 2
              and remote.is_clean(a)
              and remote.local_head(a) == remote.head(), timeout=60, what="converged")
        stop(proc, cfg)
    assert (a / "local.txt").read_text() == "local work\n"
    assert (a / f"incoming-{count - 1:04}.txt").read_text() == f"{count - 1}\n"


@BOTH_BACKENDS
def test_sigterm_commits_pending_and_pushes(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    cfg = _write_config(tmp_path, a)
    cfg.write_text(cfg.read_text().replace("commit_delay = 0.3", "commit_delay = 60"))
    with headless(cfg) as proc:
        _wait(lambda: "ready:" in log_of(cfg), what="started")
        move_folder_in(a, "inbox", {"pending.txt": b"not yet committed\n"})  # no lone save
        stop(proc, cfg)
    assert remote.tree_files().get("inbox/pending.txt") == b"not yet committed\n"
