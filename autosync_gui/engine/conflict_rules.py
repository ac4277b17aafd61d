"""How a real conflict is resolved: keep every version, deterministically.

The rules depend only on the commits being merged, never on which replica merges or when,
so two replicas resolving the same conflict write the same tree and converge:
- the newer edit (by the time of the last commit touching the path on each side, ties
  broken by commit id) stays at the original path;
- the other goes beside it as `name (conflict from HOST YYYY-MM-DD HH.MM).ext`, with the
  host and time of that edit's commit, in the commit's own time zone;
- modify/delete keeps the modified file.

Times are commit times, so each is the clock of the machine that made that edit (host and
time in a copy's name come from the same commit: the date reads "by HOST's clock"). A
machine whose clock is hours off only changes which version counts as newer; both are
kept, and every replica reads the same commits, so all still write the same tree. The
name's format is fixed: replicas running different versions must still agree on it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from datetime import datetime

from autosync_gui.engine.events import Conflict
from autosync_gui.text import safe_host as safe_host  # re-exported: callers use rules.safe_host

COPY_MARKER = " (conflict from "  # in every conflict copy's name
CONFLICT_RE = re.compile(
    r"^(?P<stem>.*?) \((?P<marker>conflict from) (?P<host>[A-Za-z0-9._-]{1,64}) "
    r"(?P<date>\d{4}-\d{2}-\d{2} \d{2}\.\d{2})(?: (?P<n>\d+))?\)(?P<ext>\.[^./ ]*)?$"
)


@dataclass(frozen=True)
class SideVersion:
    """One side's version of a conflicted path."""

    mode: str
    blob: str
    commit: str  # the last commit on this side that touched the path
    commit_time: datetime  # aware, in the commit's own offset
    host: str


def newer_first(a: SideVersion, b: SideVersion) -> tuple[SideVersion, SideVersion]:
    """(kept at the path, copied beside it): symmetric in its arguments."""
    key_a = (a.commit_time.timestamp(), a.commit)
    key_b = (b.commit_time.timestamp(), b.commit)
    return (a, b) if key_a >= key_b else (b, a)


def copy_name(path: str, version: SideVersion, taken: set[str] | None = None) -> str:
    """The conflict copy's path for `version` of `path` (POSIX, relative)."""
    directory, name = posixpath.split(path)
    stem, ext = posixpath.splitext(name)
    if not stem:  # ".bashrc" style names: the whole name is the stem
        stem, ext = name, ""
    stamp = version.commit_time.strftime("%Y-%m-%d %H.%M")
    base = f"{stem}{COPY_MARKER}{safe_host(version.host)} {stamp}"
    candidate = posixpath.join(directory, f"{base}){ext}")
    n = 2
    while taken is not None and candidate in taken:
        candidate = posixpath.join(directory, f"{base} {n}){ext}")
        n += 1
    return candidate


@dataclass(frozen=True)
class ParsedCopy:
    original: str
    host: str
    stamp: str  # "YYYY-MM-DD HH.MM"


def parse_copy_name(path: str) -> ParsedCopy | None:
    """Recognise a conflict copy by its name; None for ordinary files."""
    directory, name = posixpath.split(path)
    match = CONFLICT_RE.match(name)
    if match is None:
        return None
    original = posixpath.join(directory, match["stem"] + (match["ext"] or ""))
    return ParsedCopy(original=original, host=match["host"], stamp=match["date"])


def kept_both_name(copy_path: str) -> str | None:
    """The name a conflict copy gets when the user keeps both versions: the same name
    without the words "conflict from", so it no longer counts as a conflict anywhere."""
    directory, name = posixpath.split(copy_path)
    match = CONFLICT_RE.match(name)
    if match is None:
        return None
    suffix = f" {match['n']}" if match["n"] else ""
    new = f"{match['stem']} ({match['host']} {match['date']}{suffix}){match['ext'] or ''}"
    return posixpath.join(directory, new)


def conflict_lines(found: list[Conflict] | tuple[Conflict, ...]) -> str:
    """The lines a merge's message lists its resolved conflicts in (both backends)."""
    return "\n".join(f"conflict: {c.path}" + (f" (other version: {c.copy_path})"
                     if c.copy_path else f" ({c.kind}, kept)") for c in found)
