"""Desktop integration: start at login, single instance, logs, packaging files."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autosync_gui.control.instance import InstanceLock, instance_paths
from autosync_gui.ui import autostart
from autosync_gui.ui.logsetup import log_path, setup_logging
from tests.fixtures.git_remotes import Remote
from tests.fixtures.qt import next_signal

ROOT = Path(__file__).resolve().parents[2]


async def test_start_at_login_writes_and_removes_the_entry(remote: Remote, start_app,
                                                           isolated_home: Path) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    entry = isolated_home / ".config" / "autostart" / "autosync.desktop"
    action = app.tray.autostart_action
    assert not action.isChecked() and not entry.exists()
    action.trigger()
    assert action.isChecked()
    text = entry.read_text()
    assert "[Desktop Entry]" in text and "\nExec=" in text
    assert f"--config {app.config_path}" in text  # a non-default config is kept
    assert "X-GNOME-Autostart-enabled=true" in text
    action.trigger()
    assert not action.isChecked() and not entry.exists()


def test_autostart_honours_xdg_config_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    autostart.enable()
    assert (tmp_path / "elsewhere" / "autostart" / "autosync.desktop").is_file()
    assert autostart.is_enabled()
    autostart.disable()
    assert not autostart.is_enabled()


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils")
def test_autostart_entry_is_valid(tmp_path: Path) -> None:
    path = autostart.enable(tmp_path / "my config.toml")
    result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_second_launch_of_run_app_exits_and_shows_the_first(
        remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    shown = asyncio.ensure_future(next_signal(app.tray.presented, 15))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "autosync_gui", "--config", str(app.config_path), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "already running" in err.decode()
    await shown


async def test_after_the_app_quits_a_new_launch_is_first(remote: Remote, start_app) -> None:
    a = remote.clone("a")
    app = await start_app(a)
    later = InstanceLock(instance_paths(app.config_path))
    assert not later.acquire(), "one instance per configuration"
    await app.shutdown()
    assert later.acquire(), "the lock goes with the instance"
    later.release()


def test_logs_go_to_the_xdg_state_folder_with_rotation(isolated_home: Path) -> None:
    import logging
    import logging.handlers

    path = setup_logging()
    assert path == log_path() == isolated_home / ".local" / "state" / "autosync" / "autosync.log"
    logging.getLogger("autosync.test").warning("hello log")
    handlers = [h for h in logging.getLogger().handlers
                if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert handlers and handlers[0].maxBytes > 0 and handlers[0].backupCount > 0
    handlers[0].flush()
    assert "hello log" in path.read_text()
    for h in handlers:
        logging.getLogger().removeHandler(h)
        h.close()


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils")
def test_desktop_file_validates() -> None:
    result = subprocess.run(["desktop-file-validate", str(ROOT / "autosync.desktop")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream")
def test_metainfo_validates() -> None:
    (metainfo,) = (ROOT / "packaging").glob("*.metainfo.xml")
    result = subprocess.run(["appstreamcli", "validate", "--no-net", str(metainfo)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_state_has_an_icon() -> None:
    from autosync_gui.ui.icons import TrayState, icon_file

    for state in TrayState:
        assert icon_file(f"autosync-{state.value}") is not None, state
    assert icon_file("autosync") is not None
