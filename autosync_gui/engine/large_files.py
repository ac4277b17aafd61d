"""Finding the files about to be committed that are at or above a folder's
`large_file_size`, cheaply: the paths the watcher saw change are looked at first, and
git lists the rest (`ls-files --others --modified`, which uses the index's stat data
and reads no file). Also: whether a file's bytes would shrink under compression (media
files do not, and compressing gigabytes for nothing is most of `git add`'s time)."""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Iterable

from autosync_gui.engine.git_runner import COMPARE_ONLY, GitRunner
from autosync_gui.engine.safe_paths import UnsafePath
from autosync_gui.engine.worktree_fs import WorkTree

SAMPLE = 256 * 1024
INCOMPRESSIBLE_RATIO = 0.9  # deflate keeps more than this share of the sample's bytes


def changed_large_files(runner: GitRunner, tree: WorkTree, scope: str, threshold: int,
                        hint: Iterable[str] | None) -> dict[str, int]:
    """{path: size} of new or modified, not ignored regular files of `threshold` bytes
    or more. `hint` (paths the watcher saw change, None when it lost track) narrows the
    listing to those paths."""
    if threshold <= 0:
        return {}
    if hint is None:
        pathspecs = [scope or "."]
    else:
        pathspecs = []
        for path in hint:
            info = tree.lstat(path)
            if info is None:
                continue
            if stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode)
                                               and info.st_size >= threshold):
                pathspecs.append(path)
        if not pathspecs:
            return {}
    found: dict[str, int] = {}
    for start in range(0, len(pathspecs), 500):
        result = runner.run(*COMPARE_ONLY, "ls-files", "-z", "--others", "--modified", "--exclude-standard",
                            "--", *pathspecs[start:start + 500],
                            env={"GIT_LITERAL_PATHSPECS": "1"}, check=False)
        for raw in result.out.split(b"\0"):
            if not raw:
                continue
            path = os.fsdecode(raw)
            info = tree.lstat(path)
            if info is not None and stat.S_ISREG(info.st_mode) and info.st_size >= threshold:
                found[path] = info.st_size
    return found


def incompressible(tree: WorkTree, path: str) -> bool:
    """Whether a sample from the middle of the file stays about as large under deflate
    (video, photos, archives): such files are stored without compression."""
    try:
        with tree.parent(path) as (dir_fd, name):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except (OSError, UnsafePath):
        return False
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size // 2 - SAMPLE // 2), os.SEEK_SET)
        sample = os.read(fd, SAMPLE)
    finally:
        os.close(fd)
    if len(sample) < 4096:
        return False
    return len(zlib.compress(sample, 1)) > INCOMPRESSIBLE_RATIO * len(sample)
