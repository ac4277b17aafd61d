"""The kernel's inotify interface: one non-blocking descriptor, watches added and removed
by path, and the events read() returns, parsed. Nothing else: which folders to watch and
what an event means is watcher.py's job.

The system calls are pyinotify's (its INotifyWrapper); its WatchManager and Notifier are
not used: they keep a Python object with half a dozen attributes per watched folder and
walk the tree into a list before watching it (136 MB for 50,000 folders), format every
event for a debug log, and must not be shared between threads."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
from typing import NamedTuple

import pyinotify

IN_MODIFY: int = pyinotify.IN_MODIFY
IN_ATTRIB: int = pyinotify.IN_ATTRIB
IN_CLOSE_WRITE: int = pyinotify.IN_CLOSE_WRITE
IN_MOVED_FROM: int = pyinotify.IN_MOVED_FROM
IN_MOVED_TO: int = pyinotify.IN_MOVED_TO
IN_CREATE: int = pyinotify.IN_CREATE
IN_DELETE: int = pyinotify.IN_DELETE
IN_DELETE_SELF: int = pyinotify.IN_DELETE_SELF
IN_MOVE_SELF: int = pyinotify.IN_MOVE_SELF
IN_UNMOUNT: int = pyinotify.IN_UNMOUNT
IN_Q_OVERFLOW: int = pyinotify.IN_Q_OVERFLOW
IN_IGNORED: int = pyinotify.IN_IGNORED
IN_ONLYDIR: int = pyinotify.IN_ONLYDIR
IN_DONT_FOLLOW: int = pyinotify.IN_DONT_FOLLOW
IN_EXCL_UNLINK: int = pyinotify.IN_EXCL_UNLINK
IN_ISDIR: int = pyinotify.IN_ISDIR

_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (name follows)
_READ_SIZE = 256 * 1024

_SYSCALLS = pyinotify.INotifyWrapper.create()  # pyinotify's ctypes binding of libc


def _add_watch(fd: int, path: bytes, mask: int) -> int:
    """pyinotify's inotify_add_watch, given the path's bytes as they are (its public
    method insists on a str it encodes strictly: names that are not UTF-8 would fail)."""
    libc = getattr(_SYSCALLS, "_libc", None)
    if libc is not None:
        return int(libc.inotify_add_watch(fd, path, mask))
    return int(_SYSCALLS.inotify_add_watch(fd, os.fsdecode(path), mask))


class Event(NamedTuple):
    wd: int  # the watch it came from (-1 for a queue overflow)
    mask: int
    cookie: int  # pairs IN_MOVED_FROM with IN_MOVED_TO
    name: str  # the entry inside the watched folder ("" for the folder itself)


def _error(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")


class Inotify:
    """One inotify instance (close-on-exec, non-blocking)."""

    def __init__(self) -> None:
        if _SYSCALLS is None:
            raise OSError(errno.ENOSYS, "inotify is not available on this system")
        fd = _SYSCALLS.inotify_init()
        if fd < 0:
            raise _error("inotify_init")
        os.set_blocking(fd, False)
        fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.fcntl(fd, fcntl.F_GETFD) | fcntl.FD_CLOEXEC)
        self.fd = fd
        self.skipped = 0  # events read(only=...) left out

    def add_watch(self, path: str | bytes, mask: int) -> int:
        """The watch descriptor; OSError (ENOSPC at the kernel's limit, ENOENT, ENOTDIR...)."""
        wd: int = _add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise _error(f"inotify_add_watch {os.fsdecode(path)}")
        return wd

    def rm_watch(self, wd: int) -> None:
        """Stop watching; a watch the kernel already dropped is no error."""
        if _SYSCALLS.inotify_rm_watch(self.fd, wd) < 0 and ctypes.get_errno() != errno.EINVAL:
            raise _error("inotify_rm_watch")

    def read(self, *, only: int = 0, names: frozenset[bytes] = frozenset()) -> list[Event]:
        """Every event queued now (none when the queue is empty); never blocks. With
        `only` (mask bits), just the events that have one of those bits or a name in
        `names`: the others are only counted (`skipped`), never built."""
        events: list[Event] = []
        while True:
            try:
                data = os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                return events
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, cookie, length = _HEADER.unpack_from(data, offset)
                start = offset + _HEADER.size
                offset = start + length
                raw = data[start:offset].rstrip(b"\0")
                if only and not mask & only and raw not in names:
                    self.skipped += 1
                    continue
                events.append(Event(wd, mask, cookie, os.fsdecode(raw)))
            if len(data) < _READ_SIZE - 4096:
                return events  # the queue was shorter than the buffer: drained

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
