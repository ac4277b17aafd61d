"""The only configuration hg sees when autosync runs it, and the ignore file.

Every hg child runs with HGRCPATH naming one file we write (no system or user hgrc, so
no hook, extension, pager or alias of the user's runs for autosync's operations),
HGRCSKIPREPO (the repository's own .hg/hgrc is not read either: no hook from it) and
HGPLAIN. What autosync needs from those files is read here without running anything
(the `default` path, the user name, the ssh command, [auth] and TLS settings) and copied
into our file, which lives in `.hg/autosync/` (0600, its folder 0700)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from autosync_gui.engine.git_env import SSH_OPTIONS
from autosync_gui.engine.ignore import BUILTIN_PATTERNS

Config = dict[str, dict[str, str]]

# Settings copied from the user's and the repository's files (none can run code).
COPIED_KEYS = (("ui", "username"), ("ui", "ssh"), ("ui", "remotecmd"), ("web", "cacerts"))
COPIED_SECTIONS = ("auth", "hostsecurity", "hostfingerprints")
_SECTION = re.compile(r"^\[([^\[\]]+)\]")
_ITEM = re.compile(r"^([^=\s][^=]*?)\s*=\s*(.*)$")
MAX_INCLUDE_DEPTH = 10


def read_config(path: Path, into: Config, depth: int = 0) -> None:
    """Read an hgrc file the way hg does (sections, `key = value`, continuation lines,
    comments, %include, %unset), without running anything. Missing files are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return
    section = ""
    last: tuple[str, str] | None = None
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and last is not None and raw.strip():
            sec, key = last
            into[sec][key] += "\n" + raw.strip()
            continue
        line = raw.strip()
        last = None
        if not line or line[0] in "#;":
            continue
        if line.startswith("%include "):
            if depth < MAX_INCLUDE_DEPTH:
                target = os.path.expanduser(os.path.expandvars(line[9:].strip()))
                read_config(path.parent / target, into, depth + 1)
            continue
        if line.startswith("%unset "):
            into.get(section, {}).pop(line[7:].strip(), None)
            continue
        match = _SECTION.match(line)
        if match:
            section = match.group(1).strip()
            into.setdefault(section, {})
            continue
        match = _ITEM.match(line)
        if match and section:
            key = match.group(1).strip()
            into.setdefault(section, {})[key] = match.group(2).strip()
            last = (section, key)


def user_config_files() -> list[Path]:
    """The files hg itself would read before a repository's own (HGRCPATH if the user
    set it, else the system's and the user's)."""
    configured = os.environ.get("HGRCPATH")
    candidates: list[Path] = []
    if configured is not None:
        for item in configured.split(os.pathsep):
            if not item:
                continue
            place = Path(os.path.expanduser(item))
            candidates += sorted(place.glob("*.rc")) if place.is_dir() else [place]
        return candidates
    candidates.append(Path("/etc/mercurial/hgrc"))
    with contextlib.suppress(OSError):
        candidates += sorted(Path("/etc/mercurial/hgrc.d").glob("*.rc"))
    home = Path(os.path.expanduser("~"))
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    candidates += [home / ".hgrc", xdg / "hg" / "hgrc"]
    return candidates


def load(repo_hg_dir: Path) -> Config:
    """The user's configuration with the repository's on top (hg's own order)."""
    config: Config = {}
    for path in [*user_config_files(), repo_hg_dir / "hgrc"]:
        read_config(path, config)
    return config


def _value(text: str) -> str:
    """A value as one hgrc item (continuation lines indented, so nothing in it can
    start a new section or item)."""
    lines = text.splitlines() or [""]
    return "\n ".join(line.strip() for line in lines)


def render(config: Config, *, default_path: str, username: str, ignore_file: Path) -> str:
    """Our hgrc: what autosync needs, what it copies from `config`, and nothing that
    can run a command (no [hooks], [extensions], [alias], [pager], merge tools)."""
    ssh = config.get("ui", {}).get("ssh") or "ssh"
    sections: dict[str, dict[str, str]] = {
        "ui": {"username": username, "interactive": "false", "ssh": f"{ssh} {SSH_OPTIONS}",
               "merge": ":merge", "mergemarkers": "basic", "timeout": "5",
               "paginate": "never", "ignore.autosync": str(ignore_file),
               "origbackuppath": str(ignore_file.parent / "orig")},
        "paths": {"default": default_path},
        "phases": {"new-commit": "draft"},
        "subrepos": {"allowed": "false"},
        "merge": {"checkunknown": "abort", "checkignored": "abort"},
        "commands": {"status.relative": "false", "update.check": "abort"},
    }
    for section, key in COPIED_KEYS:
        value = config.get(section, {}).get(key)
        if value is not None and key not in sections.get(section, {}):
            sections.setdefault(section, {})[key] = value
    if "remotecmd" in config.get("ui", {}):
        sections["ui"]["remotecmd"] = config["ui"]["remotecmd"]
    for section in COPIED_SECTIONS:
        if config.get(section):
            sections[section] = dict(config[section])
    out: list[str] = ["# written by autosync for its own hg runs; regenerated on start"]
    for section, items in sections.items():
        out.append(f"[{section}]")
        out.extend(f"{key} = {_value(value)}" for key, value in items.items()
                   if "\n" not in key and "=" not in key)
    return "\n".join(out) + "\n"


def _escape_regexp(path: str) -> str:
    return re.escape(path)


def _glob_line(pattern: str, scope: str) -> str | None:
    """A folder `ignore` pattern (gitignore style) as an hgignore line; None for what
    hg cannot express (negations)."""
    if pattern.startswith("!") or not pattern.strip():
        return None
    body = pattern.rstrip("/")
    if "/" in body:  # anchored to the watched folder
        rooted = f"{scope}/{body.lstrip('/')}" if scope else body.lstrip("/")
        return f"rootglob:{rooted}"
    return f"glob:{body}"


def render_ignore(folder_patterns: Iterable[str], scope: str, nested_repos: Iterable[str],
                  private_files: Iterable[str]) -> str:
    """Our ignore file (hg reads it beside .hgignore through ui.ignore)."""
    lines = ["# autosync: editor and office temporaries"]
    lines += [f"glob:{p}" for p in BUILTIN_PATTERNS]
    lines.append("# autosync: git repositories' data and nested repositories")
    lines.append(r"re:(?:^|/)\.git(?:/|$)")
    lines += [f"re:^{_escape_regexp(p)}(?:/|$)" for p in sorted(nested_repos)]
    lines.append("# autosync: the folder's ignore patterns")
    lines += [line for line in (_glob_line(p, scope) for p in folder_patterns) if line]
    lines.append("# autosync: ignored files kept under another name when a pull took their path")
    lines += [f"re:^{_escape_regexp(p)}$" for p in sorted(private_files)]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> bool:
    """Write `text` to `path` (0600) unless it holds it already; True when written."""
    try:
        if path.read_text(encoding="utf-8", errors="surrogateescape") == text:
            return False
    except OSError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True
