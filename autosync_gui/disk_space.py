"""Free space on the file system holding a path: how much is left, which device that is,
the reserve autosync never uses up itself, and how a full disk shows (an errno from our
own writes, git's or hg's words on stderr). Pure standard library; blocking only for a
statvfs() and a read of /proc/self/mountinfo."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

# errnos that mean "no room left": a full file system, or the user's quota used up
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})

# What autosync leaves free on a file system for everything else (the user's next save,
# the desktop, the log): 2 % of the file system, at least 1 MB, at most 64 MB.
RESERVE_SHARE = 50
RESERVE_MIN = 1 << 20
RESERVE_MAX = 64 << 20

MB = 1_000_000  # as sizes.human_size shows sizes (decimal)

# How git, hg and the C library say it (git's write_or_die says "Out of diskspace?")
_WORDS = ("no space left on device", "out of diskspace", "disk quota exceeded",
          "not enough space on the disk", "enospc")


def reserve_for(total: int) -> int:
    """The bytes autosync leaves free on a file system of `total` bytes."""
    return min(RESERVE_MAX, max(RESERVE_MIN, total // RESERVE_SHARE))


@dataclass(frozen=True)
class Space:
    """The free space of one file system, measured now."""

    device: str  # as a user finds it: the device (or file system type) and mount point
    free: int  # bytes an unprivileged process may still write (statvfs f_bavail)
    total: int

    @property
    def reserve(self) -> int:
        return reserve_for(self.total)

    @property
    def room(self) -> int:
        """What autosync may still use itself: the free space above the reserve."""
        return self.free - self.reserve

    @property
    def free_mb(self) -> int:
        return self.free // MB


def is_disk_full_error(exc: BaseException) -> bool:
    """Whether `exc` is a write refused for lack of space (ENOSPC, EDQUOT)."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def mentions_disk_full(text: str) -> bool:
    """Whether a program's complaint (git's, hg's stderr) says the disk is full."""
    low = text.lower()
    return any(word in low for word in _WORDS)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def device_name(path: Path) -> str:
    """The file system holding `path` as a user finds it: "/dev/sda2 (/home)", or for a
    file system without a device "/run/user/1000 (tmpfs)"; the path itself when
    /proc/self/mountinfo does not say."""
    try:
        real = os.path.realpath(path)
        dev = os.stat(real).st_dev
        wanted = f"{os.major(dev)}:{os.minor(dev)}"
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return str(path)
    best: tuple[int, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or fields[2] != wanted or "-" not in fields[6:]:
            continue
        mount_point = _unescape(fields[4])
        if not (real == mount_point or real.startswith(mount_point.rstrip("/") + "/")):
            continue
        after = fields.index("-", 6)
        fstype, source = fields[after + 1], _unescape(fields[after + 2])
        name = f"{source} ({mount_point})" if source.startswith("/") \
            else f"{mount_point} ({fstype})"
        if best is None or len(mount_point) > best[0]:
            best = (len(mount_point), name)
    return best[1] if best is not None else str(path)


def space_at(path: Path) -> Space:
    """The free space of the file system holding `path` (OSError when it is gone)."""
    info = os.statvfs(path)
    return Space(device=device_name(path), free=info.f_bavail * info.f_frsize,
                 total=info.f_blocks * info.f_frsize)


def room_at(path: Path) -> tuple[int, int]:
    """(free bytes, reserve) of the file system holding `path`, without naming the
    device (cheap: one statvfs)."""
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize, reserve_for(info.f_blocks * info.f_frsize)
