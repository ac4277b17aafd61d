"""Which files some process on this machine has open, read from /proc in one pass.

Used to tell a live git's lock from a killed one's, and a file an editor is still writing
from one a pull may replace."""

from __future__ import annotations

import os
from pathlib import Path


def open_files(paths: set[str], *, writing_only: bool = False) -> set[str]:
    """The subset of `paths` (absolute) that some process has open (for writing, with
    `writing_only`). A renamed file's descriptors show its new name."""
    found: set[str] = set()
    if not paths:
        return found
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
                if target not in paths:
                    continue
                if writing_only:
                    info = (proc / "fdinfo" / fd.name).read_text()
                    flags = int(info.split("flags:", 1)[1].split()[0], 8)
                    if not flags & (os.O_WRONLY | os.O_RDWR):
                        continue
            except (OSError, IndexError, ValueError):
                continue
            found.add(target)
    return found
