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
    # A file at or above large_file_size is about to enter history on a remote without
    # Git LFS: `files` names it, `size` its bytes. The UI offers "Don't sync this file"
    # (FolderSync.dont_sync) and "Sync it anyway" (FolderSync.sync_anyway).
    LARGE_FILE = "large file"


class TransferDirection(StrEnum):
    UPLOAD = "upload"
    DOWNLOAD = "download"


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


FILES_LISTED = 200  # paths one Activity names; file_count counts them all


@dataclass(frozen=True)
class Activity:
    """One thing that happened in one folder; `summary` is the one-line log text."""

    folder: Path
    kind: ActivityKind
    summary: str
    # paths relative to the repository root: the first FILES_LISTED of them
    files: tuple[str, ...] = ()
    host: str | None = None
    commit: str | None = None
    conflict: Conflict | None = None
    size: int | None = None  # bytes, for LARGE_FILE
    when: datetime = field(default_factory=lambda: datetime.now(UTC))
    file_count: int = 0  # all the files it concerns (at least len(files))

    def __post_init__(self) -> None:
        # The activity log keeps 1,000 activities and a pull may name 100,000 files:
        # listed all, the paths of a few big pulls held tens of MB for good.
        if self.file_count < len(self.files):
            object.__setattr__(self, "file_count", len(self.files))
        if len(self.files) > FILES_LISTED:
            object.__setattr__(self, "files", tuple(self.files[:FILES_LISTED]))


@dataclass(frozen=True)
class TransferProgress:
    """How far one transfer (a push, a fetch, Git LFS objects, an old version fetched on
    demand) has got. Sent a few times a second while it runs, and once with `finished`."""

    folder: Path
    direction: TransferDirection
    what: str  # "git push", "git fetch", "LFS upload", "LFS download", "old version"
    done_bytes: int
    total_bytes: int | None  # None when git does not know it in advance
    rate: float | None  # bytes per second, as git measures it
    finished: bool = False
    when: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def fraction(self) -> float | None:
        if not self.total_bytes:
            return None
        return min(1.0, self.done_bytes / self.total_bytes)


class EngineObserver(Protocol):
    """Implemented by the GUI adapter, the headless logger and the XMPP notifier.

    Called on the event loop's thread; implementations must not block."""

    def state_changed(self, folder: Path, state: FolderState, detail: str) -> None: ...

    def activity(self, event: Activity) -> None: ...

    def channel_changed(self, channel: str, state: ChannelState, detail: str) -> None: ...


class ProgressObserver(Protocol):
    """Optional for an EngineObserver: observers that define `transfer_progress` get
    every TransferProgress (on the event loop's thread; must not block)."""

    def transfer_progress(self, event: TransferProgress) -> None: ...


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

    def transfer_progress(self, event: TransferProgress) -> None:
        for observer in list(self._observers):
            method = getattr(observer, "transfer_progress", None)
            if method is None:
                continue
            try:
                method(event)
            except Exception:
                log.exception("observer %r failed on transfer progress", observer)

    def channel_changed(self, channel: str, state: ChannelState, detail: str = "") -> None:
        for observer in list(self._observers):
            try:
                observer.channel_changed(channel, state, detail)
            except Exception:
                log.exception("observer %r failed on channel change", observer)
