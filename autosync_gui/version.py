"""The version and one-line summary of autosync, from one source: pyproject.toml.

An installed autosync (pip, pipx, the Debian package, an editable install) reads them from
its distribution's metadata, which the build copied from pyproject.toml; a source tree that
was never installed reads pyproject.toml itself. `--version`, the About box, the man page
and the Debian package all show this one value."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "autosync"
UNKNOWN = "0+unknown"


def _from_metadata() -> tuple[str, str] | None:
    try:
        meta = metadata.metadata(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    summary = meta.get_all("Summary") or [""]
    return meta["Version"], summary[0]


def _from_source_tree() -> tuple[str, str] | None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, ValueError, KeyError):
        return None
    if project.get("name") != DISTRIBUTION or not isinstance(project.get("version"), str):
        return None
    return project["version"], str(project.get("description", ""))


def _lookup() -> tuple[str, str]:
    return _from_metadata() or _from_source_tree() or (UNKNOWN, "")


__version__, SUMMARY = _lookup()
