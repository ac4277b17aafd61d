"""How much disk a synced folder takes: its repository (history) and its work tree (the
files). Walks the folders without following links; blocking, so callers run it in a
worker thread."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DiskUsage:
    repository_bytes: int  # the repository's data (.git): every version ever synced
    work_tree_bytes: int  # the files in the synced folder, .git left out
    files: int  # how many files the work tree holds


def _walk(top: Path, skip: str | None) -> tuple[int, int]:
    """Bytes and files below `top` (allocated size of regular files; links counted as
    themselves), leaving out directories named `skip`."""
    total = count = 0
    stack = [str(top)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if entry.name != skip:
                                stack.append(entry.path)
                            continue
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # vanished or unreadable meanwhile
                    total += info.st_size
                    count += 1
        except OSError:
            continue
    return total, count


def measure_disk_usage(work_tree: Path, repository: Path) -> DiskUsage:
    """The sizes of `repository` (the git directory) and of `work_tree` (without .git)."""
    repo_bytes, _ = _walk(repository, None)
    tree_bytes, files = _walk(work_tree, ".git")
    return DiskUsage(repository_bytes=repo_bytes, work_tree_bytes=tree_bytes, files=files)
