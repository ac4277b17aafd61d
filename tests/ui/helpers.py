"""Starting the real tray app (real engine, real repositories) inside a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from autosync_gui.config import FolderSettings, Settings, XmppSettings, save_config
from autosync_gui.ui.app import TrayApp

FAST = {"commit_delay": 0.2, "push_delay": 0.1, "poll_interval": 3600.0}


def write_config(path: Path, folders: list[Path], xmpp: XmppSettings | None = None,
                 notifications: str = "all", **overrides: float) -> Path:
    from autosync_gui.config import UiSettings

    settings = Settings(
        folders=tuple(FolderSettings(path=f, **{**FAST, **overrides})  # type: ignore[arg-type]
                      for f in folders),
        xmpp=xmpp, ui=UiSettings(notifications=notifications))
    save_config(settings, path)
    return path


@pytest.fixture
async def start_app(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """start_app(*folders, **folder_settings) -> a started TrayApp (real engine)."""
    apps: list[TrayApp] = []

    async def start(*folders: Path, config: Path | None = None, notifications: str = "all",
                    **overrides: float) -> TrayApp:
        if config is None:
            config = tmp_path / "config.toml"
            if folders:
                write_config(config, list(folders), notifications=notifications, **overrides)
        app = TrayApp(config, hostname="laptop", tray_retries=0, tray_retry_ms=10,
                      notify_delay_ms=100)
        apps.append(app)
        await app.start()
        return app

    yield start
    for app in apps:
        await app.stop_control()
        await app._stop_xmpp()
        if not app._stopping:
            if app.engine is not None:
                await app.engine.stop(flush=False)
            app._stopping = True
            app.tray.hide()
            app.notifier.stop()  # (a batch still waiting would reach the next test's server)
        for window in app.windows():
            window.close()
    apps.clear()  # (the apps' Qt objects go with the test: gui_thread_gc in conftest.py)


def remote_tree(remote: object) -> dict[str, bytes]:
    """The remote tip's files, read at one commit (the branch may move meanwhile)."""
    return remote.tree_files(remote.head())  # type: ignore[attr-defined]
