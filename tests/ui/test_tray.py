"""The tray menu drives the real engine on real repositories."""

from __future__ import annotations

import asyncio

from autosync_gui import __version__
from autosync_gui.engine.events import FolderState
from autosync_gui.ui.icons import TrayState
from tests.fixtures.git_remotes import Remote
from tests.fixtures.qt import next_signal, until
from tests.fixtures.writers import move_folder_in
from tests.ui.helpers import remote_tree

SLOW = {"commit_delay": 3600.0}  # only a lone save commits by itself (not a folder moved in)


async def test_menu_lists_each_folder_with_its_actions(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    texts = [act.text() for act in app.tray.menu.actions()]
    assert any(t.startswith("a — ") for t in texts)
    for key in ("sync", "pause", "open", "history"):
        assert (a, key) in app.tray.folder_actions
    assert {"Add folder…", "Settings…", "Start at login", "About autosync", "Quit"} <= set(texts)
    assert "Recent changes" in texts


async def test_about_box_shows_the_version(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    app.tray.about_action.trigger()
    box = app.tray.about_box
    assert box is not None and box.isVisible()
    assert f"autosync {__version__}" in box.text()
    app.tray.about_action.trigger()  # a second click shows the same box again
    assert app.tray.about_box is box
    box.close()


async def test_sync_now_commits_and_pushes(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a, **SLOW)
    await until(lambda: app.engine.folder(a).last_sync, what="first sync")
    move_folder_in(a, "inbox", {"notes.txt": b"from the menu\n"})  # waits commit_delay
    await until(lambda: app.engine.folder(a).state == FolderState.PENDING, what="pending")
    app.tray.folder_actions[(a, "sync")].trigger()
    await until(lambda: "inbox/notes.txt" in remote_tree(remote), what="pushed by Sync now")
    assert remote_tree(remote)["inbox/notes.txt"] == b"from the menu\n"


async def test_pause_and_resume(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    pause = app.tray.folder_actions[(a, "pause")]
    assert pause.text() == "Pause"
    pause.trigger()
    assert app.engine.folder(a).paused
    await until(lambda: app.engine.folder(a).state == FolderState.PAUSED, what="paused")
    assert pause.text() == "Resume"
    assert app.tray.state == TrayState.PAUSED
    assert "paused" in app.tray.tooltip()
    (a / "while-paused.txt").write_text("wait for me\n")
    pause.trigger()
    assert not app.engine.folder(a).paused
    assert pause.text() == "Pause"
    await until(lambda: "while-paused.txt" in remote_tree(remote), what="pushed after resume")


async def test_quit_flushes_pending_changes(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a, **SLOW)
    await until(lambda: app.engine.folder(a).last_sync, what="first sync")
    move_folder_in(a, "inbox", {"last-words.txt": b"commit me before you go\n"})
    await until(lambda: app.engine.folder(a).state == FolderState.PENDING, what="pending")
    stopped = asyncio.ensure_future(next_signal(app.stopped))
    quitter = asyncio.ensure_future(app.wait_quit())
    app.tray.quit_action.trigger()
    await quitter
    await app.shutdown()
    await stopped
    assert remote_tree(remote)["inbox/last-words.txt"] == b"commit me before you go\n"


async def test_tooltip_shows_state_and_last_sync(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    await until(lambda: app.engine.folder(a).last_sync is not None, what="first sync")
    app.tray.refresh()
    tip = app.tray.tooltip()
    assert "a: up to date" in tip
    assert "last sync never" not in tip


async def test_recent_changes_open_the_file(remote: Remote, start_app, opened_urls) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    (a / "report.txt").write_text("new\n")
    await until(lambda: app.tray.recent, what="a recent change")
    actions = [act for act in app.tray.recent_menu.actions() if act.isEnabled()]
    assert actions[0].text().startswith("report.txt — you")
    actions[0].trigger()
    assert await opened_urls.wait(1) == [str(a / "report.txt")]


async def test_open_folder(remote: Remote, start_app, opened_urls) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    app.tray.folder_actions[(a, "open")].trigger()
    assert await opened_urls.wait(1) == [str(a)]


async def test_no_tray_shows_status_window(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    # offscreen has no system tray: after the retries the status window stands in
    window = app.tray.status_window
    assert window is not None and window.isVisible()
    assert "a: " in window.lines.text()
    assert window.menu_button.menu() is app.tray.menu
