"""The control commands against the tray app (offscreen, real engine): the same socket
and answers as `run --headless`; what a command changes shows in the tray."""

from __future__ import annotations

import json
import os
from pathlib import Path

from autosync_gui.config import load_config
from autosync_gui.engine.events import FolderState, TransferDirection, TransferProgress
from autosync_gui.ui.icons import TrayState
from tests.control.cli_helpers import autosync_async, commit_at
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.qt import until
from tests.ui.helpers import remote_tree


async def _ready(app: object, folder: Path) -> None:
    sync = app.engine.folder(folder)  # type: ignore[attr-defined]
    await until(lambda: sync.ready.is_set() and sync.state == FolderState.IDLE, what="ready")


async def test_every_command_against_the_tray_app(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    cfg = app.config_path
    await _ready(app, a)
    status = await autosync_async("status", "--json", config=cfg)
    assert status.code == 0, status.err
    assert status.json["instance"]["mode"] == "tray"
    assert status.json["instance"]["host"] == "laptop"
    assert [f["path"] for f in status.json["folders"]] == [str(a)]

    seen: list[tuple[FolderState, str, TrayState, str]] = []
    app.signals.stateChanged.connect(  # after the tray's own slot: the tray is updated
        lambda _p, state, detail: seen.append((state, detail, app.tray.state,
                                               app.tray.tooltip())))
    paused = await autosync_async("pause", "--for", "1s", config=cfg, cwd=a)
    assert paused.code == 0 and paused.out.startswith(f"paused {a} until ")
    folder = app.engine.folder(a)
    await until(lambda: not folder.paused, timeout=15, what="resumed on time")
    await until(lambda: app.tray.state == TrayState.IDLE, what="the tray shows it")
    state, detail, tray_state, tooltip = seen[0]
    assert (state, tray_state) == (FolderState.PAUSED, TrayState.PAUSED)
    assert detail.startswith("until ") and f"paused ({detail})" in tooltip, \
        "the tray says when it resumes"

    assert (await autosync_async("pause", config=cfg)).code == 0
    (a / "notes.txt").write_text("one\n")
    synced = await autosync_async("sync-now", config=cfg, cwd=a)
    assert synced.out.strip() == f"{a} was paused: resumed it, syncing now"
    await until(lambda: remote_tree(remote).get("notes.txt") == b"one\n", what="synced")
    resumed = await autosync_async("resume", config=cfg)
    assert resumed.code == 0 and "was not paused" in resumed.out

    (a / "notes.txt").write_text("two\n")
    await until(lambda: remote_tree(remote).get("notes.txt") == b"two\n", what="second")
    activity = await autosync_async("activity", "-n", "3", "--json", config=cfg)
    events = [json.loads(line) for line in activity.out.splitlines()]
    assert [e["kind"] for e in events][-2:] == ["committed", "pushed"]
    versions = await autosync_async("versions", "notes.txt", "--json", config=cfg, cwd=a)
    assert [v["host"] for v in versions.json["versions"]] == ["laptop", "laptop"]
    restored = await autosync_async("restore", "notes.txt", config=cfg, cwd=a)
    assert restored.code == 0, restored.err
    assert (a / "notes.txt").read_text() == "one\n"
    assert git(a, "log", "-1", "--format=%s").startswith("restored notes.txt as of ")
    (a / "notes.txt").unlink()
    await until(lambda: "notes.txt" not in remote_tree(remote), what="deleted")
    deleted = await autosync_async("deleted", "--json", config=cfg)
    assert [f["path"] for f in deleted.json["files"]] == ["notes.txt"]
    assert (await autosync_async("conflicts", config=cfg)).out.strip() == "no open conflicts"

    await app.shutdown()
    assert (await autosync_async("status", config=cfg)).code == 3


async def test_conflicts_and_keep_against_the_tray_app(remote: Remote, start_app) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    (b / "README.txt").write_text("b's edit\n")
    commit_at(b, "b edits", "2020-01-01T12:00:00+00:00")
    (a / "README.txt").write_text("a's edit\n")
    app = await start_app(a)
    cfg = app.config_path
    folder = app.engine.folder(a)
    await until(lambda: folder.conflicts, what="the conflict")
    listed = await autosync_async("conflicts", "--json", config=cfg)
    (conflict,) = listed.json["conflicts"]
    assert (conflict["kept_host"], conflict["copy_host"], conflict["mine"]) == (
        "laptop", "Test-b", "path")
    missing = await autosync_async("keep", "README.txt", config=cfg, cwd=a)
    assert missing.code == 2 and "one of the arguments --mine --theirs --both" in missing.err
    kept = await autosync_async("keep", conflict["copy"], "--both", config=cfg, cwd=a)
    assert kept.code == 0, kept.err
    assert (a / "README.txt").read_text() == "a's edit\n"
    renamed = a / conflict["copy"].replace("conflict from ", "")
    assert renamed.read_text() == "b's edit\n"
    await until(lambda: not folder.conflicts and app.tray.state != TrayState.CONFLICT,
                what="settled in the tray")
    assert (await autosync_async("conflicts", config=cfg)).out.strip() == "no open conflicts"


async def test_status_shows_a_transfer_under_way(remote: Remote, start_app) -> None:
    """The engine's transfer state, fed by a TransferProgress event through its own
    observer hub (a transfer of a fixed size, so the command sees it still running)."""
    a = remote.clone("a")
    app = await start_app(a)
    cfg = app.config_path
    await _ready(app, a)
    idle = await autosync_async("status", "--json", config=cfg)
    assert idle.json["folders"][0]["transfer"] is None
    app.engine.hub.transfer_progress(TransferProgress(
        folder=a, direction=TransferDirection.DOWNLOAD, what="git fetch",
        done_bytes=120_000_000, total_bytes=1_500_000_000, rate=12_000_000.0))
    status = await autosync_async("status", "--json", config=cfg)
    transfer = status.json["folders"][0]["transfer"]
    assert transfer["direction"] == "download" and transfer["what"] == "git fetch"
    assert (transfer["done_bytes"], transfer["total_bytes"]) == (120_000_000, 1_500_000_000)
    assert transfer["fraction"] == 0.08 and transfer["rate"] == 12_000_000.0
    assert transfer["description"] == "receiving 120 MB of 1.5 GB (8%), 12.0 MB/s"
    human = await autosync_async("status", config=cfg)
    assert "  receiving 120 MB of 1.5 GB (8%), 12.0 MB/s (git fetch)" in human.out.splitlines()
    app.engine.hub.transfer_progress(TransferProgress(
        folder=a, direction=TransferDirection.DOWNLOAD, what="git fetch",
        done_bytes=1_500_000_000, total_bytes=1_500_000_000, rate=None, finished=True))
    done = await autosync_async("status", "--json", config=cfg)
    assert done.json["folders"][0]["transfer"] is None


async def test_large_file_choices_from_a_terminal(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a, large_file_size=100_000)
    cfg = app.config_path
    folder = app.engine.folder(a)
    await _ready(app, a)
    (a / "raw take.mov").write_bytes(os.urandom(200_000))
    (a / "final.mov").write_bytes(os.urandom(200_000))
    await until(lambda: len(folder.large_files_waiting) == 2, what="both waiting")
    status = await autosync_async("status", "--json", config=cfg)
    assert status.json["folders"][0]["large_files_waiting"] == [
        {"path": "final.mov", "size": 200_000, "absolute": str(a / "final.mov")},
        {"path": "raw take.mov", "size": 200_000, "absolute": str(a / "raw take.mov")}]
    human = await autosync_async("status", config=cfg)
    assert (f"  large file waiting: raw take.mov (200.0 kB), not in history until you "
            f"choose: autosync large-file '{a / 'raw take.mov'}' --dont-sync (or "
            "--sync-anyway)") in human.out.splitlines()

    not_waiting = await autosync_async("large-file", "notes.txt", "--sync-anyway", config=cfg,
                                       cwd=a)
    assert not_waiting.code == 2
    assert not_waiting.error_line == ("autosync: notes.txt is not a large file waiting for a "
                                      "choice (waiting: final.mov, raw take.mov); `autosync "
                                      "status` lists them")
    neither = await autosync_async("large-file", "final.mov", config=cfg, cwd=a)
    assert neither.code == 2 and "--dont-sync --sync-anyway" in neither.error_line

    left_out = await autosync_async("large-file", "raw take.mov", "--dont-sync", config=cfg,
                                    cwd=a)
    assert left_out.code == 0, left_out.err
    assert left_out.out.strip() == (f"raw take.mov is not synced: /raw\\ take.mov added to the "
                                    f"ignore patterns of {a}")
    assert "/raw\\ take.mov" in load_config(cfg).folders[0].ignore
    synced = await autosync_async("large-file", "final.mov", "--sync-anyway", config=cfg, cwd=a)
    assert synced.code == 0 and synced.out.strip() == "syncing final.mov: it enters history"
    await until(lambda: "final.mov" in remote.tree_names(), what="final.mov synced")
    assert "raw take.mov" not in remote.tree_names()
    await until(lambda: "large file" not in app.tray.tooltip(), what="the tray settled")
    status = await autosync_async("status", "--json", config=cfg)
    assert status.json["folders"][0]["large_files_waiting"] == []
