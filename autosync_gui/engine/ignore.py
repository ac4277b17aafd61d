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

from autosync_gui.xdg import config_home

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
    "*___jb_tmp___",  # JetBrains IDEs' safe write: the new content, then the old one
    "*___jb_old___",
    ".fuse_hidden*",
    ".nfs*",
)

_BUILTIN_RE = re.compile("|".join(fnmatch.translate(p) for p in BUILTIN_PATTERNS))


def is_temporary(name: str) -> bool:
    """True for a file name (no directory) that is an editor/office temporary."""
    return _BUILTIN_RE.match(name) is not None


def as_gitignore_line(pattern: str, *, negation: bool = True) -> str:
    """`pattern` written so that git reads it as that pattern: a leading `#` would make
    the line a comment and trailing spaces would be dropped, so both are escaped; a
    leading `!` negates in gitignore syntax (the folder's `ignore` list) unless
    `negation` is False (the built-in list, whose patterns are all literal)."""
    stripped = pattern.rstrip(" ")
    line = stripped + "\\ " * (len(pattern) - len(stripped))
    if line.startswith("#") or (line.startswith("!") and not negation):
        line = "\\" + line
    return line


def scoped_pattern(pattern: str, scope: str, *, any_depth: bool = False) -> str:
    """A folder pattern (relative to the watched folder) as a gitignore line relative to
    the repository root. Patterns without an inner slash match at any depth and stay as
    they are, unless `any_depth` is set: then they are confined to the folder too (for
    a file that every folder of the repository shares, such as .git/info/exclude)."""
    negate = pattern.startswith("!")
    body = pattern[1:] if negate else pattern
    if not scope or not body:
        return as_gitignore_line(pattern)
    if "/" not in body.rstrip("/"):
        if not any_depth:
            return as_gitignore_line(pattern)
        rooted = f"/{_escape(scope)}/**/{body}"
    else:
        rooted = f"/{_escape(scope)}/{body.lstrip('/')}"
    return ("!" if negate else "") + as_gitignore_line(rooted)


def global_excludes_file(configured: str | None) -> Path | None:
    """The user's global excludes file, as git would find it."""
    if configured:
        return Path(os.path.expanduser(configured))
    return config_home() / "git" / "ignore"


def render_excludes(global_file: Path | None, folder_patterns: Iterable[str], scope: str,
                    nested_repos: Iterable[str], private_files: Iterable[str] = ()) -> str:
    """The excludes file autosync's own git commands use: the user's global excludes
    and autosync's patterns (see `autosync_lines`)."""
    parts: list[str] = []
    if global_file is not None:
        try:
            parts.append(global_file.read_text(encoding="utf-8", errors="surrogateescape"))
        except OSError:
            pass
    parts.extend(autosync_lines(folder_patterns, scope, nested_repos, private_files))
    return "\n".join(parts) + "\n"


def autosync_lines(folder_patterns: Iterable[str], scope: str, nested_repos: Iterable[str],
                   private_files: Iterable[str] = (), *, shared: bool = False) -> list[str]:
    """The built-in temporaries, the folder's patterns, its nested repositories and the
    ignored files a pull moved aside, as gitignore lines. `shared`: for a file every
    folder of the repository reads (.git/info/exclude), so the folder's own patterns stay
    inside the folder."""
    lines = ["# autosync: editor and office temporaries"]
    lines.extend(as_gitignore_line(p, negation=False) for p in BUILTIN_PATTERNS)
    lines.append("# autosync: the folder's ignore patterns")
    lines.extend(scoped_pattern(p, scope, any_depth=shared) for p in folder_patterns)
    lines.append("# autosync: nested repositories are never synced as part of this one")
    lines.extend(f"/{_escape(p)}/" for p in sorted(nested_repos))
    lines.append("# autosync: ignored files kept under another name when a pull took their path")
    lines.extend(f"/{_escape(p)}" for p in sorted(private_files))
    return lines


# The block autosync keeps in .git/info/exclude so that the user's own git commands ignore
# what autosync ignores. One block per synced folder of the repository, marked by scope.
BLOCK_END = "# <<< end of autosync's block"


def block_start(scope: str) -> str:
    where = f" for folder {scope}" if scope else ""
    return (f"# >>> autosync's block{where}: kept up to date by autosync, your edits here are "
            "replaced; add your own lines outside it")


def with_managed_block(existing: str, scope: str, lines: list[str]) -> str:
    """The text of .git/info/exclude with this folder's block replaced (or added at the
    top, so the user's own lines below it take precedence as they do over global
    excludes). Every line outside the block is kept as it was."""
    start = block_start(scope)
    kept: list[str] = []
    inside = False
    for line in existing.splitlines(keepends=True):
        bare = line.rstrip("\n")
        if not inside and bare == start:
            inside = True
        elif inside:
            inside = bare != BLOCK_END
        else:
            kept.append(line)
    block = "".join(f"{line}\n" for line in (start, *lines, BLOCK_END))
    return block + "".join(kept)


def _escape(path: str) -> str:
    """Escape gitignore metacharacters so a path matches only itself."""
    return re.sub(r"([\\*?\[\]!# ])", r"\\\1", path)


def escape_path(path: str) -> str:
    """A gitignore pattern body that matches exactly `path` (see _escape)."""
    return _escape(path)
