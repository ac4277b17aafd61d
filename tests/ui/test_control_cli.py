"""The control commands against the tray app (offscreen, real engine): the same socket
and answers as `run --headless`; what a command changes shows in the tray."""

from __future__ import annotations

import json
from pathlib import Path

from autosync_gui.engine.events import FolderState
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
