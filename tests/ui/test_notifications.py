"""Desktop notifications reach a notification server on the real session bus, coalesced
and filtered by level; without a server they fall back to the tray balloon."""

from __future__ import annotations

import asyncio
from pathlib import Path

from autosync_gui.engine.events import Activity, ActivityKind
from autosync_gui.ui.notifications import Message, Notifier
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.qt import next_signal, signal_future


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


async def test_level_comes_from_config(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a, notifications="important")
    assert app.notifier.level == "important"
