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
    assert await opened_urls.wait(1) == [str(a / "deep" / "er")]


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
    await until(lambda: app.engine.folder(a).last_sync, timeout=90,
                what="first sync (a push of 100,000 commits)")
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


async def test_filtered_restore_keeps_the_new_commit_and_names_a_date(
        remote: Remote, start_app) -> None:
    a = remote.clone("a")
    first = commit(a, "docs/plan.txt", "version one\n", "plan v1")
    commit(a, "docs/plan.txt", "version two\n", "plan v2")
    app = await start_app(a)
    window = await open_history(app, a)
    assert window.model.data(window.model.index(0, 0)).count("-") == 2, "a date"
    loaded = signal_future(window.model.pageLoaded)
    window.filter.setText("plan")
    window.apply_filter()
    await asyncio.wait_for(loaded, 10)
    shown = signal_future(window.previewShown, when=lambda sha, path: sha == first)
    window.table.selectRow(1)
    await asyncio.wait_for(shown, 10)
    relisted = signal_future(window.model.pageLoaded,
                             when=lambda n: window.model.commits[0].subject.startswith(
                                 "restored docs/plan.txt as of "))
    window.restore_button.click()
    await asyncio.wait_for(relisted, 20)
    assert window.filter.text() == "plan" and window.model.path_filter == "plan"
    status = window.status.text()
    assert status.startswith("Restored docs/plan.txt as of 20") and first[:10] not in status
    assert window.current_commit().sha == first, "the version looked at stays selected"


async def test_deletions_look_like_deletions_and_restore(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    commit(a, "old.txt", "old words\n", "add old")
    commit(a, "other.txt", "x\n", "add other")
    (a / "old.txt").unlink()
    (a / "other.txt").write_text("y\n")
    git(a, "add", "-A")
    git(a, "commit", "-qm", "autosync on desktop: 2 files changed")
    app = await start_app(a)
    window = await open_history(app, a)
    top = window.model.commits[0]
    assert dict(zip(top.files, top.changes, strict=True)) == {"old.txt": "deleted",
                                                             "other.txt": "modified"}
    assert window.model.data(window.model.index(0, 3)) == "2 files (1 deleted): old.txt, …"
    shown = signal_future(window.previewShown, when=lambda sha, path: path == "old.txt")
    window.table.selectRow(0)
    if window.current_path() != "old.txt":
        row = next(i for i in range(window.files.count())
                   if window.files.item(i).data(256) == "old.txt")
        window.files.setCurrentRow(row)
    await asyncio.wait_for(shown, 10)
    item = window.files.currentItem()
    assert item.text() == "deleted: old.txt" and item.font().strikeOut()
    assert window.content.toPlainText() == "old words\n", "its last content"
    assert window.restore_button.isEnabled()
    restored = signal_future(window.restored)
    window.restore_button.click()
    await asyncio.wait_for(restored, 10)
    assert (a / "old.txt").read_text() == "old words\n"
    assert git(a, "log", "-1", "--format=%s").startswith("restored old.txt as of ")


async def test_a_picture_is_previewed(remote: Remote, start_app) -> None:
    from tests.ui.test_versions import picture

    a = remote.clone("a")
    (a / "cat.png").write_bytes(picture("PNG"))
    git(a, "add", "-A")
    git(a, "commit", "-qm", "a picture")
    app = await start_app(a)
    window = await open_history(app, a)
    shown = signal_future(window.previewShown, when=lambda sha, path: path == "cat.png")
    window.table.selectRow(0)
    if window.current_path() != "cat.png" or window.preview.kind != "image":
        await asyncio.wait_for(shown, 10)
    assert window.preview.kind == "image" and window.preview.image is not None
