"""Which paths a pulled Mercurial changeset may bring: git's rules (safe_paths) plus
`.hg` in every spelling (any case, HFS+ ignorable code points, NTFS short names, trailing
dots and spaces, alternate data streams) and the characters hg itself never stores."""

from __future__ import annotations

import re

from autosync_gui.engine.safe_paths import UnsafePath, verify_path

_HFS_IGNORABLE = re.compile("[\u200c\u200d\u200e\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def is_dot_hg(component: str) -> bool:
    low = _HFS_IGNORABLE.sub("", component).lower()
    stripped = low.rstrip(" .")
    return stripped in (".hg", "hg~1") or low.startswith((".hg:", "hg~1:"))


def verify_hg_path(path: str, *, symlink: bool = False) -> None:
    """Raise UnsafePath unless `path` may be written into an hg work tree."""
    verify_path(path, symlink=symlink)
    if "\n" in path or "\r" in path:
        raise UnsafePath(path, "contains a line break")
    for component in path.split("/"):
        if is_dot_hg(component):
            raise UnsafePath(path, "has a '.hg' component")
    if symlink and path.rsplit("/", 1)[-1].lower().rstrip(" .") in (".hgignore", ".hgsub",
                                                                    ".hgsubstate", ".hgtags"):
        raise UnsafePath(path, "is a symbolic link named like an hg control file")
