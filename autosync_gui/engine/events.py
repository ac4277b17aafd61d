"""The observer interface: how the engine tells the GUI, the headless log and the XMPP
notifier what happens. Plain Python so the engine never imports Qt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class FolderState(StrEnum):
    """What one folder is doing right now."""

    IDLE = "idle"
    PENDING = "pending"  # changes seen, waiting for the quiet period
    COMMITTING = "committing"
    PUSHING = "pushing"
    PULLING = "pulling"
    OFFLINE = "offline"  # the remote does not answer; retrying with back-off
    PAUSED = "paused"
    CONFLICT = "conflict"  # conflict copies exist in the folder
    ERROR = "error"  # needs the user (authentication, host key, broken repository)


class ChannelState(StrEnum):
    """The notification channel (XMPP) as a whole, shared by all folders."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # reconnecting with back-off; polling keeps sync going
    AUTH_FAILED = "authentication failed"  # not retried until the user fixes it
    ERROR = "error"  # e.g. TLS refused


class ActivityKind(StrEnum):
    COMMITTED = "committed"
    PUSHED = "pushed"
    PULLED = "pulled"
    CONFLICT = "conflict"
    ERROR = "error"
    INFO = "info"
    NOTIFIED = "notified"  # a peer told us over XMPP that it pushed


@dataclass(frozen=True)
class Conflict:
    """One real conflict, resolved by keeping both versions.

    `path` keeps the newer version; `copy_path` holds the other one (None when nothing
    needed copying, e.g. modify/delete keeps the modified file at `path`). Paths are
    relative to the repository root, POSIX style."""

    path: str
    copy_path: str | None
    kind: str  # "content", "add/add", "modify/delete", "rename"
    kept_host: str
    kept_time: datetime
    copy_host: str
    copy_time: datetime


@dataclass(frozen=True)
class Activity:
    """One thing that happened in one folder; `summary` is the one-line log text."""

    folder: Path
    kind: ActivityKind
    summary: str
    files: tuple[str, ...] = ()  # paths relative to the repository root
    host: str | None = None
    commit: str | None = None
    conflict: Conflict | None = None
    when: datetime = field(default_factory=lambda: datetime.now(UTC))


class EngineObserver(Protocol):
    """Implemented by the GUI adapter, the headless logger and the XMPP notifier.

    Called on the event loop's thread; implementations must not block."""

    def state_changed(self, folder: Path, state: FolderState, detail: str) -> None: ...

    def activity(self, event: Activity) -> None: ...

    def channel_changed(self, channel: str, state: ChannelState, detail: str) -> None: ...


class ObserverHub:
    """Fans events out to every subscribed observer; one faulty observer never stops sync."""

    def __init__(self) -> None:
        self._observers: list[EngineObserver] = []

    def subscribe(self, observer: EngineObserver) -> Callable[[], None]:
        self._observers.append(observer)

        def unsubscribe() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def state_changed(self, folder: Path, state: FolderState, detail: str = "") -> None:
        for observer in list(self._observers):
            try:
                observer.state_changed(folder, state, detail)
            except Exception:
                log.exception("observer %r failed on state change", observer)

    def activity(self, event: Activity) -> None:
        for observer in list(self._observers):
            try:
                observer.activity(event)
            except Exception:
                log.exception("observer %r failed on activity", observer)

    def channel_changed(self, channel: str, state: ChannelState, detail: str = "") -> None:
        for observer in list(self._observers):
            try:
                observer.channel_changed(channel, state, detail)
            except Exception:
                log.exception("observer %r failed on channel change", observer)
