"""The activity log: one log line per activity and per state change (stderr when
headless, the log file in the tray app). A problem is logged once: the state change that
repeats an error just reported says only the new state."""

from __future__ import annotations

import logging
from pathlib import Path

from autosync_gui.engine.events import Activity, ActivityKind, ChannelState, FolderState

log = logging.getLogger("autosync")


class HeadlessLog:
    def __init__(self) -> None:
        self._last_error: dict[Path, str] = {}

    def state_changed(self, folder: Path, state: FolderState, detail: str) -> None:
        if state in (FolderState.ERROR, FolderState.OFFLINE, FolderState.CONFLICT):
            if detail and detail == self._last_error.get(Path(folder)):
                log.debug("%s: %s", folder, state)  # the error line said it already
            else:
                log.warning("%s: %s%s", folder, state, f": {detail}" if detail else "")
        else:
            log.debug("%s: %s", folder, state)

    def activity(self, event: Activity) -> None:
        if event.kind is ActivityKind.ERROR:
            self._last_error[Path(event.folder)] = event.summary
        level = logging.WARNING if event.kind in (ActivityKind.ERROR, ActivityKind.CONFLICT) \
            else logging.INFO
        log.log(level, "%s: %s", event.folder, event.summary)

    def channel_changed(self, channel: str, state: ChannelState, detail: str) -> None:
        level = logging.INFO if state in (ChannelState.CONNECTED, ChannelState.CONNECTING) \
            else logging.WARNING
        log.log(level, "%s: %s%s", channel, state, f": {detail}" if detail else "")
