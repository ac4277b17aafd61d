"""Which backend a folder uses, decided once when the folder is opened: the repository
the folder is inside (the nearest `.git` or `.hg` going up from it) names it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from autosync_gui.engine.repository import Repository, RepositoryError

GIT, HG = "git", "hg"


def repository_kind(folder: Path) -> str | None:
    """"git" or "hg" for the innermost repository containing `folder`; None if none.
    A `.git` file (a linked work tree, a submodule) counts as git; `.hg` must be a
    folder, as Mercurial requires."""
    try:
        start = Path(folder).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    for place in (start, *start.parents):
        if place.name in (".git", ".hg"):
            continue  # inside a repository's own data: the check below reports it
        try:
            if (place / ".git").exists():
                return GIT
            if (place / ".hg").is_dir():
                return HG
        except OSError:
            return None
    return None


def _backend(folder: Path) -> type:
    if repository_kind(folder) == HG:
        from autosync_gui.engine.hg.repository import HgRepository
        return HgRepository  # its check says so when hg is not installed
    from autosync_gui.engine.gitrepo import GitRepository
    return GitRepository  # also for "no repository": its check says what to do


def validate_folder(folder: Path) -> None:
    """Raise RepositoryError (one line with the fix) if `folder` cannot be synced."""
    _backend(folder).validate(folder)  # type: ignore[attr-defined]


def open_repository(folder: Path, hostname: str, ignore: Iterable[str] = ()) -> Repository:
    """The repository of `folder` (git or Mercurial, by what the folder is inside)."""
    repo: Repository = _backend(folder).open(folder, hostname, ignore)  # type: ignore[attr-defined]
    return repo


__all__ = ["GIT", "HG", "RepositoryError", "open_repository", "repository_kind",
           "validate_folder"]
