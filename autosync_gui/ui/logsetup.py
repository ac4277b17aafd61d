"""Logging for the tray app: a rotating file in the XDG state folder, plus stderr.

A tray app has no terminal, so the file is the only place a user can find what went
wrong; rotation keeps a long-running session from filling the disk."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from types import TracebackType

from autosync_gui.log_levels import set_library_levels
from autosync_gui.log_safety import install, private_file_handler_opener
from autosync_gui.xdg import state_home

log = logging.getLogger("autosync")

LOG_BYTES = 1_000_000
LOG_BACKUPS = 5


def state_dir() -> Path:
    return state_home() / "autosync"


def log_path() -> Path:
    return state_dir() / "autosync.log"


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file readable by its owner only (0600)."""

    def _open(self) -> io.TextIOWrapper:
        stream = open(self.baseFilename, self.mode, encoding=self.encoding,
                      errors=self.errors,
                      opener=lambda path, _flags: private_file_handler_opener(path))
        assert isinstance(stream, io.TextIOWrapper)  # text mode (the handler's "a")
        return stream


def setup_logging(verbose: bool = False) -> Path:
    """Log to ~/.local/state/autosync/autosync.log (rotated, 0600 in a 0700 folder) and
    stderr, through the secret-redacting filter (log_safety)."""
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    set_library_levels(verbose)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in list(root.handlers):
        if getattr(handler, "_autosync", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = _PrivateRotatingFileHandler(
        path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    file_handler.setFormatter(fmt)
    file_handler._autosync = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(fmt)
        stream._autosync = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    install(*root.handlers)
    return path


def excepthook(exc_type: type[BaseException], exc: BaseException,
               tb: TracebackType | None) -> None:
    """Exceptions in Qt slots and qasync async slots land here: log them instead of
    letting PyQt abort the process."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.error("unhandled exception", exc_info=(exc_type, exc, tb))


def install_excepthook() -> None:
    sys.excepthook = excepthook
