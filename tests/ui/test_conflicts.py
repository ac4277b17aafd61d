"""A real conflict (the same lines edited on two machines) brings up the conflict dialog,
a notification and the conflict tray state; each action settles it with a commit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from autosync_gui.ui.icons import TrayState
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.qt import signal_future, until
from tests.ui.helpers import remote_tree


def make_conflict(remote: Remote) -> Path:
    """Clone `a` (for the app) holds an unpushed edit of report.txt; the remote holds
    another edit of the same line, pushed from `b`."""
    a, b = remote.clone("a"), remote.clone("b")
    (b / "report.txt").write_text("original\n")
    git(b, "add", "-A")
    git(b, "commit", "-qm", "base")
    git(b, "push", "-q")
    git(a, "pull", "-q")
    (a / "report.txt").write_text("laptop's version\n")
    git(a, "commit", "-qam", "laptop edit")
    (b / "report.txt").write_text("desktop's version\n")
    git(b, "commit", "-qam", "desktop edit")
    git(b, "push", "-q")
    return a


async def start_with_conflict(remote: Remote, start_app):
    a = make_conflict(remote)
    app = await start_app(a)
    # the conflict is found during the start-up sync, which opens the dialog
    await until(lambda: app.engine.folder(a).conflicts, what="conflict found")
    dialog = app.conflict_dialog
    assert dialog is not None and dialog.isVisible(), "a conflict opens the dialog"
    dialog.refresh()
    assert dialog.tree.topLevelItemCount() == 1
    return app, a, dialog


def files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir() if p.is_file()}


async def test_conflict_shows_dialog_tray_state_and_notification(
        remote: Remote, start_app, notification_server) -> None:
    received = signal_future(notification_server.received,
                             when=lambda m: "onflict" in m.summary)
    app, a, dialog = await start_with_conflict(remote, start_app)
    message = (await asyncio.wait_for(received, 10))[0]
    assert "report" in message.body
    # the engine pushes the kept versions first, then settles in the conflict state
    await until(lambda: app.tray.state == TrayState.CONFLICT, what="tray shows conflict")
    assert app.tray.conflicts_action.isEnabled()
    item = dialog.tree.topLevelItem(0)
    assert item.text(0) == "a/report.txt"
    (_folder, conflict) = dialog.selected()
    # manual commits carry no host trailer: the author names stand in
    assert {conflict.kept_host, conflict.copy_host} == {"Test-a", "Test-b"}
    assert conflict.kept_host in item.text(1) and conflict.copy_host in item.text(2)


async def test_open_both(remote: Remote, start_app, opened_urls) -> None:
    app, a, dialog = await start_with_conflict(remote, start_app)
    (_folder, conflict) = dialog.selected()
    dialog.open_both.click()
    assert sorted(await opened_urls.wait(2)) == sorted([str(a / conflict.path),
                                                       str(a / conflict.copy_path)])


@pytest.mark.parametrize("keep", ["original", "copy", "both"])
async def test_keep_actions_settle_the_conflict(remote: Remote, start_app, keep: str) -> None:
    app, a, dialog = await start_with_conflict(remote, start_app)
    (_folder, conflict) = dialog.selected()
    kept = (a / conflict.path).read_text()
    other = (a / conflict.copy_path).read_text()
    resolved = signal_future(dialog.resolved)
    button = {"original": dialog.keep_this, "copy": dialog.keep_other,
              "both": dialog.keep_both}[keep]
    button.click()
    await asyncio.wait_for(resolved, 10)
    assert app.engine.folder(a).conflicts == []
    assert dialog.tree.topLevelItemCount() == 0
    expected_report = other if keep == "copy" else kept
    assert (a / "report.txt").read_text() == expected_report
    assert not (a / conflict.copy_path).exists()
    # the choice is committed and pushed
    await until(lambda: remote_tree(remote).get("report.txt") == expected_report.encode()
                and conflict.copy_path not in remote_tree(remote), what="resolution pushed")
    contents = sorted(files(a).values())
    if keep == "both":
        assert sorted([kept, other]) == [c for c in contents if "version" in c]
    else:
        assert [c for c in contents if "version" in c] == [expected_report]
    await until(lambda: app.tray.state != TrayState.CONFLICT or app.tray.refresh(),
                what="tray leaves the conflict state")
    assert app.tray.state != TrayState.CONFLICT


async def test_a_conflict_resolved_on_the_other_machine_is_shown_here(
        remote: Remote, start_app, start_engine, notification_server) -> None:
    """The desktop (a headless engine) resolves the conflict; the laptop (the tray app)
    receives it and shows the notification and the dialog with both hosts and full
    times (issue 11, item 3)."""
    laptop, desktop = remote.clone("laptop"), remote.clone("desktop")
    app = await start_app(laptop)
    engine, recorder = await start_engine(desktop, hostname="desktop")
    here = app.engine.folder(laptop)
    await until(lambda: here.ready.is_set() and engine.folder(desktop).ready.is_set(),
                what="both ready")
    app.engine.pause(laptop)
    engine.pause(desktop)
    (laptop / "README.txt").write_text("the laptop's words\n")
    (desktop / "README.txt").write_text("the desktop's words\n")
    app.engine.resume(laptop)
    await until(lambda: remote_tree(remote)["README.txt"] == b"the laptop's words\n",
                what="laptop pushed")
    engine.resume(desktop)  # the desktop merges and resolves the conflict
    await until(lambda: any(a.conflict for a in recorder.activities), what="desktop resolved")
    (resolved,) = [a.conflict for a in recorder.activities if a.conflict]
    await until(lambda: resolved.copy_path in remote_tree(remote), what="resolution pushed")

    notified = signal_future(notification_server.received, when=lambda m: "onflict" in m.summary)
    app.engine.sync_now(laptop)
    message = (await asyncio.wait_for(notified, 20))[0]
    await until(lambda: here.conflicts and here.conflicts[0].kept_host, what="described")
    dialog = app.conflict_dialog
    assert dialog is not None and dialog.isVisible(), "the dialog is offered here too"
    dialog.refresh()
    item = dialog.tree.topLevelItem(0)
    conflict = here.conflicts[0]
    assert (conflict.kept_host, conflict.copy_host) == (resolved.kept_host, resolved.copy_host)
    columns = {conflict.kept_host: item.text(1), conflict.copy_host: item.text(2)}
    stamp = "%Y-%m-%d %H:%M:%S"
    assert columns["laptop"].startswith("this machine's (laptop) version, ")
    assert columns["desktop"].startswith("desktop's version, ")
    kept = conflict.kept_time.astimezone().strftime(stamp)
    copied = conflict.copy_time.astimezone().strftime(stamp)
    assert kept in item.text(1) and copied in item.text(2)
    assert "README.txt" in message.body
    assert (f"{conflict.kept_host}'s version ({kept} by {conflict.kept_host}'s clock) is in "
            "place") in message.body
    assert (f"{conflict.copy_host}'s ({copied} by {conflict.copy_host}'s clock) is in "
            f"{conflict.copy_path}") in message.body


async def test_an_old_choice_message_goes_when_a_new_conflict_comes(
        remote: Remote, start_app) -> None:
    app, a, dialog = await start_with_conflict(remote, start_app)
    resolved = signal_future(dialog.resolved)
    dialog.keep_other.click()
    await asyncio.wait_for(resolved, 10)
    assert "kept the other one" in dialog.status.text()
    b = remote.clone("b2")
    await until(lambda: "report.txt" in remote_tree(remote)
                and app.engine.folder(a).state.value == "idle", what="settled")
    git(b, "pull", "-q")
    app.engine.pause(a)
    (a / "report.txt").write_text("laptop again\n")
    (b / "report.txt").write_text("desktop again\n")
    git(b, "commit", "-qam", "desktop again")
    git(b, "push", "-q")
    app.engine.resume(a)
    await until(lambda: app.engine.folder(a).conflicts, what="a new conflict")
    dialog.refresh()
    assert dialog.tree.topLevelItemCount() == 1
    assert not dialog.status.isVisible() and dialog.status.text() == ""
