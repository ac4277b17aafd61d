"""Replacing a file so that a crash leaves either the old or the new content, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_atomically(target: Path, data: bytes, *, private: bool = False,
                     temp_suffix: str = ".tmp") -> None:
    """Write `data` to a temporary file beside `target`, fsync it, rename it over `target`.

    The temporary file is private (0600) while written; the result keeps that with
    `private`, else it gets the permissions a new file normally gets (0666 less umask).
    `temp_suffix` lets a caller pick a name its own file watcher ignores."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:32]}-", suffix=temp_suffix,
                               dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if not private:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
