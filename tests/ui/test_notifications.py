"""Desktop notifications reach a notification server on the real session bus, coalesced
and filtered by level; without a server they fall back to the tray balloon."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from autosync_gui.engine.events import Activity, ActivityKind
from autosync_gui.ui.notifications import Message, Notifier
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.qt import next_signal, signal_future, until


def pulled(folder: Path, name: str) -> Activity:
    return Activity(folder=folder, kind=ActivityKind.PULLED, summary=f"pulled {name}",
                    files=(name,), host="desktop")


async def test_burst_of_500_is_one_notification(remote: Remote, start_app,
                                                notification_server) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    sent = signal_future(app.notifier.sent)
    for i in range(500):  # through the engine's own observer hub, as the engine reports
        app.engine.hub.activity(pulled(a, f"photos/{i:03}.jpg"))
    await asyncio.wait_for(sent, 10)
    (message,) = notification_server.messages
    assert message.app_name == "autosync"
    assert "500 files updated from desktop" in message.body
    assert app.notifier._pending == []


async def test_real_pull_notifies(remote: Remote, start_app, notification_server) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    other = remote.clone("other")
    (other / "from-desktop.txt").write_text("hello\n")
    git(other, "add", "-A")
    git(other, "-c", "user.name=d", "-c", "user.email=d@x", "commit", "-qm", "desktop edit")
    git(other, "push", "-q")
    received = signal_future(notification_server.received)
    app.tray.folder_actions[(a, "sync")].trigger()
    message = (await asyncio.wait_for(received, 20))[0]
    assert "from-desktop.txt" in message.body
    assert message.hints["urgency"] == 1


async def test_level_important_drops_ordinary_changes(notification_server, qapp) -> None:
    notifier = Notifier("important", delay_ms=10)
    folder = Path("/tmp/f")
    notifier.activity(pulled(folder, "a.txt"))
    assert notifier._pending == []
    sent = signal_future(notifier.sent)
    notifier.activity(Activity(folder=folder, kind=ActivityKind.ERROR,
                               summary="remote: authentication failed"))
    await asyncio.wait_for(sent, 10)
    (message,) = notification_server.messages
    assert "authentication failed" in message.body
    assert message.hints["urgency"] == 2


async def test_level_none_is_silent(qapp) -> None:
    notifier = Notifier("none", delay_ms=10)
    notifier.activity(Activity(folder=Path("/tmp/f"), kind=ActivityKind.ERROR, summary="x"))
    assert notifier._pending == []


async def test_without_server_falls_back_to_the_tray(qapp) -> None:
    shown: list[Message] = []
    notifier = Notifier("all", delay_ms=10)
    notifier.fallback = shown.append
    notifier.activity(pulled(Path("/tmp/f"), "a.txt"))
    await next_signal(notifier.sent, 10)
    assert [m.summary for m in shown] == ["autosync: files updated"]


async def test_large_file_without_a_server_says_where_to_choose(qapp) -> None:
    shown: list[Message] = []
    notifier = Notifier("important", delay_ms=10)
    notifier.fallback = shown.append
    folder = Path("/tmp/f")
    for i in range(5):
        notifier.activity(Activity(folder=folder, kind=ActivityKind.LARGE_FILE,
                                   summary="…", files=(f"film {i}.mkv",), size=1_500_000_000))
    await next_signal(notifier.sent, 10)
    await until(lambda: len(shown) == 4, what="four notices")
    # each goes out on its own D-Bus call; the bus's refusals may come back in any order
    by_file = {m.file: m for m in shown}
    assert by_file["film 0.mkv"].body == (
        "film 0.mkv (1.5 GB) will be kept in history; every saved version adds about "
        "1.5 GB on the server and on each machine. Choose in the activity window (tray "
        "menu, Activity…)")
    assert {"film 0.mkv", "film 1.mkv", "film 2.mkv"} <= set(by_file)
    rest = [m for m in shown if m.file not in {"film 0.mkv", "film 1.mkv", "film 2.mkv"}]
    assert len(rest) == 1 and rest[0].body.startswith("film 3.mkv, film 4.mkv wait for "
                                                      "your choice")


async def test_level_comes_from_config(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a, notifications="important")
    assert app.notifier.level == "important"


async def test_full_file_names_never_cut_at_spaces(remote: Remote, start_app,
                                                   notification_server) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    other = remote.clone("other")
    (other / "my notes.txt").write_text("hello\n")
    (other / "bad\nname.txt").write_text("x\n")
    git(other, "add", "-A")
    git(other, "-c", "user.name=d", "-c", "user.email=d@x", "commit", "-qm", "desktop edit")
    git(other, "push", "-q")
    received = signal_future(notification_server.received)
    app.engine.sync_now(a)
    message = (await asyncio.wait_for(received, 20))[0]
    assert "my notes.txt" in message.body
    assert "bad\\nname.txt" in message.body, "a newline in a name is escaped"
    assert "\n" not in message.body


async def test_conflict_notification_withdrawn_once_settled(remote: Remote, start_app,
                                                            notification_server) -> None:
    from tests.ui.test_conflicts import make_conflict

    a = make_conflict(remote)
    shown = signal_future(notification_server.received, when=lambda m: "onflict" in m.summary)
    app = await start_app(a)
    message = (await asyncio.wait_for(shown, 20))[0]
    ident = notification_server.id_of(message)
    dialog = app.conflict_dialog
    await until(lambda: dialog.tree.topLevelItemCount() == 1 or dialog.refresh(),
                what="listed")
    closed = signal_future(notification_server.closed)
    dialog.keep_this.click()
    assert (await asyncio.wait_for(closed, 10))[0] == ident


async def test_error_notification_withdrawn_when_syncing_again(
        remote: Remote, start_app, notification_server) -> None:
    a = remote.clone("a")
    moved = remote.bare.with_name("moved.git")
    remote.bare.rename(moved)  # an unplugged disk
    shown = signal_future(notification_server.received, when=lambda m: "attention" in m.summary)
    app = await start_app(a)
    message = (await asyncio.wait_for(shown, 20))[0]
    assert str(remote.bare) in message.body
    closed = signal_future(notification_server.closed)
    moved.rename(remote.bare)
    app.engine.sync_now(a)
    assert (await asyncio.wait_for(closed, 20))[0] == notification_server.id_of(message)
    assert app.notifier.shown == {}


async def test_the_tray_log_records_every_activity(remote: Remote, start_app,
                                                   caplog) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="autosync")
    a = remote.clone("a")
    app = await start_app(a)
    committed = signal_future(app.signals.activityHappened,
                              when=lambda e: e.kind == ActivityKind.PUSHED)
    (a / "logged.txt").write_text("x\n")
    await asyncio.wait_for(committed, 20)
    lines = [r.getMessage() for r in caplog.records if r.name == "autosync"]
    assert any(line.endswith("committed 1 file: A logged.txt") for line in lines), lines
    assert any("pushed to origin" in line for line in lines), lines


async def test_a_failed_open_gives_feedback(remote: Remote, start_app, notification_server,
                                            monkeypatch, tmp_path: Path) -> None:
    """The real xdg-open with no application for the file's type (empty XDG data
    folders, no browser): the user is told, naming the file."""
    for name in ("BROWSER", "XDG_CURRENT_DESKTOP", "DESKTOP_SESSION", "KDE_FULL_SESSION",
                 "GNOME_DESKTOP_SESSION_ID", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "nothing"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "nothing"))
    a = remote.clone("a")
    (a / "strange file.unknownext").write_text("?\n")
    app = await start_app(a)
    shown = signal_future(notification_server.received, when=lambda m: "open" in m.summary)
    app.tray.open_recent(a / "strange file.unknownext")
    message = (await asyncio.wait_for(shown, 20))[0]
    assert message.summary == "autosync: cannot open"
    assert f"No application could open {a / 'strange file.unknownext'}" in message.body
    assert "no method available" in message.body


async def test_large_file_notice_with_its_two_choices(remote: Remote, start_app,
                                                      notification_server) -> None:
    """A new large file on a remote without LFS: one notice naming what history costs,
    with *Don't sync this file* and *Sync it anyway*; pressing a button (the server's
    ActionInvoked signal on the real session bus) does it, and the notice is withdrawn."""
    from autosync_gui.config import load_config

    a = remote.clone("a")
    app = await start_app(a, large_file_size=100_000)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set(), what="ready")
    asked = signal_future(notification_server.received, when=lambda m: "large" in m.summary)
    (a / "holiday video.mp4").write_bytes(os.urandom(300_000))
    message = (await asyncio.wait_for(asked, 30))[0]
    assert message.summary == "autosync: large file in a"
    assert message.body == ("holiday video.mp4 (300 KB) will be kept in history; every "
                            "saved version adds about 300 KB on the server and on each "
                            "machine")
    assert message.buttons() == {"dont_sync": "Don't sync this file",
                                 "sync_anyway": "Sync it anyway", "default": "Activity"}
    assert message.timeout == 0, "it stays until answered"
    assert "holiday video.mp4" not in remote.tree_names()

    closed = signal_future(notification_server.closed)
    notification_server.press(message, "dont_sync")
    assert (await asyncio.wait_for(closed, 20))[0] == notification_server.id_of(message)
    assert folder.large_files_waiting == {}
    assert "/holiday\\ video.mp4" in folder.settings.ignore
    await until(lambda: "/holiday\\ video.mp4" in load_config(app.config_path).folders[0]
                .ignore, what="saved in the configuration")
    assert not await folder.pending_changes(), "ignored now, not pending"

    asked = signal_future(notification_server.received, when=lambda m: "large" in m.summary)
    (a / "keep this.iso").write_bytes(os.urandom(300_000))
    message = (await asyncio.wait_for(asked, 30))[0]
    assert message.body.startswith("keep this.iso (300 KB) will be kept in history")
    closed = signal_future(notification_server.closed)
    notification_server.press(message, "sync_anyway")
    await until(lambda: "keep this.iso" in remote.tree_names(), what="synced anyway")
    assert (await asyncio.wait_for(closed, 20))[0] == notification_server.id_of(message)
    assert "holiday video.mp4" not in remote.tree_names()


async def test_a_button_of_another_notification_does_nothing(remote: Remote, start_app,
                                                             notification_server) -> None:
    """ActionInvoked for an id autosync did not get back from its own Notify (another
    application's notification) is not acted on."""
    a = remote.clone("a")
    app = await start_app(a, large_file_size=100_000)
    folder = app.engine.folder(a)
    asked = signal_future(notification_server.received, when=lambda m: "large" in m.summary)
    (a / "video.mp4").write_bytes(os.urandom(300_000))
    message = (await asyncio.wait_for(asked, 30))[0]
    pressed = signal_future(app.notifier.actionInvoked)
    other = notification_server.Notify("mail", 0, "", "new mail", "hello", ["dont_sync", "x"],
                                       {}, -1)
    notification_server.press(notification_server.messages[-1], "dont_sync")
    assert other != notification_server.id_of(message)
    notification_server.press(message, "default")  # the notice itself: the activity window
    (_message, action) = await asyncio.wait_for(pressed, 20)
    assert action == "default"
    assert app.activity_window is not None and app.activity_window.isVisible()
    assert folder.large_files_waiting == {"video.mp4": 300_000}, "still waiting"
