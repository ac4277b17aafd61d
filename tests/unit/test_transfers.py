"""The engine's transfers under way and how one is described (pure)."""

from __future__ import annotations

from pathlib import Path

from autosync_gui.engine.events import FolderState, TransferDirection, TransferProgress
from autosync_gui.engine.transfers import RunningTransfers, describe

A, B = Path("/home/me/Documents"), Path("/home/me/Photos")


def event(folder: Path, done: int, total: int | None, *, rate: float | None = None,
          direction: TransferDirection = TransferDirection.DOWNLOAD,
          finished: bool = False) -> TransferProgress:
    return TransferProgress(folder=folder, direction=direction, what="git fetch",
                            done_bytes=done, total_bytes=total, rate=rate, finished=finished)


def test_describe() -> None:
    assert describe(event(A, 120_000_000, 1_500_000_000, rate=12_000_000.0)) == \
        "receiving 120 MB of 1.5 GB (8%), 12.0 MB/s"
    assert describe(event(A, 5_000_000, None, direction=TransferDirection.UPLOAD)) == \
        "sending 5.0 MB"
    assert describe(event(A, 900, 0)) == "receiving 900 bytes"


def test_one_transfer_per_folder_until_finished_or_cut() -> None:
    running = RunningTransfers()
    running.transfer_progress(event(A, 1, 10))
    running.transfer_progress(event(A, 5, 10))
    running.transfer_progress(event(B, 30, 30))
    latest = running.of(A)
    assert latest is not None and latest.done_bytes == 5, "the latest event counts"
    assert running.overall() == 35 / 40
    running.transfer_progress(event(B, 30, 30, finished=True))
    assert set(running.running) == {A}
    running.state_changed(A, FolderState.PUSHING, "")  # still moving data
    assert running.of(A) is not None
    running.state_changed(A, FolderState.OFFLINE, "cut")
    assert running.running == {} and running.overall() is None
    running.transfer_progress(event(A, 1, None))
    assert running.overall() is None, "a total unknown: no overall share"
    running.forget(A)
    assert running.of(A) is None
