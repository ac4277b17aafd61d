"""Versions of a file and deleted files (issue 11, item 2) on real repositories: a text
with its side-by-side changes, pictures (PNG, SVG, GIF, WebP, JPEG), a deleted file, a
renamed file, Restore this version, Save a copy as…, and the deleted-files view."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PyQt6.QtCore import QBuffer, QByteArray, QIODevice
from PyQt6.QtGui import QColor, QImage

from autosync_gui.ui.deleted_files import DeletedFilesDialog
from autosync_gui.ui.versions import VersionsDialog
from tests.fixtures.git_remotes import BOTH_BACKENDS, Remote, git
from tests.fixtures.qt import signal_future, until
from tests.ui.helpers import remote_tree


def commit(folder: Path, message: str, host: str) -> str:
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", message, "--trailer", f"Autosync-Host: {host}")
    return git(folder, "rev-parse", "HEAD")


async def loaded(dialog: VersionsDialog | DeletedFilesDialog) -> None:
    await asyncio.wait_for(signal_future(dialog.loaded), 10)


async def shown(dialog: VersionsDialog, pick: int) -> str:
    """Select the `pick`th version and await its preview; returns what it was shown as."""
    wanted = dialog.versions[pick].commit
    future = signal_future(dialog.previewShown, when=lambda sha, _kind: sha == wanted)
    current = dialog.current()
    if current is not None and current.commit == wanted:
        dialog._selected()
    else:
        dialog.table.setCurrentItem(dialog.table.topLevelItem(pick))
    return (await asyncio.wait_for(future, 10))[1]


async def open_versions(app, folder: Path, path: str) -> VersionsDialog:
    future = None
    dialog = app.open_versions(folder, path)
    if not dialog.versions:
        future = signal_future(dialog.loaded)
        await asyncio.wait_for(future, 10)
    return dialog


async def test_text_versions_diff_restore_and_save(remote: Remote, start_app,
                                                   tmp_path: Path) -> None:
    a = remote.clone("a")
    (a / "plan.txt").write_text("one\ntwo\nthree\n")
    commit(a, "v1", "desktop")
    (a / "plan.txt").write_text("one\nTWO\nthree\nfour\n")
    commit(a, "v2", "laptop")
    git(a, "push", "-q")
    app = await start_app(a)
    dialog = await open_versions(app, a, "plan.txt")
    assert [(v.host, v.size, v.change) for v in dialog.versions] == [
        ("laptop", 19, "modified"), ("desktop", 14, "added")]
    first = dialog.table.topLevelItem(0)
    assert first.text(1) == "laptop" and first.text(2) == "19 bytes"
    assert first.text(0).count(":") == 2, "date and time to the second"

    assert await shown(dialog, 0) == "text"
    assert dialog.preview.text.toPlainText() == "one\nTWO\nthree\nfour\n"
    assert ("replace", "two", "TWO") in dialog.diff.rows
    assert ("insert", "", "four") in dialog.diff.rows
    assert ("equal", "one", "one") in dialog.diff.rows

    assert await shown(dialog, 1) == "text"
    restored = signal_future(dialog.restored)
    dialog.restore_button.click()
    (sha,) = await asyncio.wait_for(restored, 10)
    assert (a / "plan.txt").read_text() == "one\ntwo\nthree\n"
    subject = git(a, "log", "-1", "--format=%s", sha)
    assert subject.startswith("restored plan.txt as of ") and subject.endswith("from desktop")
    assert len(dialog.versions) == 3 and dialog.versions[0].commit == sha
    assert "Restored plan.txt as of " in dialog.status.text()
    await until(lambda: remote_tree(remote).get("plan.txt") == b"one\ntwo\nthree\n",
                what="the restore pushed")

    target = tmp_path / "elsewhere" / "plan (laptop).txt"
    target.parent.mkdir()
    saved = await dialog.save_copy(dialog.versions[1], target)
    assert saved and target.read_text() == "one\nTWO\nthree\nfour\n"
    assert str(target) in dialog.status.text()


def picture(fmt: str, color: str = "#3366cc", size: int = 24) -> bytes:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(QColor(color))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    assert image.save(buffer, fmt), f"Qt cannot write {fmt}"
    buffer.close()
    return bytes(data.data())


# Qt reads GIF but cannot write it: the classic one-pixel GIF, written out
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00"
       b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30">'
       b'<rect width="40" height="30" fill="#cc3366"/></svg>')


@pytest.mark.parametrize("name,content,size", [
    ("photo.png", lambda: picture("PNG"), (24, 24)),
    ("photo.jpg", lambda: picture("JPEG"), (24, 24)),
    ("anim.gif", lambda: GIF, (1, 1)),
    ("pic.webp", lambda: picture("WEBP"), (24, 24)),
    ("drawing.svg", lambda: SVG, (40, 30)),
])
async def test_pictures_are_shown_as_pictures(remote: Remote, start_app, name: str,
                                              content, size: tuple[int, int]) -> None:
    a = remote.clone("a")
    data = content()
    (a / name).write_bytes(data)
    commit(a, "a picture", "desktop")
    git(a, "push", "-q")
    app = await start_app(a)
    dialog = await open_versions(app, a, name)
    assert await shown(dialog, 0) == "image"
    image = dialog.preview.image
    assert image is not None
    assert (image.width(), image.height()) == size
    assert dialog.preview.picture.pixmap() is not None
    assert "Binary file" in dialog.diff.item(0, 0).text() or name.endswith(".svg")


async def test_a_binary_that_is_no_picture(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    (a / "data.bin").write_bytes(bytes(range(256)) * 4)
    commit(a, "binary", "desktop")
    git(a, "push", "-q")
    app = await start_app(a)
    dialog = await open_versions(app, a, "data.bin")
    assert await shown(dialog, 0) == "binary"
    text = dialog.preview.text.toPlainText()
    assert "1.0 KB (1,024 bytes)" in text and "00 01 02 03" in text


@BOTH_BACKENDS
async def test_a_deleted_file_shows_its_last_content_and_comes_back(
        remote: Remote, start_app) -> None:
    a = remote.clone("a")
    (a / "gone soon.txt").write_text("last words\n")
    remote.commit_as(a, "add", "desktop")
    (a / "gone soon.txt").unlink()
    remote.commit_as(a, "delete", "desktop", push=True)
    app = await start_app(a)
    dialog = await open_versions(app, a, "gone soon.txt")
    assert [v.change for v in dialog.versions] == ["deleted", "added"]
    assert dialog.table.topLevelItem(0).text(2) == "deleted"
    assert dialog.current() == dialog.versions[1], "its last content is picked"
    assert await shown(dialog, 0) == "deleted"
    assert not dialog.restore_button.isEnabled()
    assert await shown(dialog, 1) == "text"
    assert dialog.restore_button.isEnabled()
    restored = signal_future(dialog.restored)
    dialog.restore_button.click()
    await asyncio.wait_for(restored, 10)
    assert (a / "gone soon.txt").read_text() == "last words\n"


async def test_a_renamed_file_keeps_its_versions(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    (a / "draft.txt").write_text("first draft with enough text to be recognised\n")
    commit(a, "draft", "desktop")
    git(a, "mv", "draft.txt", "final.txt")
    commit(a, "rename", "laptop")
    (a / "final.txt").write_text("first draft with enough text to be recognised\nmore\n")
    commit(a, "edit", "laptop")
    git(a, "push", "-q")
    app = await start_app(a)
    dialog = await open_versions(app, a, "final.txt")
    assert [(v.change, v.path) for v in dialog.versions] == [
        ("modified", "final.txt"), ("renamed", "final.txt"), ("added", "draft.txt")]
    assert dialog.table.topLevelItem(1).text(3) == "renamed from draft.txt"
    assert await shown(dialog, 2) == "text"
    restored = signal_future(dialog.restored)
    dialog.restore_button.click()
    await asyncio.wait_for(restored, 10)
    assert (a / "final.txt").read_text() == "first draft with enough text to be recognised\n"
    assert not (a / "draft.txt").exists(), "restored to the current name"


@BOTH_BACKENDS
async def test_deleted_files_view_restores_in_one_click(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    (a / "keep.txt").write_text("stays\n")
    (a / "old report.txt").write_text("report\n")
    (a / "photos").mkdir()
    (a / "photos" / "cat.png").write_bytes(picture("PNG"))
    remote.commit_as(a, "files", "desktop")
    (a / "old report.txt").unlink()
    (a / "photos" / "cat.png").unlink()
    remote.commit_as(a, "cleanup", "desktop", push=True)
    app = await start_app(a)
    app.tray.folder_actions[(a, "deleted")].trigger()
    dialog = app.deleted_windows[a]
    if not dialog.files:
        await loaded(dialog)
    assert sorted(f.path for f in dialog.files) == ["old report.txt", "photos/cat.png"]
    row = dialog.table.topLevelItem(0)
    assert row.text(2) == "desktop" and row.text(1).count(":") == 2
    restored = signal_future(dialog.restored)
    dialog.restore_buttons["photos/cat.png"].click()
    path, sha = await asyncio.wait_for(restored, 10)
    assert path == "photos/cat.png" and sha
    assert (a / "photos" / "cat.png").read_bytes() == picture("PNG")
    assert [f.path for f in dialog.files] == ["old report.txt"]
    assert "Restored photos/cat.png as of " in dialog.status.text()
    await until(lambda: "photos/cat.png" in remote_tree(remote), what="the restore pushed")

    dialog.days.setValue(1)  # deleted today: still listed for one day
    await loaded(dialog)
    assert [f.path for f in dialog.files] == ["old report.txt"]


async def test_versions_from_the_history_viewer(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    (a / "notes.txt").write_text("hello\n")
    commit(a, "notes", "desktop")
    git(a, "push", "-q")
    app = await start_app(a)
    window = app.open_history(a)
    if window.model.rowCount() == 0:
        await asyncio.wait_for(signal_future(window.model.pageLoaded), 10)
    preview = signal_future(window.previewShown, when=lambda _s, p: p == "notes.txt")
    window.table.selectRow(0)
    await asyncio.wait_for(preview, 10)
    window.versions_button.click()
    dialog = app.versions_windows[(a, "notes.txt")]
    if not dialog.versions:
        await loaded(dialog)
    assert [v.host for v in dialog.versions] == ["desktop"]
