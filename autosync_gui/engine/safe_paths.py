"""Which repository paths may exist in a work tree, and how a path is shown to a person.

Every path that arrives from a remote (a pulled tree, a history entry, a conflict copy
name) is checked here before anything on disk is touched, with the rules git's own
checkout applies (`verify_path`), HFS and NTFS spellings of `.git` included, so that no
pulled entry can write into `.git` or outside the work tree."""

from __future__ import annotations

import re

# Code points HFS+ ignores when it compares names: ".g\u200cit" is ".git" there.
_HFS_IGNORABLE = re.compile("[\u200c\u200d\u200e\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
# Files git treats specially; a symbolic link under these names is refused, as git does.
_NO_SYMLINK_NAMES = (".gitmodules", ".gitattributes", ".gitignore", ".mailmap")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class UnsafePath(Exception):
    """A path the engine refuses to write; str() names the path and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{display(path)!s} {reason}")
        self.path = path
        self.reason = reason


def _is_dotgit(component: str) -> bool:
    """`.git` in any case, and the names HFS+ or NTFS treat as `.git`."""
    if component.isascii() and "git" not in component.lower():
        return False  # (every spelling below has "git" in it; the ignorables are not ASCII)
    low = _HFS_IGNORABLE.sub("", component).lower()
    if low == ".git":
        return True
    stripped = low.rstrip(" .")  # NTFS drops trailing spaces and dots
    if stripped in (".git", "git~1"):
        return True
    return low.startswith((".git:", "git~1:"))  # NTFS alternate data streams


def _ntfs_short_name_of(component: str, name: str) -> bool:
    """`gitmod~1` style short names of `.gitmodules` and the like."""
    low = component.lower().rstrip(" .")
    prefix = name.lstrip(".")[:6]
    return bool(re.fullmatch(rf"{re.escape(prefix)}~[1-9]", low))


def verify_path(path: str, *, symlink: bool = False,
                folders_ok: set[str] | None = None) -> None:
    """Raise UnsafePath unless `path` is a repository-relative path git would check out:
    no leading `/`, no empty, `.` or `..` component, no `.git` component in any spelling,
    no NUL; a symbolic link may not be named `.gitmodules`, `.gitattributes`, ....
    `folders_ok`, for many paths in a row: the folders found good so far (each is
    checked once; a pull of 20,000 files has a few hundred)."""
    if not path:
        raise UnsafePath(path, "is empty")
    if "\0" in path:
        raise UnsafePath(path, "contains a NUL byte")
    if path.startswith("/"):
        raise UnsafePath(path, "is absolute")
    folder, _slash, last = path.rpartition("/")
    known = folders_ok is not None and folder in folders_ok
    parts = [last] if known else path.split("/")
    for component in parts:
        if component == "":
            raise UnsafePath(path, "has an empty component")
        if component in (".", ".."):
            raise UnsafePath(path, f"has a '{component}' component")
        if _is_dotgit(component):
            raise UnsafePath(path, "has a '.git' component")
    if folders_ok is not None and folder and not known:
        folders_ok.add(folder)
    if symlink:
        for name in _NO_SYMLINK_NAMES:
            if last.lower().rstrip(" .") == name or _ntfs_short_name_of(last, name):
                raise UnsafePath(path, f"is a symbolic link named like {name}")


def display(text: str) -> str:
    """A file name (or any text from a remote) fit for one log line or notification:
    control characters, newlines and bidi overrides escaped, never cut at spaces."""
    readable = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], readable)
