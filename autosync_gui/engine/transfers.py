"""The transfers under way: each folder's latest `TransferProgress`, kept by the engine like
its activity log (fed as an observer), so the tray, the activity window and `autosync
status` read one state. A finished transfer is dropped, and so is one whose folder left the
sending and receiving states without saying it finished (cut by an error)."""

from __future__ import annotations

from pathlib import Path

from autosync_gui.engine.events import (
    Activity,
    ChannelState,
    FolderState,
    TransferDirection,
    TransferProgress,
)
from autosync_gui.sizes import human_size

TRANSFER_STATES = (FolderState.PUSHING, FolderState.PULLING)


def describe(event: TransferProgress) -> str:
    """"receiving 120 MB of 1.5 GB (8%), 12.0 MB/s": one line for a tooltip, a progress
    bar or `autosync status`."""
    verb = "sending" if event.direction == TransferDirection.UPLOAD else "receiving"
    text = f"{verb} {human_size(event.done_bytes)}"
    if event.total_bytes:
        text += f" of {human_size(event.total_bytes)}"
        part = event.fraction
        if part is not None:
            text += f" ({part:.0%})"
    if event.rate:
        text += f", {human_size(event.rate)}/s"
    return text


class RunningTransfers:
    """The latest progress of each folder's running transfer (read on the loop thread)."""

    def __init__(self) -> None:
        self._running: dict[Path, TransferProgress] = {}

    @property
    def running(self) -> dict[Path, TransferProgress]:
        """A copy: folder -> its transfer under way."""
        return dict(self._running)

    def of(self, folder: Path) -> TransferProgress | None:
        return self._running.get(Path(folder))

    def overall(self) -> float | None:
        """All running transfers together, 0..1, when every one knows its total."""
        events = list(self._running.values())
        if not events or any(not e.total_bytes for e in events):
            return None
        total = sum(e.total_bytes or 0 for e in events)
        return min(1.0, sum(e.done_bytes for e in events) / total) if total else None

    def forget(self, folder: Path) -> None:
        """The folder is no longer synced here."""
        self._running.pop(Path(folder), None)

    # the observer side
    def transfer_progress(self, event: TransferProgress) -> None:
        if event.finished:
            self._running.pop(Path(event.folder), None)
        else:
            self._running[Path(event.folder)] = event

    def state_changed(self, folder: Path, state: FolderState, detail: str) -> None:
        if state not in TRANSFER_STATES:
            self._running.pop(Path(folder), None)

    def activity(self, event: Activity) -> None:
        pass

    def channel_changed(self, channel: str, state: ChannelState, detail: str) -> None:
        pass
