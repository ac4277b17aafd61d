"""Sparing git a second read of the files a pull has just written ("racy git").

git trusts an index entry's stat data only when the file's mtime is older than the index
file itself, in whole seconds (Debian's git ignores nanoseconds there): a file written in
the same second as the index is "racily clean", and every status, diff-index or refresh
reads it again until some command rewrites the index in a later second. checkout-index
writes the files and then the index within the same second, so each file a pull writes
is racy: for a 4 GB file that is a minute or more of hashing at each look.

`settle_written` waits until the clock has left the second of the newest written file,
then compares each written file's full stat (nanosecond mtime and ctime, inode, size) with
what checkout-index recorded. When every racily-clean entry of the index is one of those
files and none changed since git recorded it, no write can have slipped in after, and the
index file's time is set to now: git then trusts the entries as after a later index write.
Otherwise nothing changes and git reads what it must."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autosync_gui.engine.git_runner import GitRunner
from autosync_gui.engine.repository import RepositoryError
from autosync_gui.engine.worktree_fs import CHUNK, WorkTree

NS = 1_000_000_000
SIZE_BITS = 0xFFFFFFFF  # the index keeps a file's size modulo 2**32


@dataclass(frozen=True)
class EntryStat:
    """The stat data git recorded for one index entry (`git ls-files --debug`)."""

    ctime_ns: int
    mtime_ns: int
    ino: int
    size: int

    def matches(self, info: os.stat_result) -> bool:
        return (self.ctime_ns == info.st_ctime_ns and self.mtime_ns == info.st_mtime_ns
                and self.ino == info.st_ino and self.size == info.st_size & SIZE_BITS)


def _time_ns(field: bytes) -> int:
    seconds, _, nanos = field.partition(b":")
    return int(seconds) * NS + int(nanos or b"0")


def _parse(block: bytes) -> EntryStat:
    values: dict[bytes, bytes] = {}
    for line in block.split(b"\n"):
        for part in line.split(b"\t"):
            key, _, value = part.strip().partition(b": ")
            values[key] = value
    return EntryStat(_time_ns(values[b"ctime"]), _time_ns(values[b"mtime"]),
                     int(values[b"ino"]), int(values[b"size"]))


def index_stats(runner: GitRunner, index: Path) -> Iterator[tuple[str, EntryStat]]:
    """Every entry of `index` with its stat data, streamed (a big index is never held)."""
    process = runner.popen("ls-files", "--debug", "-z", env={"GIT_INDEX_FILE": str(index)})
    assert process.stdin is not None and process.stdout is not None
    process.stdin.close()
    buffer = b""
    try:
        while True:
            # one entry: NAME \0 then five lines of stat data, each ending in \n
            end = buffer.find(b"\0")
            if end >= 0:
                block_end = end
                for _ in range(5):
                    block_end = buffer.find(b"\n", block_end + 1)
                    if block_end < 0:
                        break
                if block_end >= 0:
                    name = os.fsdecode(buffer[:end])
                    yield name, _parse(buffer[end + 1:block_end])
                    buffer = buffer[block_end + 1:]
                    continue
            chunk = os.read(process.stdout.fileno(), CHUNK)
            if not chunk:
                if process.wait() != 0 or buffer:
                    raise RepositoryError(f"git ls-files could not list {index}")
                return
            buffer += chunk
    finally:
        process.stdout.close()
        if process.poll() is None:
            process.kill()
            process.wait()


def settle_written(runner: GitRunner, tree: WorkTree, index: Path,
                   written: list[str]) -> bool:
    """Make the files checkout-index just wrote into `index` (paths `written`) trusted by
    their stat data, as the module says. True when the index's time was moved."""
    stats: dict[str, os.stat_result] = {}
    for path in written:
        info = tree.lstat(path)
        if info is None:
            return False
        stats[path] = info
    if not stats:
        return False
    newest = max(info.st_mtime_ns for info in stats.values()) // NS
    while time.time_ns() // NS <= newest:
        # at most a second: waiting is cheaper than git reading the files again
        time.sleep((NS - time.time_ns() % NS) / NS + 0.001)
    index_second = os.stat(index).st_mtime_ns // NS
    try:
        for name, entry in index_stats(runner, index):
            if entry.mtime_ns // NS < index_second:
                continue  # git trusts this one already
            now = tree.lstat(name) if name in stats else None
            if now is None or not entry.matches(now):
                return False  # racy for a reason of its own, or changed since: git checks
    except (RepositoryError, KeyError, ValueError):
        return False  # not read whole: git checks everything itself
    os.utime(index)
    return True
