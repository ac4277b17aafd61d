"""The one bridge from the Qt-free engine to Qt: engine observer calls become signals.

The engine calls observers on the loop thread, which under qasync is the Qt main
thread, so emitting directly is safe and keeps ordering."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

from autosync_gui.engine.events import Activity, ChannelState, FolderState, TransferProgress


class EngineSignals(QObject):
    """Implements EngineObserver; widgets connect to the signals."""

    # folder path, FolderState, detail
    stateChanged = pyqtSignal(object, object, str)
    # Activity
    activityHappened = pyqtSignal(object)
    # channel name, ChannelState, detail
    channelChanged = pyqtSignal(str, object, str)
    # TransferProgress (a push, a pull, an old version fetched; see ui/transfers.py)
    transferProgress = pyqtSignal(object)

    def state_changed(self, folder: Path, state: FolderState, detail: str) -> None:
        self.stateChanged.emit(Path(folder), state, detail)

    def activity(self, event: Activity) -> None:
        self.activityHappened.emit(event)

    def channel_changed(self, channel: str, state: ChannelState, detail: str) -> None:
        self.channelChanged.emit(channel, state, detail)

    def transfer_progress(self, event: TransferProgress) -> None:
        """The engine's optional progress observer method (ProgressObserver)."""
        self.transferProgress.emit(event)
