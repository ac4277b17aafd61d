"""Moving the work tree to a pulled commit: checked like git's checkout, never through a
symbolic link, never over a save, with flat memory.

Everything in a pulled tree is hostile input. Before anything on disk is touched:
- git itself reads the whole target tree into a scratch index (its `verify_path` runs on
  every entry), and every changed path is checked again here (safe_paths.verify_path),
  with its mode (plain file, executable, symbolic link or submodule place only);
- the leading folders of every path written must be real folders on disk.
A refused commit raises HostileContent (one line naming the commit and the path) and the
work tree is left exactly as it was.

Then the files are moved one by one (worktree_fs: descriptors opened without following
links, exclusive new files, link() that never replaces): each old file is renamed aside
and compared with what we expect, so a save landing at the same moment stays; a file some
process still has open for writing is kept; a journal lets recovery after a kill -9 put
moved-aside files back. Blobs are streamed from one `git cat-file --batch` to disk, so
memory does not grow with the size or number of files. Attributes cannot change bytes on
the way (GitRepository keeps `$GIT_DIR/info/attributes` neutral), so a file's blob id is
the hash of its bytes — except for the paths autosync itself gave to Git LFS (lfs.py),
whose blob is the LFS pointer of those bytes: WorkTree then computes both ids."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from autosync_gui.disk_space import is_disk_full_error, mentions_disk_full, room_at
from autosync_gui.engine.checkout_stream import CheckoutStream, checkout_paths
from autosync_gui.engine.damage import Part, damaged, from_failure
from autosync_gui.engine.git_env import GitResult, first_line
from autosync_gui.engine.git_runner import COMPARE_ONLY, NO_SUBMODULE_CONFIG, GitRunner
from autosync_gui.engine.index_stat import is_recorded_file, read_index_stats, recorded_mtime_ns
from autosync_gui.engine.open_files import open_files
from autosync_gui.engine.racy_index import settle_written
from autosync_gui.engine.repository import (
    DiskFull,
    HostileContent,
    RepositoryBusy,
    RepositoryDamaged,
    RepositoryError,
    ensure_room,
)
from autosync_gui.engine.safe_paths import UnsafePath, display, verify_path
from autosync_gui.engine.worktree_fs import (
    CHUNK,
    Aside,
    FolderMoved,
    InTheWay,
    WorkTree,
    moved_unwritten,
    stat_key,
)

log = logging.getLogger(__name__)

NO_FILE = "000000"
REGULAR, EXECUTABLE, SYMLINK, GITLINK = "100644", "100755", "120000", "160000"
_MODES = {mode: mode for mode in (NO_FILE, REGULAR, EXECUTABLE, SYMLINK, GITLINK)}
MAX_LINK_TARGET = 4096
PLENTY = 8 << 30  # free bytes above the reserve that no pull is sized against
KEPT_LOCAL_MARK = "local, not synced"
BIG_PULL = 500  # files removed or replaced: from here git's stat check is the cheaper
SETTLE_BYTES = 256 << 20  # written at once: from here waiting a second beats re-reading
RACY_NS = 2_000_000_000  # a file modified this close to git's check: read it again


class Change(NamedTuple):
    """One path's change between the work tree's commit and the target. (A tuple, as
    Replaced.)"""

    old_mode: str
    new_mode: str
    old: str
    new: str
    path: str

    @property
    def removes(self) -> bool:
        return self.old_mode != NO_FILE

    @property
    def writes(self) -> bool:
        return self.new_mode != NO_FILE


@dataclass
class PullOutcome:
    moved: bool  # HEAD, the index and the work tree are at the target
    busy: str | None = None  # a path in the way (a save): commit it, then try again
    kept_local: list[tuple[str, str]] = field(default_factory=list)  # ignored file, new name
    saved_beside: list[str] = field(default_factory=list)  # saves kept under another name


class BlobReader:
    """One `git cat-file --batch` for a whole pull: blobs copied to disk in chunks."""

    def __init__(self, runner: GitRunner) -> None:
        self._process = runner.popen("cat-file", "--batch")
        self._root = runner.root
        self._remote = runner.remote_display
        self.stopped = False  # git died in the middle of an object: start another

    def _header(self, sha: str) -> int:
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            self._process.stdin.write(f"{sha}\n".encode())
            self._process.stdin.flush()
        except OSError:
            self.stopped = True
            raise
        header = self._process.stdout.readline().decode("ascii", "replace").split()
        self.stopped = not header
        if header[1:] == ["missing"] or not header:  # gone, or git died reading it
            raise damaged(self._root, Part.OBJECTS,
                          f"object {sha} is {'missing' if header else 'unreadable'}",
                          remote=self._remote)
        if len(header) != 3 or header[1] != "blob":
            raise RepositoryError(f"object {sha[:12]} is not a blob in this repository")
        return int(header[2])

    def copy_to(self, sha: str, fd: int) -> None:
        def write(chunk: bytes) -> None:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        self._stream(sha, write)

    def _stream(self, sha: str, sink: Callable[[bytes], None]) -> None:
        size = self._header(sha)
        stdout = self._process.stdout
        assert stdout is not None
        remaining = size
        while remaining:
            chunk = stdout.read(min(CHUNK, remaining))
            if not chunk:  # git died reading it: a corrupt object
                raise damaged(self._root, Part.OBJECTS, f"object {sha} could not be read "
                              "to its end", remote=self._remote)
            sink(chunk)
            remaining -= len(chunk)
        stdout.read(1)  # the newline after each object

    def starts_with(self, sha: str, fd: int) -> bool:
        """Whether the blob `sha` begins with the whole content of the open file `fd`
        (what git had written of it when it stopped); streamed, in chunks. When git
        cannot read the blob (a corrupt object: why git stopped writing it), what it
        could read counts: the file may hold no more than that (nothing: an empty
        file)."""
        try:
            size = self._header(sha)
        except RepositoryDamaged:
            return not os.read(fd, 1)
        stdout = self._process.stdout
        assert stdout is not None
        same, file_ended = True, False
        remaining = size
        while remaining:
            chunk = stdout.read(min(CHUNK, remaining))
            if not chunk:  # git died in the middle of it
                self.stopped = True
                return same and (file_ended or not os.read(fd, 1))
            remaining -= len(chunk)
            if same and not file_ended:
                mine = _read_exactly(fd, len(chunk))
                file_ended = len(mine) < len(chunk)
                same = mine == chunk[:len(mine)]
        stdout.read(1)
        return same and (file_ended or not os.read(fd, 1))

    def small(self, sha: str, limit: int) -> bytes:
        size = self._header(sha)
        stdout = self._process.stdout
        assert stdout is not None
        data = stdout.read(size)
        stdout.read(1)
        if len(data) < size:
            raise damaged(self._root, Part.OBJECTS, f"object {sha} could not be read to "
                          "its end", remote=self._remote)
        if size > limit:
            raise RepositoryError(f"object {sha[:12]} is too large ({size} bytes)")
        return data

    def close(self) -> None:
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def _read_exactly(fd: int, n: int) -> bytes:
    parts: list[bytes] = []
    while n > 0:
        part = os.read(fd, n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


class Replaced(NamedTuple):
    """An old file moved aside that held the version git has (`blob`), with its stat
    as it was hashed (a stat_key: a later check needs no second read unless it
    changed). (A tuple: a frozen dataclass cost 0.1 s to make 20,000 of.)"""

    aside: Aside
    path: str
    blob: str
    stat: bytes


class CarefulPull:
    """Moves one work tree (see the module doc); given the repository's git runner."""

    def __init__(self, runner: GitRunner, tree: WorkTree, state_dir: Path,
                 index_file: Path) -> None:
        self._run = runner.run
        self._runner = runner
        self._tree = tree
        self._index = index_file
        self._journal = state_dir / "pull-journal"
        # Set by the repository while it stores files with Git LFS: given (path, blob id)
        # pairs written by a pull, a writer per path whose content is an LFS object on
        # this machine. Those files are written here by streaming that object (git's
        # smudge filter would hold the whole file in git's memory).
        self.lfs_writers: Callable[[list[tuple[str, str]]],
                                   dict[str, Callable[[int], None]]] | None = None
        # For a big pull: what git's index recorded for the files its stat check found
        # unchanged (see _unchanged_by_git); a file moved aside that is still exactly
        # that file needs no second read.
        self._known: dict[str, bytes] = {}  # (index_stat's compact entries)
        self._new_bytes = 0  # the size of the objects a pull writes (check_objects)
        # git's stat check of a big pull, started beside reading its plan (fast_forward)
        self._stat_check: Future[tuple[set[str] | None, dict[str, bytes]]] | None = None
        self._removing: Future[set[str]] | None = None  # the paths it looks up

    # ================================================================== checking
    def check_tree(self, target: str, source: str) -> Path:
        """The index for `target`, built in the scratch folder from a copy of the real
        one (unchanged entries keep their stat data); git's own path checks run on every
        entry as it reads the tree. HostileContent when git refuses it. The caller
        installs the returned file (install_index) or removes it."""
        index = self._tree.scratch / f"index-{secrets.token_hex(8)}"
        try:
            # copy2: with its time, so entries racily clean in the real index stay so
            shutil.copy2(self._index, index)
        except FileNotFoundError:
            pass
        except OSError:
            index.unlink(missing_ok=True)
            raise
        # --reset: a one-tree merge, so an entry whose blob and mode stay keeps the stat
        # data it had (a plain read-tree zeroes them all, and the refresh after the move
        # would then hash every file of the folder again: a 4 GB file at every pull)
        result = self._run("read-tree", "--reset", target,
                           env={"GIT_INDEX_FILE": str(index)}, check=False)
        if not result.ok:
            index.unlink(missing_ok=True)
            self._runner.raise_if_disk_full(result)  # a full disk is not the remote's fault
            damage = from_failure(self._runner.root, result.err, self._runner.remote_display)
            if damage is not None:
                raise damage  # our own objects, not the content, are the trouble
            raise HostileContent(f"refused {source}: {display(first_line(result.err))}; "
                                 "nothing was written. The remote needs a commit that "
                                 "removes it")
        return index

    def check_objects(self, changes: list[Change]) -> None:
        """Every object the pull is to write is here, before anything is moved: a
        repository missing one is damaged. One that is here but cannot be read to its
        end (a corrupt pack, an object cut short) is found as the files are written:
        checkout-index fails, and the move is undone (_roll_back: what was written,
        whole or in part, goes; the old versions come back) before the damage is
        reported. Reading every object here first cost about what writing them does.
        Their sizes are summed (_trust_big_writes)."""
        wanted = sorted({c.new for c in changes if c.writes and c.new_mode != GITLINK})
        self._new_bytes = 0
        if not wanted:
            return
        result = self._run("cat-file", "--batch-check=%(objectname) %(objectsize)",
                           check=False,
                           stdin="".join(f"{sha}\n" for sha in wanted).encode())
        missing = [line.split()[0] for line in result.text.splitlines()
                   if line.endswith(" missing")]
        self._new_bytes = sum(int(size) for _sha, _sep, size in
                              (line.partition(" ") for line in result.text.splitlines())
                              if size.isdigit())
        if missing or not result.ok:
            detail = (f"object {missing[0]} is missing" if missing
                      else first_line(result.err))
            raise damaged(self._runner.root, Part.OBJECTS, detail,
                          remote=self._runner.remote_display)

    def install_index(self, index: Path) -> None:
        """Make `index` the repository's index, holding git's own index.lock meanwhile."""
        lock = self._index.with_name(self._index.name + ".lock")
        try:
            os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
        except FileExistsError:
            raise RepositoryBusy(f"{self._tree.root}: another git process is using the "
                                 "repository") from None
        try:
            os.replace(index, lock)
            os.replace(lock, self._index)
        except BaseException:
            lock.unlink(missing_ok=True)
            raise

    def plan(self, head: str | None, target: str, source: str) -> list[Change]:
        """The changes from `head` to `target`, each path and mode checked."""
        return self._parse(self._diff(head, target), source)

    def _diff(self, head: str | None, target: str) -> list[bytes]:
        """git's raw diff from `head` to `target`: (meta, path) field pairs."""
        old = head or self._run("hash-object", "-t", "tree", "--stdin", stdin=b"").text
        diff = self._run("diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", "--raw",
                         NO_SUBMODULE_CONFIG, old, target)
        return diff.out.split(b"\0")

    def _parse(self, fields: list[bytes], source: str) -> list[Change]:
        """The changes of a raw diff (_diff), each path and mode checked."""
        changes: list[Change] = []
        seen: set[str] = set()
        folders_ok: set[str] = set()
        modes = _MODES
        for meta, raw in zip(fields[0::2], fields[1::2], strict=False):
            if not meta:
                break
            parts = meta.decode("ascii", "replace").split(" ")
            path = os.fsdecode(raw)
            if len(parts) != 5 or parts[0][:1] != ":":
                raise self._refuse(source, path, "has an entry git cannot describe")
            old_mode, new_mode = modes.get(parts[0][1:]), modes.get(parts[1])
            if old_mode is None or new_mode is None:
                unsupported = parts[1] if old_mode is not None else parts[0][1:]
                raise self._refuse(source, path, f"has the unsupported mode {unsupported}")
            try:
                verify_path(path, symlink=new_mode == SYMLINK, folders_ok=folders_ok)
            except UnsafePath as exc:
                raise self._refuse(source, path, exc.reason) from None
            if path in seen:
                raise self._refuse(source, path, "appears twice in the tree")
            seen.add(path)
            changes.append(Change(old_mode, new_mode, parts[2], parts[3], path))
        self._check_folders(changes, source)
        return changes

    def _check_folders(self, changes: list[Change], source: str) -> None:
        """Every folder a written path goes through must be a real folder on disk (or
        not exist yet, or be a file or link this pull removes first). (Each folder is
        looked at once: a pull of 20,000 files has a few hundred.)"""
        removed = {c.path for c in changes if c.removes}
        written = {c.path for c in changes if c.new_mode != NO_FILE}
        checked: set[str] = {""}
        for change in changes:
            if change.new_mode == NO_FILE:
                continue
            folder = change.path.rpartition("/")[0]
            if folder in checked:
                continue
            parts = folder.split("/")
            for i in range(1, len(parts) + 1):
                prefix = "/".join(parts[:i])
                if prefix in checked:
                    continue
                if prefix in written:
                    raise self._refuse(source, change.path,
                                       f"needs '{display(prefix)}' as a folder and a file")
                checked.add(prefix)
                info = self._tree.lstat(prefix)
                if info is None or prefix in removed or (info.st_mode & 0o170000) == 0o040000:
                    continue
                kind = "a symbolic link" if (info.st_mode & 0o170000) == 0o120000 else "a file"
                raise self._refuse(source, change.path,
                                   f"would be written through '{display(prefix)}', which is "
                                   f"{kind} on disk")

    @staticmethod
    def _refuse(source: str, path: str, reason: str) -> HostileContent:
        return HostileContent(f"refused {source}: path '{display(path)}' {reason}; nothing "
                              "was written. The remote needs a commit that removes it")

    def _on_disk(self, change: Change) -> set[str]:
        """The ids of what is at the path now, comparable with change.old (a file stored
        with Git LFS matches its pointer's id too)."""
        hex_len = len(change.old)
        if change.old_mode == GITLINK:
            info = self._tree.lstat(change.path)
            return {change.old} if info is not None and \
                (info.st_mode & 0o170000) == 0o040000 else set()
        if change.old_mode == SYMLINK:
            link = self._link_id(change.path, hex_len)
            return {link} if link else set()
        return self._tree.blob_ids(change.path, hex_len)

    def _link_id(self, rel: str, hex_len: int) -> str | None:
        try:
            with self._tree.parent(rel) as (fd, name):
                target = os.readlink(name, dir_fd=fd)
        except (OSError, UnsafePath):
            return None
        return self._run("hash-object", "--stdin", "--no-filters",
                         stdin=os.fsencode(target)).text

    def _unchanged_by_git(self, changes: list[Change], head: str | None) -> set[str]:
        """For a big pull, the paths it removes or replaces that git's own stat-based
        check finds unchanged since `head` (refreshed first, so a file only touched is
        unchanged; a racily-clean one is compared by content): reading every such file
        here would cost more than git's pass over the whole tree. Small pulls: none (each
        file is hashed here). Anything git reports, or cannot tell, is hashed here. (The
        check started by fast_forward, beside reading the plan, or run now.)"""
        self._known = {}
        started, self._stat_check = self._stat_check, None
        removing, self._removing = self._removing, None  # (a set of 20,000 paths: 2 MB)
        paths = removing.result() if removing is not None and removing.done() else \
            {c.path for c in changes if c.removes}  # (fast_forward's, or built now)
        if head is None or len(paths) < BIG_PULL:
            if started is not None:
                started.result()  # (its index lock is gone once it is done)
            return set()
        modified, self._known = started.result() if started is not None else \
            self._git_stat_check(head, lambda: paths)
        if modified is None:
            return set()
        return paths - modified

    def _git_stat_check(self, head: str, removing: Callable[[], set[str]]
                        ) -> tuple[set[str] | None, dict[str, bytes]]:
        """(the paths git finds changed since `head` after refreshing its index, None
        when it could not tell; the index's entries of the others among `removing()`,
        as _index_stats gives them)."""
        checked_at = time.time_ns()
        self._run(*COMPARE_ONLY, "update-index", "-q", "--refresh", check=False)
        result = self._run(*COMPARE_ONLY, "diff-index", "-z", "--name-only", "--no-renames",
                           NO_SUBMODULE_CONFIG, head, "--", check=False)
        if not result.ok:
            return None, {}
        modified = {os.fsdecode(p) for p in result.out.split(b"\0") if p}
        return modified, self._index_stats(removing() - modified, checked_at, len(head))

    def _index_stats(self, unchanged: set[str], checked_at: int, hex_len: int
                     ) -> dict[str, bytes]:
        """The index's stat data of the files git just found unchanged, as recorded by
        its check: a file moved aside with exactly that stat data (inode, size, change
        and modification times) is the one git read. Files modified within RACY_NS of
        the check are left out (a write in the same clock tick would not show)."""
        stats = read_index_stats(self._index, unchanged, hex_len)
        if stats is None:
            return {}
        return {path: entry for path, entry in stats.items()
                if recorded_mtime_ns(entry) + RACY_NS <= checked_at}

    def in_the_way(self, changes: list[Change], head: str | None = None
                   ) -> tuple[str | None, list[str]]:
        """(a path holding a save the pull would replace, or None; ignored files at paths
        the pull adds). Each file is checked again as it is replaced."""
        ignored_candidates: list[str] = []
        unchanged = self._unchanged_by_git(changes, head)
        for change in changes:
            if change.removes:
                if change.path not in unchanged and change.old not in self._on_disk(change):
                    return change.path, []
            elif self._tree.lstat(change.path) is not None:
                ignored_candidates.append(change.path)
        if not ignored_candidates:
            return None, []
        result = self._run("check-ignore", "-z", "--stdin", check=False,
                           stdin=b"\0".join(os.fsencode(p) for p in ignored_candidates) + b"\0")
        ignored = {os.fsdecode(p) for p in result.out.split(b"\0") if p}
        for path in ignored_candidates:
            info = self._tree.lstat(path)
            if path not in ignored or info is None or (info.st_mode & 0o170000) != 0o100000:
                return path, []  # an untracked save where a file arrives: commit it first
        return None, ignored_candidates

    # ================================================================== moving
    def fast_forward(self, head: str | None, target: str, source: str) -> PullOutcome:
        """Move HEAD, the index and the work tree from `head` to `target` (a descendant
        of head, or a merge of it). `source` names the pulled commit in messages."""
        try:
            # (git's stat check of a big pull runs in a thread beside reading the plan and
            # the checks after it: 0.2 s of git's, 0.4 s of ours for 20,000 files)
            with ThreadPoolExecutor(1, thread_name_prefix="autosync-stat-check") as beside:
                removing: Future[set[str]] = Future()  # (the plan's paths: not a copy)
                self._removing = removing
                try:
                    fields = self._diff(head, target)
                    if head is not None and _removals(fields) >= BIG_PULL:
                        self._stat_check = beside.submit(self._git_stat_check, head,
                                                         removing.result)
                    changes = self._parse(fields, source)
                    del fields  # (40,000 objects for 20,000 paths)
                    removing.set_result({c.path for c in changes if c.removes})
                    del removing  # (dropped by _unchanged_by_git once the check has it)
                    self._ensure_room(changes)
                    self.check_objects(changes)
                    index = self.check_tree(target, source)
                    try:
                        return self._move(head, target, changes, index)
                    finally:
                        index.unlink(missing_ok=True)
                finally:
                    if self._removing is not None and not self._removing.done():
                        self._removing.set_result(set())  # (a refused plan: the check ends)
                    self._removing = None
                    self._stat_check = None  # (the pool waits for it)
        except DiskFull as exc:
            if exc.need:
                raise  # (a look before anything was touched)
            # measured again now that what was half-written is gone: a retry waits for
            # more space than that, or it would stop at the same place again
            raise DiskFull.measure(self._tree.root, failed=True) from None
        except OSError as exc:
            if is_disk_full_error(exc):
                raise DiskFull.measure(self._tree.root, failed=True) from None
            raise

    def _ensure_room(self, changes: list[Change]) -> None:
        """DiskFull, before anything is touched, unless the files this pull writes and
        a new index (twice: the copy, then git's refreshed one) fit above the reserve."""
        blobs = sorted({c.new for c in changes
                        if c.writes and c.new_mode in (REGULAR, EXECUTABLE)})
        with contextlib.suppress(OSError):
            free, reserve = room_at(self._tree.root)
            if free - reserve >= PLENTY and self._tree.same_fs:
                return  # (sizing the blobs costs a git run: not worth it here)
        need = 0
        if blobs:
            sizes = self._run("cat-file", "--batch-check=%(objectsize)", check=False,
                              stdin="".join(f"{b}\n" for b in blobs).encode())
            need = sum(int(f) for f in sizes.text.split() if f.isdigit())
        with contextlib.suppress(OSError):
            need += 2 * os.stat(self._index).st_size
        ensure_room(self._tree.root, self._tree.scratch, need=need)

    def _move(self, head: str | None, target: str, changes: list[Change], index: Path
              ) -> PullOutcome:
        if self._stat_check is not None:
            self._stat_check.exception()  # (done: the index lock seen next is not ours)
        lock = self._index.with_name(self._index.name + ".lock")
        if os.path.lexists(lock):  # another git has the index: nothing is touched now
            raise RepositoryBusy(f"{self._tree.root}: another git process is using the "
                                 "repository", lock=str(lock))
        busy, ignored = self.in_the_way(changes, head)
        if busy is not None:
            return PullOutcome(moved=False, busy=busy)
        # (while the journal stays, so do the files it names: never trash for later)
        try:
            with self._tree.pull_asides(keep=self._journal.exists):
                return self._move_files(head, target, changes, index, ignored)
        finally:
            self._known = {}  # (20,000 entries for a pull of as many files)

    def _move_files(self, head: str | None, target: str, changes: list[Change], index: Path,
                    ignored: list[str]) -> PullOutcome:
        outcome = PullOutcome(moved=True)
        started = time.monotonic()
        for path in ignored:
            outcome.kept_local.append((path, self._keep_local(path)))
        asides = {c.path: self._tree.new_aside(c.path) for c in changes if c.removes}
        self._write_journal(head, target, asides)
        replaced: list[Replaced] = []
        links: list[Aside] = []  # old symbolic links moved aside: trash once all moved
        writes = {c.path: c for c in changes if c.writes}
        free: list[str] = []  # paths to write, each free (its old version aside)
        stream: CheckoutStream | None = None
        try:
            try:
                removals = sorted((c for c in changes if c.removes and not c.writes),
                                  key=lambda c: c.path)  # removals first
                self._remove(removals, asides, replaced, links, outcome)
                for change in removals:
                    self._tree.prune_empty_parents(change.path)
                arriving = sorted((c for c in changes if c.writes), key=lambda c: c.path)
                streamed = self._streamed_writers(arriving)
                moving = [c for c in arriving if c.removes]
                hand_over: Callable[[list[str]], None] = free.extend
                if len(moving) >= BIG_PULL and len(arriving) > len(streamed):
                    # git writes one folder's files while the next folder's go aside
                    stream = CheckoutStream(self._runner, index)
                    git_writes = stream.write

                    def hand_over(paths: list[str]) -> None:
                        free.extend(paths)
                        git_writes([p for p in paths if p not in streamed])
                hand_over([c.path for c in arriving if not c.removes])
                self._remove(moving, asides, replaced, links, outcome, on_free=hand_over)
            except FolderMoved as exc:  # (its files are back in it): all goes back
                if stream is not None:
                    stream.stop()
                    stream = None
                if not self._roll_back(asides, [writes[p] for p in free]):
                    raise DiskFull.measure(self._tree.root, failed=True) from None
                outcome.moved, outcome.busy = False, str(exc)  # (what was kept stays said)
                return outcome
            for link in links:
                self._tree.discard(link)  # (a link's "content" is its target, known to git)
            log.debug("%s: %d old files moved aside in %.2f s", self._tree.root, len(asides),
                      time.monotonic() - started)
            if stream is not None:
                moved_at = time.monotonic()
                by_git = stream.sent
                written, stream = stream, None
                self._check_written(written.finish(), by_git, writes)
                log.debug("%s: git checkout-index wrote %d files (%d after the moves, in "
                          "parallel), done %.2f s after the last was free", self._tree.root,
                          len(by_git), len(written.waiting), time.monotonic() - moved_at)
                self._create_streamed([p for p in free if p in streamed], streamed, writes)
            else:
                self._write(free, index, writes, streamed)
            if self._trust_big_writes(free, index):
                # (in a later second than every file written: git trusts their stat
                # data; without big files, the status after a pull refreshes the index)
                self._run(*COMPARE_ONLY, "update-index", "-q", "--refresh",
                          env={"GIT_INDEX_FILE": str(index)}, check=False)
            self.install_index(index)
        except BaseException:
            # (a full disk half-way, another git's lock): the tree goes back to HEAD
            if stream is not None:
                stream.stop()
            try:
                self._roll_back(asides, [writes[p] for p in free])
            except Exception as exc:  # the journal stays: recovery tries again
                log.warning("%s: undoing a pull that stopped half-way failed: %s",
                            self._tree.root, exc)
            raise
        # From here the index is the target's: if moving HEAD fails, the journal stays
        # and finish_interrupted() moves it later.
        self._run("update-ref", "-m", f"autosync: fast-forward to {target[:12]}", "HEAD",
                  target, head or "")
        # An editor may still hold a replaced file open for writing: its next write would
        # land in a deleted file. Such files are kept (beside the path if it is taken).
        writing = open_files({self._tree.aside_path(old.aside) for old in replaced},
                             writing_only=True)
        for old in replaced:
            still_writing = bool(writing) and self._tree.aside_path(old.aside) in writing
            changed = not still_writing and \
                not self._tree.aside_unchanged(old.aside, old.stat) and \
                self._tree.aside_exists(old.aside) and \
                old.blob not in self._tree.aside_blob_ids(old.aside, len(old.blob))
            if still_writing or changed:
                self._keep_save(old.aside, old.path, outcome)
            else:
                self._tree.discard(old.aside)  # with the pull's trash (pull_asides)
        self._journal.unlink(missing_ok=True)
        return outcome

    def _roll_back(self, asides: dict[str, Aside], written: list[Change]) -> bool:
        """Undo a move that could not finish: the files it wrote (whole or in part) are
        removed, the files it moved aside go back (beside their path if a save took it
        meanwhile). The journal stays when a full disk refused part of that:
        finish_interrupted() does the rest later. True when all was undone."""
        complete = True

        def failed(what: str, exc: BaseException) -> None:
            nonlocal complete
            if is_disk_full_error(exc) or isinstance(exc, DiskFull):
                complete = False
            else:  # never retried forever: said, and left where it is
                log.warning("%s: undoing a pull that stopped half-way: %s %s: %s",
                            self._tree.root, what, exc, "(left as it is)")

        reader: BlobReader | None = None
        try:
            for change in written:
                try:
                    if change.new_mode == GITLINK:
                        with contextlib.suppress(OSError):
                            self._tree.remove(change.path)  # only ever an empty folder
                        continue
                    if reader is None:
                        reader = BlobReader(self._runner)
                    if self._written_by_us(change, reader):
                        self._tree.remove(change.path)
                        self._tree.prune_empty_parents(change.path)
                except (OSError, UnsafePath, RepositoryError) as exc:
                    failed(f"removing {display(change.path)}", exc)
                if reader is not None and reader.stopped:  # (a corrupt object)
                    reader.close()
                    reader = None
        finally:
            if reader is not None:
                reader.close()
        for path, aside in asides.items():
            try:
                if self._tree.aside_exists(aside):
                    self._tree.put_back(aside, path)
            except (OSError, UnsafePath, InTheWay) as exc:
                failed(f"putting back {display(path)} from {self._tree.aside_path(aside)}",
                       exc)
        if complete:
            self._journal.unlink(missing_ok=True)
        return complete

    def _written_by_us(self, change: Change, reader: BlobReader) -> bool:
        """Whether the path holds what this pull wrote there, whole or cut short (git
        leaves a file it could not finish writing)."""
        info = self._tree.lstat(change.path)
        if info is None:
            return False
        if change.new_mode == SYMLINK:
            return (info.st_mode & 0o170000) == 0o120000 and \
                self._link_id(change.path, len(change.new)) == change.new
        if (info.st_mode & 0o170000) != 0o100000:
            return False
        if change.new in self._tree.blob_ids(change.path, len(change.new)):
            return True
        try:
            with self._tree.parent(change.path) as (dir_fd, name):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            return False
        try:
            return reader.starts_with(change.new, fd)
        finally:
            os.close(fd)

    def _streamed_writers(self, arriving: list[Change]) -> dict[str, Callable[[int], None]]:
        """For the files autosync stores with Git LFS among `arriving`: a writer each
        that streams its LFS object (git's smudge filter would hold the whole file in
        git's memory); they are created here, not by git (see lfs_writers)."""
        if self.lfs_writers is None:
            return {}
        return self.lfs_writers([(c.path, c.new) for c in arriving
                                 if c.new_mode in (REGULAR, EXECUTABLE)])

    def _write(self, paths: list[str], index: Path, changes: dict[str, Change],
               streamed: dict[str, Callable[[int], None]]) -> None:
        """Write the target's version of `paths` (each free now) with git's
        checkout-index from the target index (see CheckoutStream for how: exclusively,
        no leading link, stat data recorded), the files in `streamed` here."""
        by_git = [p for p in paths if p not in streamed]
        if by_git:  # (a big pull streams instead: _move_files)
            self._check_written(checkout_paths(self._runner, index, by_git), by_git, changes)
        self._create_streamed([p for p in paths if p in streamed], streamed, changes)

    def _check_written(self, result: GitResult, by_git: list[str],
                       changes: dict[str, Change]) -> None:
        """Raise what stopped checkout-index (a full disk, an unreadable object, a
        leading folder that is not one); a path it found taken is no problem (a save
        landed there: it stays and is committed on top)."""
        problems = [line for line in result.err.splitlines()
                    if line.strip() and not line.endswith("already exists, no checkout")]
        if not problems and result.status < 0:  # killed: it wrote what it wrote
            problems = [f"git checkout-index was stopped by signal {-result.status}"]
        # (git says "unable to write file" without why: the why is a disk that has
        # less room than the files it could not write)
        if problems and (mentions_disk_full(result.err)
                         or self._did_not_fit([(p, changes[p]) for p in by_git])):
            raise DiskFull.measure(self._tree.root, failed=True)
        if problems:
            damage = from_failure(self._tree.root, "\n".join(problems),
                                  self._runner.remote_display)
            if damage is not None:
                raise damage  # an object could not be read: its file is not written
            raise RepositoryError(f"{self._tree.root}: writing pulled files failed: "
                                  f"{display(problems[0])}")

    def _create_streamed(self, paths: list[str], streamed: dict[str, Callable[[int], None]],
                         changes: dict[str, Change]) -> None:
        for path in paths:
            # Created exclusively like checkout-index does (a save landing meanwhile stays
            # and is committed on top); git records its stat data at the next commit.
            try:
                self._tree.create(path, streamed[path],
                                  executable=changes[path].new_mode == EXECUTABLE)
            except UnsafePath as exc:
                raise RepositoryError(f"{self._tree.root}: writing pulled files failed: "
                                      f"{exc}") from None

    def _trust_big_writes(self, written: list[str], index: Path) -> bool:
        """Spare git a second read of big files just written (racy_index): worth a wait
        of up to a second only when they are big (sized by check_objects, not a stat of
        each of maybe thousands of files). True when they were big."""
        if not written or self._new_bytes < SETTLE_BYTES:
            return False
        settle_written(self._runner, self._tree, index, written)
        return True

    def _did_not_fit(self, wanted: list[tuple[str, Change]]) -> bool:
        """Whether the files checkout-index did not write whole need more than the disk
        has free now (a half-written one still on it, or removed again by git)."""
        try:
            free, _reserve = room_at(self._tree.root)
        except OSError:
            return False
        sizes = self._run("cat-file", "--batch-check=%(objectname) %(objectsize)",
                          check=False,
                          stdin="".join(f"{c.new}\n" for _p, c in wanted).encode())
        size_of = {f[0]: int(f[1]) for f in (line.split() for line in sizes.text.splitlines())
                   if len(f) == 2 and f[1].isdigit()}
        missing = 0
        for path, change in wanted:
            info = self._tree.lstat(path)
            size = size_of.get(change.new, 0)
            if info is None or info.st_size != size:
                missing += size - (info.st_size if info is not None else 0)
        return missing > free

    def _remove(self, changes: list[Change], asides: dict[str, Aside],
                replaced: list[Replaced], links: list[Aside], outcome: PullOutcome,
                on_free: Callable[[list[str]], None] | None = None) -> None:
        """Move the old entries aside, folder by folder; `on_free` is given each
        folder's paths that are free for their new version as soon as that folder is
        done (not those where an entry stays: a save, a folder)."""
        by_path = {c.path: c for c in changes}

        def settle(folder: list[tuple[str, bytes | None]]) -> None:
            free = [path for path, before in folder
                    if self._settle(by_path[path], asides[path], before, replaced, links,
                                    outcome)]
            if on_free is not None:
                on_free(free)

        self._tree.move_aside_many([(c.path, asides[c.path]) for c in changes],
                                   each_folder=settle)

    def _settle(self, change: Change, aside: Aside, before: bytes | None,
                replaced: list[Replaced], links: list[Aside], outcome: PullOutcome) -> bool:
        """An old entry just moved aside (`before`: its stat_key before the move, None
        when it was gone): True when it is the version git has, and its path is free."""
        if before is None:
            return True  # the user deleted it meanwhile: that is their newest edit
        if change.old_mode == GITLINK:
            self._keep_save(aside, change.path, outcome)  # a folder: never ours to remove
            return False
        if change.old_mode == SYMLINK:
            links.append(aside)  # a link's "content" is its target, known to git
            return True
        known = self._known.get(change.path)
        if known is not None and is_recorded_file(known, change.old, before):
            # The very file git found to hold change.old, all its stat data unchanged
            # up to the move (its change time too), and no write since (the move itself
            # changes only the change time).
            after = self._tree.aside_lstat(aside)
            if after is not None and moved_unwritten(before, after_key := stat_key(after)):
                replaced.append(Replaced(aside, change.path, change.old, after_key))
                return True
        ids, info = self._tree.aside_hash(aside, len(change.old))
        if change.old not in ids or info is None:
            self._keep_save(aside, change.path, outcome)  # saved meanwhile: theirs stays
            return False
        replaced.append(Replaced(aside, change.path, change.old, stat_key(info)))
        return True

    def _keep_save(self, aside: Aside, path: str, outcome: PullOutcome) -> None:
        where = self._tree.put_back(aside, path)
        if where != path:
            outcome.saved_beside.append(where)

    def _keep_local(self, path: str) -> str:
        """An ignored file where a pulled file arrives: rename it to a name that stays
        ignored (see kept_local_names) and return that name."""
        directory, _, name = path.rpartition("/")
        stem, dot, ext = name.partition(".") if not name.startswith(".") else (name, "", "")
        for n in range(1, 100):
            suffix = f" {n}" if n > 1 else ""
            candidate = f"{stem} ({KEPT_LOCAL_MARK}{suffix}){dot}{ext}"
            new = f"{directory}/{candidate}" if directory else candidate
            self._remember_kept_local(new)
            if self._tree.rename(path, new, replace=False):
                return new
        raise RepositoryError(f"{display(path)}: no free name to keep the local file")

    def _remember_kept_local(self, path: str) -> None:
        store = self._journal.with_name("kept-local")
        names = kept_local_names(store.parent)
        if path not in names:
            with open(store, "a", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(json.dumps(path) + "\n")

    # ================================================================== recovery
    def _write_journal(self, head: str | None, target: str, asides: dict[str, Aside]) -> None:
        """Before anything moves: where HEAD was, where it goes, what goes aside where."""
        # ([path, folder, name] lists: a list of dicts was the peak of a big pull's memory)
        entries = [[p, a.folder, a.name] for p, a in asides.items()]
        tmp = self._journal.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
                # (dumps, not dump: one pass of the C encoder, not Python's for a file)
                fh.write(json.dumps({"head": head, "target": target, "asides": entries}))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._journal)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def finish_interrupted(self) -> None:
        """A pull stopped half-way in this process (a full disk) is finished or undone
        before anything else, so that nothing is ever committed from a half-moved tree;
        DiskFull while that still cannot be done."""
        if self._journal.exists() and not self.recover():
            raise DiskFull.measure(self._tree.root, failed=True)

    def _index_at(self, target: str) -> bool:
        return self._run("diff-index", "--cached", "--quiet", NO_SUBMODULE_CONFIG, target, "--",
                         check=False).ok

    def recover(self) -> bool:
        """After a pull stopped half-way (kill -9, a full disk): when the index had
        reached the pulled commit, finish the move; before that, undo it (what it wrote
        goes, what it moved aside comes back). After a finished move, files moved aside
        go back only when git does not have their content (a save in flight), beside
        their path when a different file is there now. Temporaries are dropped. True if
        there was work and it is done (False too when nothing was to do: see the
        journal)."""
        for stray in self._tree.scratch.glob(".autosync-*.part"):
            stray.unlink(missing_ok=True)
        for stray in self._tree.scratch.glob("index-*"):
            stray.unlink(missing_ok=True)
        if not self._journal.exists():
            self._tree.empty_trash(after_crash=True)
            return False
        try:
            journal = json.loads(self._journal.read_text(encoding="utf-8",
                                                         errors="surrogateescape"))
        except (OSError, ValueError):
            journal = []
        if isinstance(journal, dict):  # (a list: written by an older version)
            entries = journal.get("asides") or []
            head, target = journal.get("head"), journal.get("target")
            current = self._run("rev-parse", "-q", "--verify", "HEAD^{commit}",
                                check=False).text or None
            if isinstance(target, str) and current != target:
                if current == head and self._index_at(target):
                    self._run("update-ref", "-m", f"autosync: fast-forward to {target[:12]}",
                              "HEAD", target, head or "")
                else:
                    asides = dict(_journal_asides(entries))
                    changes = self.plan(head if isinstance(head, str) else None, target,
                                        f"commit {target[:12]}")
                    done = self._roll_back(asides, [c for c in changes if c.writes])
                    if done:
                        self._tree.empty_trash(after_crash=True)
                    return done
        else:
            entries = journal
        for path, aside in _journal_asides(entries):
            if not self._tree.aside_exists(aside):
                continue
            blobs = self._tree.aside_blob_ids(aside)
            if any(self._run("cat-file", "-e", blob, check=False).ok for blob in blobs):
                self._tree.discard(aside)  # a version git has (the committed one)
            else:
                with contextlib.suppress(UnsafePath):
                    self._tree.put_back(aside, path)  # a save that was in flight: keep it
        self._journal.unlink(missing_ok=True)
        self._tree.empty_trash(after_crash=True)
        return True


def _removals(fields: list[bytes]) -> int:
    """How many entries of a raw diff (_diff) remove or replace a path."""
    return sum(1 for meta in fields[0::2] if meta and not meta.startswith(b":000000 "))


def _journal_asides(entries: object) -> list[tuple[str, Aside]]:
    """(path, where it went) for each entry of a pull journal: [path, folder, name]
    lists, or {"path", "folder", "name"} dicts as older versions wrote them."""
    found: list[tuple[str, Aside]] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            path, folder, name = entry.get("path"), entry.get("folder"), entry.get("name")
        elif isinstance(entry, list) and len(entry) == 3:
            path, folder, name = entry
        else:
            continue
        if isinstance(path, str) and isinstance(name, str) and name and \
                (folder is None or isinstance(folder, str)):
            found.append((path, Aside(folder, name)))
    return found


def kept_local_names(state_dir: Path) -> list[str]:
    """Names ignored files were given when a pull brought a file to their path; they
    stay out of every commit (the excludes file lists them)."""
    try:
        lines = (state_dir / "kept-local").read_text(encoding="utf-8",
                                                      errors="surrogateescape").splitlines()
    except OSError:
        return []
    names: list[str] = []
    for line in lines:
        with contextlib.suppress(ValueError):
            name = json.loads(line)
            if isinstance(name, str):
                names.append(name)
    return names

