"""Folder settings after set-up (issue 11, item 4), applied to the running engine without
a restart and written to the configuration file: delays, poll interval, ignore patterns
(with the files ignored now), notifications per folder, Stop syncing this folder."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PyQt6.QtWidgets import QMessageBox

from autosync_gui.config import load_config
from autosync_gui.engine.events import Activity, ActivityKind
from autosync_gui.ui.folder_settings import FolderSettingsDialog
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.qt import signal_future, until
from tests.ui.helpers import remote_tree


async def open_settings(app, folder: Path) -> FolderSettingsDialog:
    listed = None
    app.tray.folder_actions[(folder, "settings")].trigger()
    dialog = app.folder_settings_windows[folder]
    assert dialog.isVisible()
    if dialog.ignored.count() == 0:
        listed = signal_future(dialog.ignoredListed)
        await asyncio.wait_for(listed, 10)
    return dialog


def ignored(dialog: FolderSettingsDialog) -> list[str]:
    return [dialog.ignored.item(i).text() for i in range(dialog.ignored.count())]


async def test_settings_apply_live_and_are_saved(remote: Remote, start_app,
                                                tmp_path: Path) -> None:
    a = remote.clone("a")
    (a / "build").mkdir()
    (a / "build" / "out.o").write_text("binary\n")
    app = await start_app(a, poll_interval=3600.0)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set(), what="ready")
    await until(lambda: "build/out.o" in remote_tree(remote), what="synced before")
    dialog = await open_settings(app, a)
    assert ignored(dialog) == ["(none)"]

    dialog.ignore.setPlainText("*.log\n# a comment\nscratch/\n")
    dialog.poll_interval.setValue(1.0)
    dialog.commit_delay.setValue(0.3)
    dialog.level.setCurrentIndex(dialog.level.findData("important"))
    listed = signal_future(dialog.ignoredListed)
    dialog.buttons.accepted.emit()  # Save
    await asyncio.wait_for(listed, 10)
    saved = load_config(app.config_path).folders[0]
    assert (saved.ignore, saved.poll_interval, saved.commit_delay, saved.notifications) == (
        ("*.log", "scratch/"), 1.0, 0.3, "important")
    assert folder.settings == saved, "the running folder has them: no restart"
    assert dialog.message.text() == "Saved; in force now."
    assert app.notifier.level_of(a) == "important"
    assert not app.notifier.wants(Activity(folder=a, kind=ActivityKind.PULLED, summary="x"))

    # the ignore patterns hold from the next commit, and the list shows what they keep out
    (a / "debug.log").write_text("noise\n")
    (a / "scratch").mkdir()
    (a / "scratch" / "tmp.txt").write_text("noise\n")
    (a / "kept.txt").write_text("wanted\n")
    await until(lambda: "kept.txt" in remote_tree(remote), what="kept.txt synced")
    names = remote_tree(remote)
    assert "debug.log" not in names and "scratch/tmp.txt" not in names
    listed = signal_future(dialog.ignoredListed)
    dialog.list_ignored()
    await asyncio.wait_for(listed, 10)
    assert ignored(dialog) == ["debug.log", "scratch/"]

    # the new poll interval: another machine's push arrives without any notice
    other = remote.clone("other")
    (other / "from other.txt").write_text("polled\n")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "other")
    git(other, "push", "-q")
    await until(lambda: (a / "from other.txt").exists(), timeout=15, what="polled in")


async def test_stop_syncing_keeps_files_and_history(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set(), what="ready")
    (a / "last words.txt").write_text("committed on the way out\n")
    dialog = await open_settings(app, a)
    dialog.stop_button.click()
    box = dialog.question
    assert box is not None and box.isVisible() and str(a) in box.text()
    stop = next(b for b in box.buttons()
                if box.buttonRole(b) == QMessageBox.ButtonRole.DestructiveRole)
    stop.click()
    await until(lambda: not dialog.isVisible(), timeout=30, what="stopped and closed")
    assert app.engine.folders == []
    assert load_config(app.config_path).folders == ()
    assert a not in app.tray.folder_menus and not dialog.isVisible()
    assert (a / "last words.txt").exists() and (a / ".git").is_dir()
    assert "last words.txt" in remote_tree(remote), "pending changes were pushed once"
    assert git(a, "log", "-1", "--format=%s") != ""


async def test_a_hand_edit_of_the_file_is_followed_in_place(remote: Remote,
                                                            start_app) -> None:
    from dataclasses import replace

    from autosync_gui.config import save_config

    a = remote.clone("a")
    app = await start_app(a)
    folder = app.engine.folder(a)
    await until(lambda: folder.ready.is_set(), what="ready")
    settings = load_config(app.config_path)
    edited = replace(settings.folders[0], ignore=("*.bak",), notifications="none")
    save_config(replace(settings, folders=(edited,)), app.config_path)
    await until(lambda: folder.settings == edited, what="the engine follows the file")
    assert app.engine.folder(a) is folder, "in place: not restarted"
    await until(lambda: app.notifier.level_of(a) == "none", what="the level follows")
