"""The kernel's inotify watch limit and event-queue overflow: said once, never silent loss."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.test_faults import _wait, _write_config, headless, log_of, stop
from tests.fixtures.git_remotes import Remote, commit

pytestmark = pytest.mark.slow  # namespaces with tiny inotify limits, rescans, real processes


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_watch_limit_reported_once_and_rescans_keep_sync(remote: Remote, tmp_path: Path) -> None:
    """A real kernel limit: a user namespace whose max_inotify_watches is 20."""
    a = remote.clone("a")
    for i in range(60):
        (a / f"d{i:02}" / "deep").mkdir(parents=True)
        (a / f"d{i:02}" / "deep" / "keep.txt").write_text(str(i))
    cfg = _write_config(tmp_path, a)
    script = ("echo 20 > /proc/sys/user/max_inotify_watches && exec \"$0\" -m autosync_gui run "
              "--headless --config \"$1\"")
    proc = subprocess.Popen(["unshare", "-U", "-r", "sh", "-c", script, sys.executable, str(cfg)],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        while True:
            line = proc.stderr.readline()
            assert line, "autosync exited: " + "".join(lines)
            lines.append(line)
            if "ready:" in line:
                break
        (a / "d59" / "deep" / "unwatched.txt").write_text("seen by a rescan\n")
        _wait(lambda: "d59/deep/unwatched.txt" in remote.tree_names(), timeout=30,
              what="file in an unwatched folder synced by the periodic rescan")
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
        lines.append(rest or "")
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines)
    assert log.count("inotify watch limit reached") == 1, log
    assert "fs.inotify.max_user_watches" in log and "is 20" in log


def test_event_queue_overflow_triggers_rescan(remote: Remote, tmp_path: Path) -> None:
    """A real IN_Q_OVERFLOW: the process is stopped (SIGSTOP) while more events than the
    kernel queues (fs.inotify.max_queued_events) happen; the only real change is dropped,
    so only the overflow can tell autosync about it."""
    queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    a = remote.clone("a")
    noise = a / "noise"
    noise.mkdir()
    (noise / "keep.txt").write_text("so that the folder exists before autosync starts\n")
    commit(a, "noise folder", push=True)
    cfg = _write_config(tmp_path, a)
    with headless(cfg) as proc:
        _wait(lambda: "ready:" in log_of(cfg), what="started")
        proc.send_signal(signal.SIGSTOP)
        for i in range(queued // 2 + 100):  # editor swap files: ignored, but they fill the queue
            (noise / f".f{i}.swp").write_bytes(b"x")
        (a / "real.txt").write_text("only an overflow reports me\n")
        proc.send_signal(signal.SIGCONT)
        _wait(lambda: "real.txt" in remote.tree_names(), timeout=30, what="rescan after overflow")
        stop(proc, cfg)
