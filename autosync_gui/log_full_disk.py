"""A log that meets a full disk. logging's own answer to a record it cannot write is a
traceback on stderr for every record; on a full disk that is every line, for as long as
the disk stays full. A guarded handler instead drops such records and counts them, says
so once on stderr, and once writing works again writes one line saying how many were
dropped. Any other failure is handled as logging always does."""

from __future__ import annotations

import logging
import sys

from autosync_gui.disk_space import is_disk_full_error


class _Guard:
    """Wraps one handler's emit() and handleError() (instance attributes)."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.dropped = 0
        self._failed = False
        self._emit = handler.emit
        self._handle_error = handler.handleError

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        self._emit(record)
        if not self._failed and self.dropped:
            dropped, self.dropped = self.dropped, 0
            self._emit(logging.LogRecord(
                record.name, logging.WARNING, __file__, 0,
                "%d log line(s) could not be written while the disk was full", (dropped,),
                None))

    def handle_error(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        # (once full, a buffered stream may also answer EAGAIN: its buffer is still full)
        if exc is None or not (is_disk_full_error(exc)
                               or (self.dropped and isinstance(exc, OSError))):
            self._handle_error(record)
            return
        self._failed = True
        self.dropped += 1
        if self.dropped == 1:
            where = getattr(self.handler, "baseFilename", None) or "the log"
            try:
                print(f"autosync: {where} not written: the disk is full; log lines are "
                      "dropped until space is freed", file=sys.__stderr__, flush=True)
            except (OSError, ValueError, AttributeError):
                pass  # stderr is on the full disk too (or closed)


def guard(handler: logging.Handler) -> None:
    """Make `handler` drop records a full disk refuses (see the module doc); idempotent."""
    if getattr(handler, "_full_disk_guard", None) is not None:
        return
    wrapper = _Guard(handler)
    handler.emit = wrapper.emit  # type: ignore[method-assign]
    handler.handleError = wrapper.handle_error  # type: ignore[method-assign]
    handler._full_disk_guard = wrapper  # type: ignore[attr-defined]
