"""The history viewer on a real repository: list, filter, preview, restore, lazy pages."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from autosync_gui.engine.events import ActivityKind
from autosync_gui.ui.history import HistoryDialog
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.qt import next_signal, signal_future, until
from tests.ui.helpers import remote_tree


def commit(folder: Path, name: str, text: str, message: str) -> str:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", message)
    return git(folder, "rev-parse", "HEAD")


async def open_history(app, folder: Path) -> HistoryDialog:
    app.tray.folder_actions[(folder, "history")].trigger()
    window = app.history_windows[folder]
    assert window.isVisible()
    if window.model.rowCount() == 0:
        await next_signal(window.model.pageLoaded)
    return window


async def test_lists_filters_previews_and_restores(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    first = commit(a, "docs/plan.txt", "version one\n", "plan v1")
    commit(a, "notes.txt", "unrelated\n", "notes")
    commit(a, "docs/plan.txt", "version two\n", "plan v2")
    app = await start_app(a)
    window = await open_history(app, a)
    subjects = [c.subject for c in window.model.commits]
    assert subjects[:3] == ["plan v2", "notes", "plan v1"]
    assert window.model.data(window.model.index(0, 3)) == "docs/plan.txt"

    loaded = signal_future(window.model.pageLoaded)
    window.filter.setText("plan")
    window.apply_filter()
    await asyncio.wait_for(loaded, 10)
    assert [c.subject for c in window.model.commits] == ["plan v2", "plan v1"]

    shown = signal_future(window.previewShown, when=lambda sha, path: sha == first)
    window.table.selectRow(1)
    await asyncio.wait_for(shown, 10)
    assert window.current_path() == "docs/plan.txt"
    assert window.content.toPlainText() == "version one\n"
    assert "+version one" in window.diff.toPlainText()
    assert window.restore_button.isEnabled()

    commits_before = int(git(a, "rev-list", "--count", "HEAD"))
    restored = signal_future(window.restored)
    window.restore_button.click()
    await asyncio.wait_for(restored, 10)
    assert (a / "docs/plan.txt").read_text() == "version one\n"
    # a new commit restores it; the current version stays in history
    await until(lambda: int(git(a, "rev-list", "--count", "HEAD")) > commits_before
                and git(a, "show", "HEAD:docs/plan.txt") == "version one", what="restore commit")
    assert "version two" in git(a, "log", "-p", "--", "docs/plan.txt")
    await until(lambda: remote_tree(remote)["docs/plan.txt"] == b"version one\n",
                what="restore pushed")


async def test_open_containing_folder(remote: Remote, start_app, opened_urls) -> None:
    a = remote.clone("a")
    commit(a, "deep/er/file.txt", "x\n", "deep file")
    app = await start_app(a)
    window = await open_history(app, a)
    shown = signal_future(window.previewShown)
    window.table.selectRow(0)
    if window.current_path() != "deep/er/file.txt":
        await asyncio.wait_for(shown, 10)
    window.open_button.click()
    assert opened_urls == [str(a / "deep" / "er")]


@pytest.mark.slow  # builds a 100,000-commit history
async def test_100000_commits_open_without_freezing(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    lines = []
    for i in range(100_000):
        data = f"{i}\n".encode()
        lines.append(b"commit refs/heads/main\n")
        lines.append(f"committer t <t@x> {1700000000 + i} +0000\n".encode())
        msg = f"change {i}".encode()
        lines.append(b"data %d\n%s\n" % (len(msg), msg))
        if i == 0:
            lines.append(b"from refs/heads/main^0\n")
        lines.append(b"M 100644 inline counter.txt\ndata %d\n%s\n" % (len(data), data))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=a, input=b"".join(lines),
                   check=True)
    git(a, "reset", "-q", "--hard", "main")
    app = await start_app(a)
    await until(lambda: app.engine.folder(a).last_sync, what="first sync")
    # a ticker measures how long the event loop is ever blocked while the viewer opens
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def tick() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticker = asyncio.ensure_future(tick())
    window = await open_history(app, a)
    stop.set()
    await ticker
    assert max(gaps) < 0.25, f"the loop was blocked for {max(gaps):.2f} s"
    page = window.model.page_size
    assert window.model.rowCount() == page, "only the first page is loaded"
    assert window.model.canFetchMore()
    loaded = signal_future(window.model.pageLoaded)
    window.table.scrollToBottom()  # the view asks for more, like a user scrolling
    window.model.fetchMore()
    await asyncio.wait_for(loaded, 10)
    assert window.model.rowCount() == 2 * page
    assert window.model.commits[0].subject == "change 99999"


async def test_history_refreshes_after_a_commit(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    window = await open_history(app, a)
    count = window.model.rowCount()
    loaded = signal_future(window.model.pageLoaded, when=lambda n: n > count)
    committed = signal_future(app.signals.activityHappened,
                              when=lambda e: e.kind == ActivityKind.COMMITTED)
    (a / "fresh.txt").write_text("new\n")
    await asyncio.wait_for(committed, 20)
    await asyncio.wait_for(loaded, 10)
    assert window.model.commits[0].files == ("fresh.txt",)
