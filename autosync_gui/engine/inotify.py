"""The kernel's inotify interface through libc: one non-blocking descriptor, watches added
and removed by path, and the events read() returns, parsed. Nothing else: which folders
to watch and what an event means is watcher.py's job.

Why not pyinotify: its WatchManager keeps a Python object with half a dozen attributes per
watched folder and walks the tree into a list before watching it (136 MB for 50,000
folders), formats every event for a debug log, and must not be shared between threads."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
from typing import NamedTuple

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000

_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (name follows)
_READ_SIZE = 256 * 1024

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_init1.restype = ctypes.c_int
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_add_watch.restype = ctypes.c_int
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.inotify_rm_watch.restype = ctypes.c_int


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
        fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise _error("inotify_init1")
        self.fd = fd

    def add_watch(self, path: str | bytes, mask: int) -> int:
        """The watch descriptor; OSError (ENOSPC at the kernel's limit, ENOENT, ENOTDIR...)."""
        wd: int = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise _error(f"inotify_add_watch {os.fsdecode(path)}")
        return wd

    def rm_watch(self, wd: int) -> None:
        """Stop watching; a watch the kernel already dropped is no error."""
        if _libc.inotify_rm_watch(self.fd, wd) < 0 and ctypes.get_errno() != errno.EINVAL:
            raise _error("inotify_rm_watch")

    def read(self) -> list[Event]:
        """Every event queued now (none when the queue is empty); never blocks."""
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
                name = os.fsdecode(data[start:start + length].rstrip(b"\0"))
                events.append(Event(wd, mask, cookie, name))
                offset = start + length
            if len(data) < _READ_SIZE - 4096:
                return events  # the queue was shorter than the buffer: drained

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
