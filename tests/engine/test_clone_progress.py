"""A first clone that takes a while: progress as it runs, Cancel that stops it at once,
a stalled server that is an error after N quiet seconds (never a limit on total time),
and nothing left behind either way, so the same set-up can simply be run again. Against a
real `git daemon` frozen with SIGSTOP mid-clone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from autosync_gui.engine import setup
from autosync_gui.engine.progress_run import Progress, parse_progress
from autosync_gui.engine.remote import RemoteError, RemoteProblem
from tests.fixtures.git_daemon import FILES, GitDaemon


@pytest.mark.parametrize(("line", "phase", "percent", "rate"), [
    ("Receiving objects:  45% (1350/3000), 14.20 MiB | 7.10 MiB/s", "Receiving objects", 45,
     "14.20 MiB | 7.10 MiB/s"),
    ("Receiving objects: 100% (3000/3000), 35.10 MiB | 9.80 MiB/s, done.",
     "Receiving objects", 100, "35.10 MiB | 9.80 MiB/s"),
    ("remote: Counting objects: 100% (5/5), done.", "Counting objects", 100, ""),
    ("Resolving deltas:   0% (0/12)", "Resolving deltas", 0, ""),
    ("Cloning into '/tmp/x'...", "", None, ""),
])
def test_progress_lines(line: str, phase: str, percent: int | None, rate: str) -> None:
    progress = parse_progress(line)
    assert (progress.phase, progress.percent, progress.rate) == (phase, percent, rate)


def _clone_in_thread(url: str, folder: Path, **kwargs: object
                     ) -> tuple[threading.Thread, list[BaseException], list[Progress],
                                threading.Event]:
    errors: list[BaseException] = []
    seen: list[Progress] = []
    first = threading.Event()

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.phase == "Receiving objects":
            first.set()

    def run() -> None:
        try:
            setup.clone_remote(url, folder, progress=progress, **kwargs)  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors, seen, first


def test_clone_shows_objects_and_bytes(git_daemon: GitDaemon, tmp_path: Path) -> None:
    seen: list[Progress] = []
    folder = tmp_path / "Big"
    setup.clone_remote(git_daemon.url, folder, progress=seen.append)
    receiving = [p for p in seen if p.phase == "Receiving objects"]
    assert receiving and receiving[-1].percent == 100 and receiving[-1].total > FILES
    assert any("MiB" in p.rate or "KiB" in p.rate for p in receiving), "bytes so far shown"
    assert any(p.rate.endswith("/s") for p in receiving), "and the rate"
    assert len({p.percent for p in receiving}) > 2, "progress as it runs, not only the end"
    assert len(list((folder / "files").iterdir())) == FILES


def test_cancel_stops_at_once_and_leaves_nothing(git_daemon: GitDaemon, tmp_path: Path) -> None:
    folder = tmp_path / "Big"
    cancel = threading.Event()
    thread, errors, _seen, first = _clone_in_thread(git_daemon.url, folder, cancel=cancel)
    try:
        assert first.wait(30), "the clone started receiving"
        git_daemon.freeze()  # nothing more arrives: only Cancel can end it now
        cancel.set()
        thread.join(10)
        assert not thread.is_alive(), "Cancel stops the clone at once"
    finally:
        git_daemon.thaw()
        thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], setup.SetupCancelled)
    assert not folder.exists(), "what the clone created is gone"
    setup.clone_remote(git_daemon.url, folder)  # Finish again: it simply works
    assert (folder / "files").is_dir()


def test_stalled_server_is_an_error_after_quiet_seconds(git_daemon: GitDaemon,
                                                        tmp_path: Path) -> None:
    folder = tmp_path / "Existing"
    folder.mkdir()  # an empty folder the user made: it stays, emptied of the clone
    thread, errors, _seen, first = _clone_in_thread(git_daemon.url, folder, stall_timeout=2.0)
    try:
        assert first.wait(30), "the clone started receiving"
        git_daemon.freeze()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        git_daemon.thaw()
        thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], RemoteError)
    assert errors[0].problem is RemoteProblem.UNREACHABLE
    assert "stalled: no data for 2 s" in str(errors[0])
    assert folder.is_dir() and list(folder.iterdir()) == [], "the user's folder stays"
