"""The engine's recent activity: a bounded ring buffer every window and command reads
(`autosync activity`, the activity window), fed like any other observer."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from autosync_gui.engine.events import Activity, ChannelState, FolderState

KEEP = 1000


class ActivityLog:
    """Keeps the last KEEP activities of all folders, oldest first."""

    def __init__(self, keep: int = KEEP) -> None:
        self._events: deque[Activity] = deque(maxlen=keep)

    def recent(self, limit: int | None = None) -> list[Activity]:
        events = list(self._events)
        return events if limit is None else events[-limit:] if limit > 0 else []

    def state_changed(self, folder: Path, state: FolderState, detail: str) -> None:
        pass

    def activity(self, event: Activity) -> None:
        self._events.append(event)

    def channel_changed(self, channel: str, state: ChannelState, detail: str) -> None:
        pass
