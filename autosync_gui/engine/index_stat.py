"""The stat data git's index holds for some paths: what git recorded when it last found a
file to hold its blob (inode, size, change and modification times).

Read straight from `$GIT_DIR/index` (format versions 2 and 3), streamed in chunks so that
memory does not grow with the tree. Anything this reader does not know (version 4's
compressed names, a split index, a cut-short file) gives None: the caller then reads the
files themselves."""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
_HEADER = struct.Struct(">4sII")
_STAT = struct.Struct(">10I")  # ctime s, ns, mtime s, ns, dev, ino, mode, uid, gid, size
_EXTENDED = 0x4000
_STAGE = 0x3000
_NAME_MASK = 0xFFF
_LOW32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class IndexStat:
    """One index entry's blob and stat data (as git stores them: 32 bits each)."""

    blob: str
    ctime: tuple[int, int]  # (seconds, nanoseconds)
    mtime: tuple[int, int]
    ino: int
    size: int
    mode: int

    @property
    def mtime_ns(self) -> int:
        return self.mtime[0] * 1_000_000_000 + self.mtime[1]

    def same_file(self, info: os.stat_result, *, ctime: bool = True) -> bool:
        """Whether `info` is the regular file git recorded: same inode, size and
        modification time (and change time with `ctime`), compared as git stores them."""
        if not stat.S_ISREG(info.st_mode) or not stat.S_ISREG(self.mode):
            return False
        if (info.st_ino & _LOW32, info.st_size & _LOW32) != (self.ino, self.size):
            return False
        if _split(info.st_mtime_ns) != self.mtime:
            return False
        return not ctime or _split(info.st_ctime_ns) == self.ctime


def _split(ns: int) -> tuple[int, int]:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return seconds & _LOW32, nanos


def read_index_stats(index: Path, wanted: set[str], hex_len: int = 40
                     ) -> dict[str, IndexStat] | None:
    """The stage-0 entries of `wanted` paths in the index file `index` (a path absent
    there is absent from the result); None when the file is missing or in a form this
    reader does not read."""
    oid_len = hex_len // 2
    name_at = 40 + oid_len + 2  # the fixed part: stat data, object id, flags
    keys = {os.fsencode(p): p for p in wanted}
    found: dict[str, IndexStat] = {}
    try:
        fh = open(index, "rb")
    except OSError:
        return None
    with fh:
        header = fh.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        signature, version, count = _HEADER.unpack(header)
        if signature != b"DIRC" or version not in (2, 3):
            return None
        buf, pos, offset, eof = b"", 0, _HEADER.size, False
        for _ in range(count):
            if len(buf) - pos < name_at + 2 + _NAME_MASK + 8 and not eof:
                more = fh.read(CHUNK)
                eof = not more
                offset += pos
                buf, pos = buf[pos:] + more, 0
            if len(buf) - pos < name_at:
                return None
            flags = int.from_bytes(buf[pos + name_at - 2:pos + name_at], "big")
            start = pos + name_at
            if flags & _EXTENDED:
                if version < 3:
                    return None
                start += 2
            length = flags & _NAME_MASK
            if length == _NAME_MASK:
                return None  # a name of 4095 bytes or more: not worth reading here
            size = ((start - pos) + length + 8) & ~7
            if len(buf) - pos < size:
                return None
            name = buf[start:start + length]
            path = keys.get(name)
            if path is not None and not flags & _STAGE:
                (c_s, c_ns, m_s, m_ns, _dev, ino, mode, _uid, _gid,
                 file_size) = _STAT.unpack_from(buf, pos)
                found[path] = IndexStat(buf[pos + 40:pos + 40 + oid_len].hex(), (c_s, c_ns),
                                        (m_s, m_ns), ino, file_size, mode)
            pos += size
        # The extensions: a split index ("link") keeps its entries in another file.
        offset += pos
        total = os.fstat(fh.fileno()).st_size
        while offset + 8 <= total - oid_len:
            fh.seek(offset)
            ext = fh.read(8)
            if len(ext) < 8:
                return None
            if ext[:4] == b"link":
                return None
            offset += 8 + int.from_bytes(ext[4:], "big")
    return found
