"""State icons: the desktop theme's `autosync-<state>` if it has one, else our SVGs."""

from __future__ import annotations

import sys
from enum import StrEnum
from functools import cache
from pathlib import Path

from PyQt6.QtGui import QIcon

from autosync_gui.engine.events import ChannelState, FolderState


class TrayState(StrEnum):
    """What the tray shows: one of six looks, the worst of all folders."""

    IDLE = "idle"
    SYNCING = "syncing"
    PAUSED = "paused"
    OFFLINE = "offline"
    CONFLICT = "conflict"
    ERROR = "error"
    SETUP = "setup"  # no folder configured yet


_FOLDER_TO_TRAY = {
    FolderState.IDLE: TrayState.IDLE,
    FolderState.PENDING: TrayState.SYNCING,
    FolderState.COMMITTING: TrayState.SYNCING,
    FolderState.PUSHING: TrayState.SYNCING,
    FolderState.PULLING: TrayState.SYNCING,
    FolderState.OFFLINE: TrayState.OFFLINE,
    FolderState.PAUSED: TrayState.PAUSED,
    FolderState.CONFLICT: TrayState.CONFLICT,
    FolderState.ERROR: TrayState.ERROR,
}
_PRIORITY = [TrayState.ERROR, TrayState.CONFLICT, TrayState.OFFLINE, TrayState.SYNCING,
             TrayState.IDLE, TrayState.PAUSED]


def tray_state(states: list[FolderState], channel: ChannelState | None = None) -> TrayState:
    """The worst folder state wins; all paused shows paused; a channel that needs the
    user (bad password, TLS refused) shows error; no folder at all shows set-up."""
    if not states:
        return TrayState.SETUP
    looks = {_FOLDER_TO_TRAY.get(FolderState(s), TrayState.ERROR) for s in states}
    if channel in (ChannelState.AUTH_FAILED, ChannelState.ERROR):
        looks.add(TrayState.ERROR)
    for look in _PRIORITY:
        if look in looks:
            return look
    return TrayState.IDLE


def icon_dirs() -> list[Path]:
    """Where our SVGs are: the source tree, then the install prefix (pipx data-files)."""
    here = Path(__file__).resolve()
    return [here.parents[2] / "resources" / "icons",
            Path(sys.prefix) / "share" / "autosync" / "icons",
            Path(sys.prefix) / "share" / "icons" / "hicolor" / "scalable" / "apps"]


def icon_file(name: str) -> Path | None:
    for d in icon_dirs():
        path = d / f"{name}.svg"
        if path.is_file():
            return path
    return None


@cache
def named_icon(name: str) -> QIcon:
    path = icon_file(name)
    fallback = QIcon(str(path)) if path else QIcon()
    return QIcon.fromTheme(name, fallback)


def state_icon(state: TrayState) -> QIcon:
    return named_icon(f"autosync-{state.value}")


def app_icon() -> QIcon:
    return named_icon("autosync")
