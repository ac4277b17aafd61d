"""The headless observer: one log line per activity and state change on stderr."""

from __future__ import annotations

import logging
from pathlib import Path

from autosync_gui.engine.events import Activity, ActivityKind, ChannelState, FolderState

log = logging.getLogger("autosync")


class HeadlessLog:
    def state_changed(self, folder: Path, state: FolderState, detail: str) -> None:
        if state in (FolderState.ERROR, FolderState.OFFLINE, FolderState.CONFLICT):
            log.warning("%s: %s%s", folder, state, f": {detail}" if detail else "")
        else:
            log.debug("%s: %s", folder, state)

    def activity(self, event: Activity) -> None:
        level = logging.WARNING if event.kind in (ActivityKind.ERROR, ActivityKind.CONFLICT) \
            else logging.INFO
        log.log(level, "%s: %s", event.folder, event.summary)

    def channel_changed(self, channel: str, state: ChannelState, detail: str) -> None:
        level = logging.INFO if state in (ChannelState.CONNECTED, ChannelState.CONNECTING) \
            else logging.WARNING
        log.log(level, "%s: %s%s", channel, state, f": {detail}" if detail else "")
