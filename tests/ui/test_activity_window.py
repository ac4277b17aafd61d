"""The activity window (issue 11, item 1) on the real engine and real repositories: opened
from the tray menu and by a left click, each folder's state, remote (no credentials), last
sync and disk use, the live list of what happened (commits, deletions, pulls), problems
with their fix, and transfer progress in the window, the tooltip and the icon."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from PyQt6.QtWidgets import QProgressBar, QSystemTrayIcon

from autosync_gui.engine.events import ActivityKind, FolderState
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


@dataclass(frozen=True)
class Progress:
    """Stands in for the engine's typed transfer progress event (engine/events.py on the
    branch that adds it), with the same fields; delivered through the same observer
    method the engine calls."""

    folder: Path
    direction: str
    what: str
    done_bytes: int
    total_bytes: int | None
    rate: float | None
    finished: bool = False
    when: datetime = field(default_factory=lambda: datetime.now(UTC))


async def test_transfer_progress_in_window_tooltip_and_icon(remote: Remote,
                                                            start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    window = await open_window(app)
    before = app.tray.icon.icon().pixmap(64, 64).toImage()
    app.signals.transfer_progress(Progress(a, "upload", "git push", 120_000_000,
                                           1_500_000_000, 12_000_000.0))
    row = window.folder_item(a)
    bar = window.folders.itemWidget(row, 6)
    assert isinstance(bar, QProgressBar)
    assert bar.format() == "sending 120 MB of 1.5 GB (8%), 12.0 MB/s"
    assert bar.value() == 80
    assert "sending 120 MB of 1.5 GB (8%)" in app.tray.tooltip()
    assert app.tray.icon.icon().pixmap(64, 64).toImage() != before, "the icon shows it"
    app.signals.transfer_progress(Progress(a, "upload", "git push", 1_500_000_000,
                                           1_500_000_000, None, finished=True))
    assert window.folders.itemWidget(row, 6) is None
    assert row.text(6) == "—"
    assert "sending" not in app.tray.tooltip()
