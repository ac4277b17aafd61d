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
