"""Building git merges and resolving their conflicts: the merge of the fetched branch
into ours made as a commit without the work tree or the index (`merge-tree`, a temporary
index for the resolution), and the resolution of a merge a killed process left in the
work tree. Which version stays and what the copy is called is conflict_rules.py's
(backend-neutral); this module only applies it to git's stages. Blocking (worker
thread); the git repository holds one (`merge`), sharing its runner."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import datetime
from pathlib import Path

from autosync_gui.engine import conflict_rules as rules
from autosync_gui.engine.damage import from_failure
from autosync_gui.engine.events import Conflict
from autosync_gui.engine.git_env import GitResult
from autosync_gui.engine.git_runner import COMPARE_ONLY, GitRunner
from autosync_gui.engine.repository import RepositoryError
from autosync_gui.engine.safe_paths import UnsafePath
from autosync_gui.engine.worktree_fs import WorkTree
from autosync_gui.text import safe_host

HOST_TRAILER = "Autosync-Host"
_ZERO = "0" * 40


class GitMerge:
    """Merges for one git repository (see the module doc)."""

    def __init__(self, runner: GitRunner, work_tree: WorkTree, git_dir: Path,
                 state_dir: Path, hostname: str, remote_display: str) -> None:
        self.runner = runner
        self.remote_display = remote_display  # for naming a damaged repository's remote
        self.root = runner.root
        self.work_tree = work_tree
        self.git_dir = git_dir
        self.state_dir = state_dir
        self.hostname = hostname

    def _run(self, *args: str, stdin: bytes | None = None, check: bool = True,
             env: dict[str, str] | None = None) -> GitResult:
        return self.runner.run(*args, stdin=stdin, check=check, env=env)

    def build(self, head: str, upstream: str, host: str) -> tuple[str, tuple[Conflict, ...]]:
        """The merge of `upstream` into `head` as a commit, made without the work tree or
        the index (merge-tree, and a temporary index for the conflict resolution)."""
        result = self._run("merge-tree", "--write-tree", "-z", "--no-messages", head, upstream,
                           check=False)
        if result.status not in (0, 1):
            self.runner.raise_if_disk_full(result)
            damage = from_failure(self.root, result.err, self.remote_display)
            if damage is not None:
                raise damage
            first = (result.err.strip().splitlines() or ["(no message)"])[0]
            raise RepositoryError(f"{self.root}: merging {host}'s changes failed: {first}")
        fields = result.out.split(b"\0")
        tree = fields[0].decode().strip()
        stages: dict[str, dict[int, tuple[str, str]]] = {}
        for entry in fields[1:] if result.status == 1 else []:
            if not entry:
                break
            meta, _, raw_path = entry.partition(b"\t")
            mode, sha, stage = meta.decode().split()
            stages.setdefault(os.fsdecode(raw_path), {})[int(stage)] = (mode, sha)
        found: list[Conflict] = []
        if stages:
            fd, index = tempfile.mkstemp(prefix="merge-index-", dir=self.state_dir)
            os.close(fd)
            os.unlink(index)
            env = {"GIT_INDEX_FILE": index}
            try:
                self._run("read-tree", tree, env=env)
                listing = self._run("ls-files", "-z", env=env)
                taken = {os.fsdecode(p) for p in listing.out.split(b"\0") if p}
                index_lines, _write, _remove, found = self._plan_resolution(
                    stages, taken, head, upstream)
                self._run("update-index", "-z", "--index-info", env=env,
                          stdin=b"\0".join(index_lines) + b"\0")
                tree = self._run("write-tree", env=env).text
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(index)
        message = f"autosync on {self.hostname}: merged changes from {host}\n\n"
        if found:
            message += rules.conflict_lines(found) + "\n\n"
        message += f"{HOST_TRAILER}: {self.hostname}\n"
        commit = self._run("commit-tree", tree, "-p", head, "-p", upstream, "-F", "-",
                           stdin=message.encode("utf-8", "surrogateescape")).text
        return commit, tuple(found)

    def commit_host(self, commit: str) -> str:
        fmt = f"%(trailers:key={HOST_TRAILER},valueonly,separator=%x2c)%x00%an"
        result = self._run("log", "-1", f"--format={fmt}", commit, check=False)
        trailer, _, author = result.text.partition("\0")
        return safe_host((trailer.split(",")[0] or author).strip() or "unknown")

    def _side_version(self, side: str, path: str, mode: str, blob: str) -> rules.SideVersion:
        fmt = f"%H%x00%cI%x00%(trailers:key={HOST_TRAILER},valueonly,separator=%x2c)%x00%an"
        result = self._run("log", "-1", f"--format={fmt}", side, "--", path,
                           env={"GIT_LITERAL_PATHSPECS": "1"}, check=False)
        if not result.text:
            result = self._run("log", "-1", f"--format={fmt}", side)
        sha, when, trailer, author = ([*result.text.split("\x00"), "", "", "", ""])[:4]
        host = safe_host((trailer.split(",")[0] or author).strip() or "unknown")
        return rules.SideVersion(mode=mode, blob=blob, commit=sha,
                                 commit_time=datetime.fromisoformat(when), host=host)

    def _plan_resolution(self, stages: dict[str, dict[int, tuple[str, str]]], taken: set[str],
                         ours_rev: str, theirs_rev: str
                         ) -> tuple[list[bytes], list[str], list[str], list[Conflict]]:
        """The resolution of unmerged paths (rules in conflict_rules.py): index lines (for
        `update-index --index-info`), paths written, paths removed, conflicts found."""
        index_lines: list[bytes] = []
        write: list[str] = []
        remove: list[str] = []
        found: list[Conflict] = []

        def put(mode: str, sha: str, path: str) -> None:
            index_lines.append(f"{mode} {sha}\t".encode() + os.fsencode(path))
            write.append(path)

        for path in sorted(stages):
            entry = stages[path]
            index_lines.append(f"0 {_ZERO}\t".encode() + os.fsencode(path))
            ours, theirs = entry.get(2), entry.get(3)
            if ours and theirs and ours != theirs:
                a = self._side_version(ours_rev, path, *ours)
                b = self._side_version(theirs_rev, path, *theirs)
                keep, other = rules.newer_first(a, b)
                copy = rules.copy_name(path, other, taken)
                taken.add(copy)
                put(keep.mode, keep.blob, path)
                put(other.mode, other.blob, copy)
                found.append(Conflict(path=path, copy_path=copy,
                                      kind="content" if 1 in entry else "add/add",
                                      kept_host=keep.host, kept_time=keep.commit_time,
                                      copy_host=other.host, copy_time=other.commit_time))
            elif ours or theirs:
                mode, sha = ours or theirs  # type: ignore[misc]
                put(mode, sha, path)
                if ours and theirs:
                    continue  # both sides agree
                side = ours_rev if ours else theirs_rev
                gone = theirs_rev if ours else ours_rev
                v = self._side_version(side, path, mode, sha)
                g = self._side_version(gone, path, mode, sha)
                found.append(Conflict(path=path, copy_path=None,
                                      kind="modify/delete" if 1 in entry else "rename",
                                      kept_host=v.host, kept_time=v.commit_time,
                                      copy_host=g.host, copy_time=g.commit_time))
            else:
                remove.append(path)
        return index_lines, write, remove, found

    def resolve_and_finish(self) -> tuple[Conflict, ...]:
        """Resolve every unmerged path by keeping all versions, then commit the merge."""
        listing = self._run("ls-files", "-u", "-z")
        stages: dict[str, dict[int, tuple[str, str]]] = {}
        for entry in listing.out.split(b"\0"):
            if not entry:
                continue
            meta, _, raw_path = entry.partition(b"\t")
            mode, sha, stage = meta.decode().split()
            stages.setdefault(os.fsdecode(raw_path), {})[int(stage)] = (mode, sha)
        tracked = self._run("ls-files", "-z")
        taken = {os.fsdecode(p) for p in tracked.out.split(b"\0") if p}
        index_lines, write, remove, found = self._plan_resolution(stages, taken, "HEAD",
                                                                  "MERGE_HEAD")
        if index_lines:
            self._run("update-index", "-z", "--index-info",
                      stdin=b"\0".join(index_lines) + b"\0")
        # A file saved after git's merge wrote it is the user's newest edit: leave it on
        # disk (it is committed next), never write the resolution over it.
        expected = {p: {sha for _mode, sha in stages[p].values()} for p in stages}
        write = [p for p in write if not self._saved_during_merge(p, expected.get(p))]
        if write:
            self._run("checkout-index", "-f", "-z", "--stdin",
                      stdin=b"\0".join(os.fsencode(p) for p in write) + b"\0")
        for path in remove:
            if not self._saved_during_merge(path, expected.get(path)):
                with contextlib.suppress(FileNotFoundError, UnsafePath):
                    self.work_tree.remove(path)  # never through a link
        leftover = self._run("ls-files", "-u", "-z")
        if leftover.out.strip(b"\0"):
            raise RepositoryError(f"{self.root}: could not resolve the merge; nothing was "
                                  "committed, will retry")
        if found:
            lines = rules.conflict_lines(found)
            merge_msg = self.git_dir / "MERGE_MSG"
            old = merge_msg.read_text(encoding="utf-8", errors="replace") \
                if merge_msg.exists() else ""
            subject = old.split("\n", 1)[0] or f"autosync on {self.hostname}: merged"
            merge_msg.write_text(f"{subject}\n\n{lines}\n\n{HOST_TRAILER}: {self.hostname}\n",
                                 encoding="utf-8")
        self._run(*COMPARE_ONLY, "commit", "--no-verify", "-q", "--no-edit")
        return tuple(found)

    def _saved_during_merge(self, path: str, expected: set[str] | None) -> bool:
        """Whether the file at `path` holds something neither side of the merge had and
        git did not write (conflict markers): a save that happened while we merged.
        Read in chunks: the file may be gigabytes."""
        if expected is None:
            return False
        info = self.work_tree.lstat(path)
        if info is None or (info.st_mode & 0o170000) != 0o100000:
            return False
        if self._has_conflict_markers(path):
            return False  # git's own conflict output
        hex_len = len(next(iter(expected))) if expected else 40
        ids = self.work_tree.blob_ids(path, hex_len)
        return bool(ids) and not ids & expected

    def _has_conflict_markers(self, path: str) -> bool:
        seen_start = seen_end = False
        tail = b""
        try:
            with self.work_tree.parent(path) as (dir_fd, name):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except (OSError, UnsafePath):
            return False
        try:
            while not (seen_start and seen_end):
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                window = tail + chunk
                seen_start = seen_start or b"<<<<<<< " in window
                seen_end = seen_end or b">>>>>>> " in window
                tail = window[-8:]
        finally:
            os.close(fd)
        return seen_start and seen_end
