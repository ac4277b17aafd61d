"""Which files some process on this machine has open, read from /proc in one pass.

Used to tell a live git's lock from a killed one's, a file an editor is still writing
from one a pull may replace, and a file still being written from one ready to commit."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def open_files(paths: set[str], *, writing_only: bool = False) -> set[str]:
    """The subset of `paths` (absolute) that some process has open (for writing, with
    `writing_only`). A renamed file's descriptors show its new name."""
    if not paths:
        return set()
    return _scan(paths.__contains__, writing_only)


def open_for_writing_under(folder: str) -> set[str]:
    """Files below `folder` (absolute, resolved) that some process has open for writing,
    outside any .git folder: e.g. a download or copy still running when autosync starts."""
    prefix = folder.rstrip("/") + "/"
    return _scan(lambda target: target.startswith(prefix)
                 and ".git" not in target[len(prefix):].split("/"), True)


def _scan(wanted: Callable[[str], bool], writing_only: bool) -> set[str]:
    found: set[str] = set()
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
                if not wanted(target):
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
