"""What never gets committed: git's own ignore rules plus editor and office temporaries
and the folder's `ignore` patterns.

Git stays the judge: we write one excludes file (the user's global excludes + ours) and
run every git command with core.excludesFile pointing at it, so `git add -A` and
`git status` agree with every .gitignore at every level and .git/info/exclude."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from pathlib import Path

# Temporaries that editors and office suites write next to the real file.
BUILTIN_PATTERNS: tuple[str, ...] = (
    "4913",  # vim's probe file for write permission
    "5036",  # vim's second probe name
    "*.swp",
    "*.swo",
    "*.swx",
    ".*.sw?",
    "*~",
    ".~lock.*#",  # LibreOffice
    "~$*",  # Microsoft Office
    ".#*",  # Emacs lock links
    "#*#",  # Emacs auto-save
    "*.part",  # browsers and download tools
    "*.crdownload",
    ".goutputstream-*",  # GIO atomic save temporaries
    "*.kate-swp",
    ".fuse_hidden*",
    ".nfs*",
)

_BUILTIN_RE = re.compile("|".join(fnmatch.translate(p) for p in BUILTIN_PATTERNS))


def is_temporary(name: str) -> bool:
    """True for a file name (no directory) that is an editor/office temporary."""
    return _BUILTIN_RE.match(name) is not None


def scoped_pattern(pattern: str, scope: str) -> str:
    """A folder pattern (relative to the watched folder) as a pattern relative to the
    repository root. Patterns without an inner slash match at any depth and stay as is."""
    if not scope:
        return pattern
    negate = pattern.startswith("!")
    body = pattern[1:] if negate else pattern
    if "/" not in body.rstrip("/"):
        return pattern
    rooted = f"/{scope}/{body.lstrip('/')}"
    return ("!" if negate else "") + rooted


def global_excludes_file(configured: str | None) -> Path | None:
    """The user's global excludes file, as git would find it."""
    if configured:
        return Path(os.path.expanduser(configured))
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(xdg) / "git" / "ignore"


def render_excludes(global_file: Path | None, folder_patterns: Iterable[str], scope: str,
                    nested_repos: Iterable[str], private_files: Iterable[str] = ()) -> str:
    parts: list[str] = []
    if global_file is not None:
        try:
            parts.append(global_file.read_text(encoding="utf-8", errors="surrogateescape"))
        except OSError:
            pass
    parts.append("# autosync: editor and office temporaries")
    parts.extend(BUILTIN_PATTERNS)
    parts.append("# autosync: the folder's ignore patterns")
    parts.extend(scoped_pattern(p, scope) for p in folder_patterns)
    parts.append("# autosync: nested repositories are never synced as part of this one")
    parts.extend(f"/{escape_path(p)}/" for p in sorted(nested_repos))
    parts.append("# autosync: ignored files kept under another name when a pull took their path")
    parts.extend(f"/{escape_path(p)}" for p in sorted(private_files))
    return "\n".join(parts) + "\n"


def escape_path(path: str) -> str:
    """Escape gitignore metacharacters so a path matches only itself."""
    return re.sub(r"([\\*?\[\]!# ])", r"\\\1", path)
