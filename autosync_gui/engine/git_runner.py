"""Running git for one repository: the environment every git child gets, the options
every call carries, and how failures become exceptions.

Each call is a list of arguments (no shell), stdin closed unless given, and an
environment without the secrets autosync itself holds. The options make sure that no
hook, filter driver or submodule command named by pulled content can run, and that
git's own path checks are at their strictest."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from autosync_gui.disk_space import mentions_disk_full
from autosync_gui.engine.damage import from_failure
from autosync_gui.engine.git_env import GitResult
from autosync_gui.engine.progress import ProgressLine, run_with_progress
from autosync_gui.engine.repository import DiskFull, RepositoryBusy, RepositoryError

log = logging.getLogger(__name__)
SLOW_RUN = 0.2  # seconds: a git run this long is named in the debug log, with its time

_LOCK_FILE = re.compile(r"Unable to create '(.+?\.lock)'")  # git's words for a held lock

# Environment variables that hold secrets of ours; never passed to a child.
SECRET_VARIABLES = ("AUTOSYNC_XMPP_PASSWORD",)


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without our secrets, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in SECRET_VARIABLES and not (k.startswith("AUTOSYNC_") and "PASS" in k)}
    env.update(extra or {})
    return env


def safety_options() -> list[str]:
    """Options for every git call on a synced repository (see the module doc)."""
    # Hooks are looked up under /dev/null, where no file can ever be: no hook runs. (An
    # empty folder would do for git, but git-lfs installs its own hooks wherever
    # core.hooksPath points, even from its filter process; under /dev/null it cannot.)
    return ["-c", "core.hooksPath=/dev/null",
            "-c", "core.protectHFS=true", "-c", "core.protectNTFS=true",
            "-c", "submodule.recurse=false", "-c", "fetch.recurseSubmodules=false",
            "-c", "core.fsmonitor=false"]


def big_file_options() -> list[str]:
    """Options that keep git's own memory and time in proportion for large files:
    blobs above 512 MB are streamed, never delta-compressed (git's default, stated);
    the delta search of a push holds at most 1 GB per thread; received data is kept as
    packs, never exploded into loose objects (a 1 MB edit of a 300 MB file would become
    a 300 MB loose object); git's own automatic gc never starts in the middle of a sync
    (autosync runs maintenance itself, off the event loop: maintenance.py)."""
    return ["-c", "core.bigFileThreshold=512m", "-c", "pack.windowMemory=1g",
            "-c", "transfer.unpackLimit=1", "-c", "fetch.unpackLimit=1",
            "-c", "gc.auto=0", "-c", "maintenance.auto=false"]


# For commands that compare work-tree files with the index and write no object of them
# (status, diff-index, update-index --refresh, ls-files --modified, a commit of what is
# staged): git hashes a file above core.bigFileThreshold by streaming it through its
# pack writer, deflating it at pack.compression only to throw the result away (41 s of
# CPU per GB of random data here; 5 s "deflated" at level 0, which stores). It matters
# when git must read a big file again: one whose size is a multiple of 4 GiB (the index
# keeps sizes modulo 2**32, and a 0 there means "compare the content") at every look.
COMPARE_ONLY = ("-c", "pack.compression=0")

# For every git command that compares trees, the index or files (status, diff, diff-tree,
# diff-index, show, and log with --raw, --name-status or --find-object): no per-submodule
# `ignore` setting is looked up, so .gitmodules is not parsed. A pulled one with
# `update = !command` (never run: see fetch) beside a gitlink makes git's own parse of it
# fatal ("invalid value for 'submodule.sub.update'") as soon as the gitlink is compared,
# which would wedge the folder: no pull, no commit, no history. (`-c
# diff.ignoreSubmodules=none` does not stop the parse; the option does.)
NO_SUBMODULE_CONFIG = "--ignore-submodules=none"

# fsck checks raised to errors when fetching: a tree entry that would write into .git or
# outside the folder, or a special file git refuses as a link, never enters the repository.
FETCH_FSCK_ERRORS = ("hasDot", "hasDotdot", "hasDotgit", "fullPathname", "emptyName",
                     "badFilemode", "gitmodulesSymlink", "gitattributesSymlink",
                     "gitignoreSymlink", "mailmapSymlink", "gitmodulesPath", "gitmodulesUrl",
                     "gitmodulesUpdate", "gitmodulesName")


def fetch_checks() -> list[str]:
    """`-c` options for a fetch or clone that checks every object it receives."""
    options = ["-c", "fetch.fsckObjects=true"]
    for msg_id in FETCH_FSCK_ERRORS:
        options += ["-c", f"fetch.fsck.{msg_id}=error"]
    return options


def _verb(args: tuple[str, ...]) -> str:
    """The git command among `args` (past the -c options before it), as messages name
    it ("git -c failed" said nothing)."""
    words = iter(args)
    for word in words:
        if word == "-c":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return args[0] if args else "?"


class GitRunner:
    """Runs git in one work tree with a fixed environment and fixed options."""

    def __init__(self, root: Path, env: Mapping[str, str], options: list[str]) -> None:
        self.root = root
        self._env = child_environment(env)
        self._options = list(options)
        self.remote_display = "the remote"  # named in the line about a damaged repository

    def command(self, *args: str) -> list[str]:
        return ["git", *self._options, *args]

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self._env, **(extra or {})}

    def run(self, *args: str, stdin: bytes | None = None, check: bool = True,
            timeout: float | None = None, env: Mapping[str, str] | None = None) -> GitResult:
        started = time.monotonic()
        try:
            done = subprocess.run(self.command(*args), cwd=self.root, input=stdin,
                                  stdin=None if stdin is not None else subprocess.DEVNULL,
                                  capture_output=True, env=self.environment(env),
                                  timeout=timeout, check=False)
            result = GitResult(done.returncode, done.stdout,
                               done.stderr.decode("utf-8", "replace"))
        except subprocess.TimeoutExpired:
            result = GitResult(-9, b"", f"error: git {_verb(args)} killed because it timed out "
                                        f"after {timeout:g} s")
        took = time.monotonic() - started
        if took >= SLOW_RUN:
            log.debug("%s: git %s took %.2f s", self.root, _verb(args), took)
        if check and not result.ok:
            self.raise_if_disk_full(result)  # (before the lock: "Unable to create" it too)
            if ".lock': File exists" in result.err or "Unable to create" in result.err:
                named = _LOCK_FILE.search(result.err)
                raise RepositoryBusy(f"{self.root}: another git process is using the "
                                     "repository", lock=named.group(1) if named else None)
            damage = from_failure(self.root, result.err, self.remote_display)
            if damage is not None:
                raise damage
            first = result.err.strip().splitlines()[:1] or ["(no message)"]
            raise RepositoryError(f"{self.root}: git {_verb(args)} failed: {first[0]}")
        return result

    def raise_if_disk_full(self, result: GitResult) -> None:
        """DiskFull when a local git run failed because the disk is full (git's own
        writes are atomic: what it could not finish it leaves as it was)."""
        if not result.ok and mentions_disk_full(result.err):
            raise DiskFull.measure(self.root, failed=True)

    def run_progress(self, *args: str, on_progress: Callable[[ProgressLine], None] | None,
                     idle_timeout: float, env: Mapping[str, str] | None = None) -> GitResult:
        """A transfer (push, fetch, git lfs ...) that reports progress as it goes and is
        ended only when it has been silent for `idle_timeout` seconds."""
        return run_with_progress(self.command(*args), cwd=self.root,
                                 env=self.environment(env), on_progress=on_progress,
                                 idle_timeout=idle_timeout)

    def popen(self, *args: str, env: Mapping[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        """A long-running git with pipes for stdin and stdout (e.g. cat-file --batch)."""
        return subprocess.Popen(self.command(*args), cwd=self.root, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=self.environment(env))
