"""Pause for a while from the tray: the choices, the tray showing when
it resumes, resuming on time, and "Sync now" on a paused folder asking first."""

from __future__ import annotations

from datetime import datetime, timedelta

from PyQt6.QtWidgets import QMessageBox

from autosync_gui.engine.events import FolderState
from autosync_gui.engine.folder import local_minute
from autosync_gui.ui.icons import TrayState
from tests.fixtures.git_remotes import Remote
from tests.fixtures.qt import signal_future, until
from tests.ui.helpers import remote_tree


async def test_pause_for_a_while_choices(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    folder = app.engine.folder(a)
    before = datetime.now().astimezone()
    app.tray.folder_actions[(a, "pause-15m")].trigger()
    assert folder.paused and folder.paused_until is not None
    assert timedelta(minutes=15) <= folder.paused_until - before < timedelta(minutes=16)
    shown = f"until {local_minute(folder.paused_until)}"
    assert app.tray.state == TrayState.PAUSED
    assert shown in app.tray.tooltip()
    assert app.tray.folder_menus[a].title() == f"{a.name} — paused {shown}"
    assert app.tray.folder_actions[(a, "pause")].text() == "Resume"
    app.tray.folder_actions[(a, "pause-tomorrow")].trigger()
    tomorrow = (before + timedelta(days=1)).date()
    assert folder.paused_until is not None and folder.paused_until.date() == tomorrow
    assert (folder.paused_until.hour, folder.paused_until.minute) == (0, 0)
    app.tray.folder_actions[(a, "pause-resumed")].trigger()
    assert folder.paused and folder.paused_until is None
    assert app.tray.folder_menus[a].title() == f"{a.name} — paused"
    app.tray.folder_actions[(a, "pause")].trigger()
    assert not folder.paused


async def test_timed_pause_resumes_on_time(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set(), what="ready")
    app.pause_until(a, datetime.now().astimezone() + timedelta(seconds=0.5))
    assert app.tray.state == TrayState.PAUSED
    (a / "held.txt").write_text("held while paused\n")
    await until(lambda: not folder.paused, timeout=10, what="resumed on time")
    await until(lambda: "held.txt" in remote_tree(remote), what="synced after the pause")
    await until(lambda: app.tray.state == TrayState.IDLE, what="the tray shows it")


async def test_sync_now_on_a_paused_folder_asks_to_resume(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set(), what="ready")
    app.tray.folder_actions[(a, "pause-1h")].trigger()
    (a / "asked.txt").write_text("sync me\n")
    app.tray.folder_actions[(a, "sync")].trigger()
    box = app.resume_question
    assert box is not None and box.isVisible()
    assert f"{a.name} is paused (until " in box.text()
    stay = next(b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.RejectRole)
    closed = signal_future(box.finished)
    stay.click()
    await closed
    assert folder.paused and app.resume_question is None, "said no: stays paused"
    app.tray.folder_actions[(a, "sync")].trigger()
    box = app.resume_question
    assert box is not None
    resume = next(b for b in box.buttons() if b.text() == "Resume and sync")
    closed = signal_future(box.finished)
    resume.click()
    await closed
    assert not folder.paused
    await until(lambda: "asked.txt" in remote_tree(remote), what="resumed and synced")
    await until(lambda: folder.state == FolderState.IDLE, what="idle")
