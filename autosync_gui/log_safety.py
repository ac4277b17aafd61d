"""What may reach a log: no secret at any level, one line per record.

Every handler autosync installs (the headless stderr log, the tray app's file and stderr)
carries `SafeLogFilter`: a secret autosync holds (registered with `register_secret` as
soon as it is read) is replaced by asterisks wherever it appears in a message, from our
code or a library's, and control characters in messages (a pulled file name with a
newline or a terminal escape) are escaped so that one record stays one line. Libraries
that log values at debug level are held at INFO: qasync logs every worker-thread result
("Setting Future result: ..."), which would include a password read from the keyring."""

from __future__ import annotations

import logging
import os
import re
import threading

from autosync_gui.log_full_disk import guard

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_secrets: set[str] = set()
_guard = threading.Lock()
CHATTY_LIBRARIES = ("qasync",)


def register_secret(value: str | None) -> None:
    """From now on, `value` never appears in a log record."""
    if value and len(value) >= 3:
        with _guard:
            _secrets.add(value)


def redact(text: str) -> str:
    with _guard:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "********")
    return text


class SafeLogFilter(logging.Filter):
    """Redacts secrets and escapes control characters in each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string: keep what can be kept
            message = str(record.msg)
        cleaned = _CONTROL.sub(lambda m: repr(m.group())[1:-1], redact(message))
        cleaned = cleaned.replace("\r", "\\r").replace("\n", "\\n")
        record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install(*handlers: logging.Handler) -> None:
    """Put the filter on `handlers` and quiet the libraries that log values; a full
    disk makes them drop lines quietly instead of a traceback per line (log_full_disk)."""
    for handler in handlers:
        if not any(isinstance(f, SafeLogFilter) for f in handler.filters):
            handler.addFilter(SafeLogFilter())
        guard(handler)
    for name in CHATTY_LIBRARIES:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


def private_file_handler_opener(path: str) -> int:
    """Open (create) a log file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    os.fchmod(fd, 0o600)
    return fd
