"""The activity window (issue 11, item 1) on the real engine and real repositories: opened
from the tray menu and by a left click, each folder's state, remote (no credentials), last
sync and disk use, the live list of what happened (commits, deletions, pulls), problems
with their fix, transfer progress in the window, the tooltip and the icon, what history
costs (the largest files), and new large files waiting for the user's choice."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

from PyQt6.QtWidgets import QProgressBar, QSystemTrayIcon

from autosync_gui.config import load_config
from autosync_gui.engine.events import (
    ActivityKind,
    FolderState,
    TransferDirection,
    TransferProgress,
)
from autosync_gui.engine.transfers import describe
from autosync_gui.ui.activity_window import ActivityWindow
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.qt import signal_future, until


def events(window: ActivityWindow) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(what, details, [(change, file)]) of each listed activity, newest first."""
    listed = []
    for i in range(window.events.topLevelItemCount()):
        item = window.events.topLevelItem(i)
        children = [(item.child(j).text(2), item.child(j).text(3))
                    for j in range(item.childCount())]
        listed.append((item.text(2), item.text(3), children))
    return listed


async def open_window(app) -> ActivityWindow:
    app.tray.activity_action.trigger()
    window = app.activity_window
    assert window is not None and window.isVisible()
    return window


async def test_opened_from_the_menu_and_a_left_click(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set() and folder.state == FolderState.IDLE,
                what="idle")
    assert app.tray.menu.actions()[0] is app.tray.activity_action
    window = await open_window(app)
    window.close()
    app.tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert app.activity_window is window and window.isVisible(), "a left click opens it"
    sized = signal_future(window.sizesShown)
    window.rebuild()
    await asyncio.wait_for(sized, 20)
    row = window.folder_item(a)
    assert row is not None
    assert row.text(1) == "up to date"
    assert row.text(2) == str(remote.bare)
    assert row.text(3) not in ("never", "")
    usage = window.sizes[a]
    assert usage.repository_bytes > 0 and usage.files >= 1
    assert row.text(5).endswith(f"in {usage.files:,} files")
    assert row.text(6) == "—"


async def test_live_list_of_commits_deletions_and_pulls(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    (a / "old notes.txt").write_text("to be deleted\n")
    git(a, "add", "-A")
    git(a, "commit", "-qm", "old notes")
    git(a, "push", "-q")
    app = await start_app(a)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set(), what="ready")
    window = await open_window(app)

    committed = signal_future(app.signals.activityHappened,
                              when=lambda e: e.kind == ActivityKind.COMMITTED)
    (a / "my report.txt").write_text("new\n")
    (a / "old notes.txt").unlink()
    await asyncio.wait_for(committed, 20)
    what, details, files = events(window)[0]
    assert what == "committed"
    assert sorted(files) == [("changed", "my report.txt"), ("deleted", "old notes.txt")]
    deleted = next(window.events.topLevelItem(0).child(j) for j in range(2)
                   if window.events.topLevelItem(0).child(j).text(2) == "deleted")
    assert deleted.font(3).strikeOut(), "a deletion looks like one"
    assert window.events.topLevelItem(0).text(0).startswith(
        datetime.now().astimezone().strftime("%Y-%m-%d")), "the time has its date"

    other = remote.clone("desktop")
    (other / "from desktop.txt").write_text("hello\n")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "desktop edit", "--trailer", "Autosync-Host: desktop")
    git(other, "push", "-q")
    pulled = signal_future(app.signals.activityHappened,
                           when=lambda e: e.kind == ActivityKind.PULLED)
    window.sync_button.click()  # Sync now, from the window
    await asyncio.wait_for(pulled, 20)
    await until(lambda: any(w == "pulled from desktop" for w, _d, _f in events(window)),
                what="the pull listed")
    what, details, files = next(e for e in events(window) if e[0] == "pulled from desktop")
    assert files == [("changed", "from desktop.txt")]

    # one file picked: its versions are one click away
    window.events.setCurrentItem(window.events.topLevelItem(
        [e[0] for e in events(window)].index("pulled from desktop")).child(0))
    assert window.versions_button.isEnabled()
    window.versions_button.click()
    versions = app.versions_windows[(a, "from desktop.txt")]
    if not versions.versions:
        await asyncio.wait_for(signal_future(versions.loaded), 10)
    assert [v.host for v in versions.versions] == ["desktop"]


async def test_problems_show_their_fix_and_no_credentials(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    git(a, "remote", "set-url", "origin", "https://alice:s3cret-token@127.0.0.1:9/files.git")
    app = await start_app(a)
    folder = app.engine.folder(a)
    await until(lambda: folder.error is not None, what="the remote fails")
    window = await open_window(app)
    row = window.folder_item(a)
    assert row is not None
    assert row.text(2) == "https://127.0.0.1:9/files.git"
    assert window.problems.isVisible()
    problem = window.problems.text()
    assert problem.startswith("a: ") and "127.0.0.1:9" in problem
    assert "s3cret" not in problem and "s3cret" not in row.text(2)
    errors = [e for e in events(window) if e[0] == "error"]
    assert errors and all("s3cret" not in d for _w, d, _f in errors)


def progress(folder: Path, direction: TransferDirection, done: int, total: int | None,
             rate: float | None, finished: bool = False) -> TransferProgress:
    what = "git push" if direction == TransferDirection.UPLOAD else "git fetch"
    return TransferProgress(folder=folder, direction=direction, what=what, done_bytes=done,
                            total_bytes=total, rate=rate, finished=finished)


async def test_transfer_progress_in_window_tooltip_and_icon(remote: Remote,
                                                            start_app) -> None:
    """The engine's TransferProgress events, through its own observer hub (the engine's
    transfer state first, then the UI), as a folder's transfer reports them."""
    a = remote.clone("a")
    app = await start_app(a)
    window = await open_window(app)
    before = app.tray.icon.icon().pixmap(64, 64).toImage()
    app.engine.hub.transfer_progress(progress(a, TransferDirection.UPLOAD, 120_000_000,
                                              1_500_000_000, 12_000_000.0))
    assert app.engine.transfers.of(a) is not None, "the engine keeps the state"
    row = window.folder_item(a)
    bar = window.folders.itemWidget(row, 6)
    assert isinstance(bar, QProgressBar)
    assert bar.format() == "sending 120 MB of 1.5 GB (8%), 12.0 MB/s"
    assert bar.value() == 80
    assert "sending 120 MB of 1.5 GB (8%)" in app.tray.tooltip()
    assert app.tray.icon.icon().pixmap(64, 64).toImage() != before, "the icon shows it"
    app.engine.hub.transfer_progress(progress(a, TransferDirection.UPLOAD, 1_500_000_000,
                                              1_500_000_000, None, finished=True))
    assert window.folders.itemWidget(row, 6) is None
    assert row.text(6) == "—"
    assert "sending" not in app.tray.tooltip()
    assert app.engine.transfers.of(a) is None

    # a download whose total git does not know: a busy bar; dropped when the folder
    # leaves the receiving state without a finished event (cut by an error)
    app.engine.hub.state_changed(a, FolderState.PULLING)
    app.engine.hub.transfer_progress(progress(a, TransferDirection.DOWNLOAD, 5_000_000,
                                              None, 2_500_000.0))
    bar = window.folders.itemWidget(row, 6)
    assert isinstance(bar, QProgressBar) and bar.maximum() == 0
    assert bar.format() == "receiving 5.0 MB, 2.5 MB/s"
    assert "receiving 5.0 MB, 2.5 MB/s" in app.tray.tooltip()
    app.engine.hub.state_changed(a, FolderState.OFFLINE, "the remote does not answer")
    assert app.engine.transfers.of(a) is None
    assert window.folders.itemWidget(row, 6) is None
    assert "receiving" not in app.tray.tooltip()


async def test_a_real_push_and_pull_show_progress(remote: Remote, start_app) -> None:
    """A 6 MB file sent to the bare remote and one received from it: the window's bar and
    the tooltip follow git's own progress, and nothing is left shown afterwards."""
    a = remote.clone("a")
    app = await start_app(a)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set() and folder.state == FolderState.IDLE,
                what="idle")
    window = await open_window(app)
    seen: list[tuple[TransferProgress, str, str]] = []  # event, tooltip, the bar's text

    def shown(event: TransferProgress) -> None:
        bar = window.folders.itemWidget(window.folder_item(a), 6)
        seen.append((event, app.tray.tooltip(),
                     bar.format() if isinstance(bar, QProgressBar) else ""))

    app.signals.transferProgress.connect(shown)  # after the window's and the tray's slots
    pushed = signal_future(app.signals.activityHappened,
                           when=lambda e: e.kind == ActivityKind.PUSHED)
    payload = os.urandom(6 << 20)
    (a / "film.raw").write_bytes(payload)
    await asyncio.wait_for(pushed, 60)
    sending = [(e, tip, text) for e, tip, text in seen
               if e.direction == TransferDirection.UPLOAD and not e.finished]
    assert sending, "git's progress reached the window"
    event, tip, text = sending[-1]
    assert text == describe(event) and text.startswith("sending ")
    assert describe(event) in tip
    finished = [e for e, _tip, _text in seen
                if e.direction == TransferDirection.UPLOAD and e.finished]
    assert finished and finished[-1].done_bytes >= len(payload)
    await until(lambda: folder.state == FolderState.IDLE, what="idle after the push")
    assert window.folders.itemWidget(window.folder_item(a), 6) is None
    assert "sending" not in app.tray.tooltip()

    other = remote.clone("desktop")
    (other / "song.wav").write_bytes(os.urandom(6 << 20))
    git(other, "add", "-A")
    git(other, "commit", "-qm", "desktop edit", "--trailer", "Autosync-Host: desktop")
    git(other, "push", "-q")
    seen.clear()
    pulled = signal_future(app.signals.activityHappened,
                           when=lambda e: e.kind == ActivityKind.PULLED)
    window.sync_button.click()
    await asyncio.wait_for(pulled, 60)
    receiving = [(e, tip, text) for e, tip, text in seen
                 if e.direction == TransferDirection.DOWNLOAD and not e.finished]
    assert receiving, "the fetch's progress reached the window"
    event, tip, text = receiving[-1]
    assert text == describe(event) and text.startswith("receiving ")
    assert describe(event) in tip
    await until(lambda: folder.state == FolderState.IDLE, what="idle after the pull")
    assert window.folders.itemWidget(window.folder_item(a), 6) is None
    assert app.engine.transfers.running == {}


async def test_storage_shows_the_largest_files_in_history(remote: Remote,
                                                          start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a, large_file_size=0)
    folder = app.engine.folder(a)
    pushed = signal_future(app.signals.activityHappened,
                           when=lambda e: e.kind == ActivityKind.PUSHED)
    (a / "disk image.iso").write_bytes(os.urandom(400_000))
    (a / "notes.txt").write_text("small\n")
    await asyncio.wait_for(pushed, 30)
    await until(lambda: folder.state == FolderState.IDLE, what="idle")
    storage = asyncio.get_running_loop().create_future()
    app.tray.activity_action.trigger()
    window = app.activity_window
    assert window is not None
    if a in window.storage:
        storage.set_result(None)
    else:
        window.storageShown.connect(lambda _p: storage.done() or storage.set_result(None))
    await asyncio.wait_for(storage, 30)
    report = window.storage[a]
    assert not isinstance(report, str), report
    assert report.largest[0] == ("disk image.iso", 400_000)
    top = window.largest.topLevelItem(0)
    assert top is not None and top.text(0) == "disk image.iso" and top.text(1) == "400 KB"
    assert window.storage_label.text().endswith("in the repository here")
    assert window.storage_box.title() == "History of a on this machine"


async def test_large_file_waits_in_the_window_until_answered(remote: Remote,
                                                             start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a, large_file_size=100_000)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set(), what="ready")
    window = await open_window(app)
    announced = signal_future(app.signals.activityHappened,
                              when=lambda e: e.kind == ActivityKind.LARGE_FILE)
    (a / "raw take.mov").write_bytes(os.urandom(200_000))
    (a / "notes.txt").write_text("shot list\n")
    await asyncio.wait_for(announced, 30)
    await until(lambda: "notes.txt" in remote.tree_names(), what="the small file synced")
    assert "raw take.mov" not in remote.tree_names(), "held until answered"
    assert window.waiting_box.isVisible()
    item = window.waiting.topLevelItem(0)
    assert item is not None and (item.text(0), item.text(1), item.text(2)) == (
        "a", "raw take.mov", "200 KB")
    assert "about 200 KB on the server and on each machine" in window.waiting_note.text()
    assert "1 large file waits for your choice" in app.tray.tooltip()

    window.dont_sync_button.click()
    await until(lambda: not folder.large_files_waiting and not window.waiting_box.isVisible(),
                what="answered")
    assert "/raw\\ take.mov" in folder.settings.ignore
    await until(lambda: "/raw\\ take.mov" in load_config(app.config_path).folders[0].ignore,
                what="the pattern saved in the configuration")

    announced = signal_future(app.signals.activityHappened,
                              when=lambda e: e.kind == ActivityKind.LARGE_FILE)
    (a / "final.mov").write_bytes(os.urandom(200_000))
    await asyncio.wait_for(announced, 30)
    await until(lambda: window.waiting.topLevelItemCount() == 1, what="listed")
    window.sync_anyway_button.click()
    await until(lambda: "final.mov" in remote.tree_names(), what="final.mov synced")
    assert "raw take.mov" not in remote.tree_names()
    assert not window.waiting_box.isVisible()
