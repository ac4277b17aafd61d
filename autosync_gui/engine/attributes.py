"""Keeping pulled `.gitattributes` from changing anybody's bytes.

A `.gitattributes` arrives with pulled content like any file, and `* text` in it would
make git rewrite line endings of every file saved afterwards (a binary's bytes then exist
nowhere), `filter=`/`diff=`/`merge=` would name drivers for git to run. autosync syncs
bytes exactly: a block at the end of `$GIT_DIR/info/attributes` (the file git reads last
and ranks highest, never synced) turns all of that off for every path. Lines the user
wrote there stay untouched above the block. The only lines that may follow the neutral
one are those autosync derives itself (lfs.py: the LFS filter for the paths autosync
decided are large)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

BEGIN = "# >>> autosync: files are synced byte for byte (managed block; do not edit) >>>"
END = "# <<< autosync <<<"
NEUTRAL = "* -text !eol !filter !diff !merge !ident !working-tree-encoding"


def managed_text(current: str, extra: Iterable[str] = ()) -> str:
    """`current` with the managed block (re)placed at its end, the rest unchanged;
    `extra` lines follow the neutral line inside the block."""
    lines = current.splitlines()
    kept: list[str] = []
    inside = False
    for line in lines:
        if line == BEGIN:
            inside = True
        elif line == END and inside:
            inside = False
        elif not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, BEGIN, NEUTRAL, *extra, END]) + "\n"


def ensure_neutral_attributes(git_dir: Path, extra: Iterable[str] = ()) -> None:
    """Write the managed block (with `extra` after the neutral line) into
    git_dir/info/attributes when it is not there as wanted."""
    info = git_dir / "info"
    path = info / "attributes"
    try:
        current = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        current = ""
    wanted = managed_text(current, extra)
    if wanted == current:
        return
    info.mkdir(exist_ok=True)
    tmp = info / f".attributes-{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(wanted)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
