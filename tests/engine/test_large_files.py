"""Large files: progress of transfers, the notice before a large file enters history, git
tuned for big blobs, the engine's memory flat while it moves big files."""

from __future__ import annotations

import os
from pathlib import Path

from autosync_gui.engine.events import ActivityKind, TransferDirection
from autosync_gui.engine.progress import parse_progress
from tests.fixtures.git_remotes import Remote, git


def test_progress_lines_of_git_and_git_lfs_are_read() -> None:
    line = parse_progress("Writing objects:  45% (9/20), 1.20 GiB | 80.00 MiB/s")
    assert line is not None and line.moves_data and line.percent == 45
    assert line.done_bytes == int(1.2 * (1 << 30)) and line.rate == 80 * (1 << 20)
    lfs = parse_progress("Downloading LFS objects:  50% (1/2), 750 MB | 75 MB/s")
    assert lfs is not None and lfs.done_bytes == 750_000_000 and lfs.rate == 75_000_000
    counting = parse_progress("Counting objects: 100% (3/3), done.")
    assert counting is not None and not counting.moves_data
    assert parse_progress("To /tmp/remote.git") is None


async def test_push_and_fetch_report_progress(remote: Remote, start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    loose_before = _loose(b)
    engine_a, rec_a = await start_engine(a, hostname="alpha")
    engine_b, rec_b = await start_engine(b, hostname="beta")
    payload = os.urandom(3 << 20)
    (a / "photo.raw").write_bytes(payload)
    await rec_a.until(lambda: rec_a.of(ActivityKind.PUSHED), timeout=60, what="push from a")
    engine_b.sync_now(b)
    await rec_b.until(lambda: (b / "photo.raw").exists()
                      and (b / "photo.raw").stat().st_size == len(payload), timeout=60,
                      what="the file on b")
    await rec_b.until(lambda: any(p.finished for p in rec_b.progress), what="fetch done")
    uploads = [p for p in rec_a.progress if p.direction == TransferDirection.UPLOAD]
    assert uploads and uploads[-1].finished and uploads[-1].what == "git push"
    assert uploads[-1].folder == a
    assert uploads[-1].total_bytes is not None and uploads[-1].total_bytes >= len(payload)
    assert uploads[-1].done_bytes >= len(payload)
    downloads = [p for p in rec_b.progress if p.direction == TransferDirection.DOWNLOAD]
    assert downloads and downloads[-1].finished and downloads[-1].done_bytes >= len(payload)
    assert (b / "photo.raw").read_bytes() == payload
    assert _loose(b) == loose_before  # what b received stays packed


def _loose(clone: Path) -> int:
    return int(git(clone, "count-objects", "-v").splitlines()[0].split()[1])
