"""The git implementation of the repository interface, driving the git CLI through GitPython.

Every method blocks and is meant for a worker thread. Git never waits for a prompt: no
terminal prompts, ssh in batch mode, stdin closed. Pathspecs always follow `--`."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import git

from autosync_gui.disk_space import is_disk_full_error
from autosync_gui.engine import conflict_rules as rules
from autosync_gui.engine.attributes import ensure_neutral_attributes
from autosync_gui.engine.careful_pull import (
    EXECUTABLE,
    MAX_LINK_TARGET,
    REGULAR,
    SYMLINK,
    BlobReader,
    CarefulPull,
    kept_local_names,
)
from autosync_gui.engine.damage import RepositoryCheck, from_failure
from autosync_gui.engine.events import Conflict, TransferDirection
from autosync_gui.engine.git_env import (
    GitResult,
    noninteractive_env,
    remote_error,
    transfer_error,
)
from autosync_gui.engine.git_history import FileHistory
from autosync_gui.engine.git_merge import GitMerge
from autosync_gui.engine.git_runner import (
    COMPARE_ONLY,
    NO_SUBMODULE_CONFIG,
    GitRunner,
    big_file_options,
    fetch_checks,
    safety_options,
)
from autosync_gui.engine.ignore import (
    autosync_lines,
    escape_path,
    global_excludes_file,
    render_excludes,
    with_managed_block,
)
from autosync_gui.engine.large_files import changed_large_files, incompressible
from autosync_gui.engine.lfs import MAX_POINTER, LargeFileStore, parse_pointer, rules_in
from autosync_gui.engine.maintenance import run_maintenance, store_size
from autosync_gui.engine.open_files import open_files
from autosync_gui.engine.progress import ProgressLine
from autosync_gui.engine.remote_url import without_credentials
from autosync_gui.engine.repository import (
    CommitInfo,
    CommitResult,
    DiskFull,
    HostileContent,
    IntegrateResult,
    ProgressSink,
    RemoteError,
    RepositoryDamaged,
    RepositoryError,
    StorageReport,
)
from autosync_gui.engine.safe_paths import UnsafePath, display, verify_path
from autosync_gui.engine.worktree_fs import WorkTree
from autosync_gui.sizes import human_size
from autosync_gui.text import safe_host

log = logging.getLogger(__name__)

NETWORK_TIMEOUT = 120.0
PUSH_SIZE_DELAY = 0.5  # a push still going after this long gets its size estimated
MAX_LISTED_FILES = 50
MAX_SHOWN_FILE = 32 << 20  # file_at reads into memory: only for what a viewer can show
HOST_TRAILER = "Autosync-Host"
_HEX = re.compile(r"^[0-9a-f]{7,64}$")
_FSCK_REFUSAL = re.compile(r"error: object ([0-9a-f]{40,64}): (\w+): (.*)")


@dataclass(frozen=True)
class _Layout:
    repo: git.Repo
    root: Path
    scope: str
    branch: str
    remote: str
    remote_branch: str


def _inspect(folder: Path) -> _Layout:
    """Check that `folder` can be synced; every failure is one line with the fix."""
    folder = Path(folder)
    try:
        folder.stat()
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:  # name too long, not a directory, NUL byte, ...
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RepositoryError(f"{str(folder)[:200]}: cannot use this path ({reason}); "
                              "fix the path") from None
    if not folder.exists():
        raise RepositoryError(f"{folder} does not exist; create it or fix the path")
    if not folder.is_dir():
        raise RepositoryError(f"{folder} is not a folder; point path at a folder")
    try:
        repo = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        damaged_head = _damaged_head(folder)
        if damaged_head is not None:
            raise RepositoryError(damaged_head) from None
        raise RepositoryError(
            f"{folder} is not inside a git work tree; clone your remote there "
            f"(git clone URL {folder}) or run `git init` in it"
        ) from None
    if repo.bare or repo.working_tree_dir is None:
        raise RepositoryError(f"{folder} is a bare repository; point path at a clone of it")
    root = Path(repo.working_tree_dir).resolve()
    real = folder.resolve()
    if real != root and root not in real.parents:
        raise RepositoryError(f"{folder} is inside a .git folder; point path at the work tree")
    scope = "" if real == root else real.relative_to(root).as_posix()
    if ".git" in Path(scope).parts:
        raise RepositoryError(f"{folder} is inside a .git folder; point path at the work tree")
    if repo.head.is_detached:
        raise RepositoryError(f"{root}: HEAD is detached; check out a branch (git switch main)")
    branch = repo.active_branch.name
    reader = repo.config_reader()
    section = f'branch "{branch}"'
    remote = reader.get_value(section, "remote", "") if reader.has_section(section) else ""
    merge = reader.get_value(section, "merge", "") if reader.has_section(section) else ""
    if not remote or not merge or remote == ".":
        if not repo.remotes:
            raise RepositoryError(
                f"{root} has no remote; add one (git remote add origin URL) and push once "
                f"(git push -u origin {branch})"
            )
        raise RepositoryError(
            f"{root}: branch {branch} has no upstream branch; set it by pushing once "
            f"(git push -u {repo.remotes[0].name} {branch})"
        )
    remote_branch = str(merge).removeprefix("refs/heads/")
    return _Layout(repo, root, scope, branch, str(remote), remote_branch)


def _damaged_head(folder: Path) -> str | None:
    """The line for a repository git no longer recognises because its HEAD file is
    damaged (empty or garbage after a power cut); None when there is no such folder."""
    for place in (folder.resolve(), *folder.resolve().parents):
        git_dir = place / ".git"
        if not (git_dir / "objects").is_dir() or not (git_dir / "refs").is_dir():
            continue
        try:
            head = (git_dir / "HEAD").read_bytes().strip()
        except FileNotFoundError:
            why = "missing"
        except OSError as exc:
            why = f"unreadable: {exc.strerror}"
        else:
            if re.fullmatch(rb"ref: refs/\S+|[0-9a-f]{40}|[0-9a-f]{64}", head):
                return None  # sound: git refuses the folder for another reason
            why = "an empty file" if not head else "garbage"
        try:
            config = (git_dir / "config").read_text(encoding="utf-8", errors="replace")
        except OSError:
            config = ""
        branches = re.findall(r'^\s*\[branch "([^"]+)"\]', config, re.M)
        branch = branches[0] if len(branches) == 1 else "BRANCH"
        return (f"{git_dir}/HEAD is damaged ({why}); repair: write the branch into it "
                f"(echo 'ref: refs/heads/{branch}' > {git_dir}/HEAD), then start again")
    return None


_STATUS_WORDS = {"A": "added", "M": "modified", "T": "modified", "D": "deleted",
                 "R": "renamed", "C": "added"}


def _name_status(raw: bytes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`git log --name-status -z` entries of one commit -> (paths, what happened to each);
    a rename or copy names its new path."""
    fields = [os.fsdecode(f).strip("\n") for f in raw.split(b"\0")]
    files: list[str] = []
    changes: list[str] = []
    i = 0
    while i < len(fields):
        status = fields[i]
        if not status or status[0] not in _STATUS_WORDS:
            i += 1
            continue
        count = 2 if status[0] in "RC" else 1
        paths = fields[i + 1:i + 1 + count]
        if paths:
            files.append(paths[-1])
            changes.append(_STATUS_WORDS[status[0]])
        i += 1 + count
    return tuple(files), tuple(changes)


class SizeEstimate:
    """git's estimate of a transfer's size, computed by its own git process beside the
    transfer: calling it gives None until the number is known; stop() ends the process
    when the transfer is over first (on a long history it can take seconds). The process
    starts only when the transfer is still going after `delay` seconds: a short one (most
    pushes) shows no progress to size, and on two CPUs the estimate, walking the same
    objects, slowed it by half. `args` gives git's arguments then (it may ask git
    itself). The thread owns the value; readers only read it."""

    def __init__(self, runner: GitRunner, args: Callable[[], list[str]], *,
                 delay: float = 0.0) -> None:
        self._value: int | None = None
        self._runner = runner
        self._args = args
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(delay, self._run)
        self._timer.name = "autosync size estimate"
        self._timer.daemon = True
        self._timer.start()

    def _run(self) -> None:
        with self._lock:
            if self._stopped:
                return
            process = self._process = self._runner.popen(*self._args())
        if process.stdin is not None:
            process.stdin.close()
        out = process.stdout
        if out is None:
            return
        with contextlib.suppress(OSError, ValueError):
            text = out.read().strip()
            if process.wait() == 0 and text.isdigit():
                self._value = int(text)
        out.close()

    def __call__(self) -> int | None:
        return self._value

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._timer.cancel()
            process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()


class GitRepository:
    """One folder's git work tree (the folder may be a sub-folder: `scope`)."""

    kind = "git"
    ignore_file_name = ".gitignore"

    def __init__(self, layout: _Layout, hostname: str, ignore: Iterable[str],
                 large_file_size: int = 0) -> None:
        self._repo = layout.repo
        self.root = layout.root
        self.scope = layout.scope
        self.branch = layout.branch
        self.remote = layout.remote
        self.remote_branch = layout.remote_branch
        self.tracking_ref = f"refs/remotes/{self.remote}/{self.remote_branch}"
        self.hostname = safe_host(hostname)
        self.git_dir = Path(self._repo.common_dir).resolve()
        self.data_dir = self.git_dir
        self.state_dir = self.git_dir / "autosync"
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        ensure_neutral_attributes(self.git_dir)
        self.work_tree = WorkTree(self.root, self.state_dir / "scratch")
        self._ignore = tuple(ignore)
        self._nested: set[str] = set()
        self._excludes_written: str | None = None
        self._info_block_written: list[str] | None = None
        self._excludes = self.state_dir / "exclude"
        self._identity: str | None = None
        self._has_head = False
        self._lock_fd: int | None = None
        self.progress_sink: ProgressSink | None = None
        # The paths seen changing since the last commit (None: unknown), set by the folder
        # loop before commit_pending: where to look for new large files first.
        self.change_hint: set[str] | None = None
        self.large_file_size = large_file_size
        # New large files: announced once (large_notices, taken by the folder loop);
        # with hold_large_files they wait outside commits until the user decides.
        self.hold_large_files = False
        self.large_notices: list[tuple[str, int]] = []
        self._announced: set[str] = set()
        self._held: set[str] = set()
        self._waiting_for_lfs: set[str] = set()
        self._allowed: set[str] = set()
        reader = self._repo.config_reader()
        self.remote_url = str(reader.get_value(f'remote "{self.remote}"', "url", self.remote))
        self.remote_display = without_credentials(self.remote_url)  # for messages and logs
        options = ["-c", "core.quotepath=false", "-c", f"core.excludesFile={self._excludes}",
                   "-c", "commit.gpgSign=false", "-c", "advice.detachedHead=false",
                   "-c", "merge.conflictStyle=merge", *safety_options(),
                   # git's own housekeeping never runs inside a commit or fetch a save
                   # waits for: autosync's maintenance (maintenance.py) runs after syncs
                   *big_file_options()]
        self.runner = GitRunner(self.root, self._build_env(reader), options)
        self.runner.remote_display = self.remote_display
        self.file_history = FileHistory(self.runner, self.scope, self.hostname,
                                        self.tracking_ref)
        index_file = self.root / self._run("rev-parse", "--git-path", "index").text
        self.careful_pull = CarefulPull(self.runner, self.work_tree, self.state_dir,
                                        index_file)
        self.merge = GitMerge(self.runner, self.work_tree, self.git_dir, self.state_dir,
                              self.hostname, self.remote_display)
        self.checker = RepositoryCheck(self._run, self.root, self.git_dir, index_file,
                                       self.branch, self.tracking_ref, self.remote_display,
                                       self.state_dir, self._refetch)
        self.partial = str(reader.get_value(f'remote "{self.remote}"', "promisor", "false")
                           ).lower() == "true"
        self.lfs = LargeFileStore(self.runner, self.git_dir, self.scope, self.remote,
                                  self.remote_url, self.work_tree)
        self.lfs_notes: list[str] = []  # one-line reports for the folder loop
        self._lfs_rules: list[str] = []
        self._lfs_reported = False
        self._lfsconfig_reported = False
        if self._rev("HEAD") is not None:
            self._use_lfs_rules(self.lfs.committed_rules("HEAD"))
        global_file = reader.get_value("core", "excludesfile", "") \
            if reader.has_option("core", "excludesfile") else ""
        self._global_excludes = global_excludes_file(str(global_file) or None)
        self._write_excludes()

    # ------------------------------------------------------------------ opening
    @staticmethod
    def validate(folder: Path) -> None:
        """Raise RepositoryError (one line with the fix) if `folder` cannot be synced."""
        _inspect(folder)

    @classmethod
    def open(cls, folder: Path, hostname: str, ignore: Iterable[str] = (),
             large_file_size: int = 0) -> GitRepository:
        return cls(_inspect(folder), hostname, ignore, large_file_size)

    def _build_env(self, reader: git.GitConfigParser) -> dict[str, str]:
        ssh = str(reader.get_value("core", "sshcommand", "")) \
            if reader.has_option("core", "sshcommand") else None
        env = {**noninteractive_env(ssh or None), "GIT_MERGE_AUTOEDIT": "no", "GIT_EDITOR": "true"}
        user = os.environ.get("USER") or "user"
        if not (os.environ.get("GIT_AUTHOR_NAME") or reader.has_option("user", "name")):
            env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "autosync"
        if not (os.environ.get("GIT_AUTHOR_EMAIL") or reader.has_option("user", "email")):
            env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = f"{user}@{self.hostname}"
        return env

    # ------------------------------------------------------------------ running git
    def _run(self, *args: str, stdin: bytes | None = None, check: bool = True,
             timeout: float | None = None, env: dict[str, str] | None = None) -> GitResult:
        return self.runner.run(*args, stdin=stdin, check=check, timeout=timeout, env=env)

    def _network(self, *args: str) -> GitResult:
        result = self._run(*args, check=False, timeout=NETWORK_TIMEOUT)
        if not result.ok:
            raise remote_error(self.remote_display, result.err)
        return result

    def _transfer(self, what: str, direction: TransferDirection, *args: str,
                  total: Callable[[], int | None] | None = None,
                  env: dict[str, str] | None = None) -> GitResult:
        """A network transfer with progress sent to progress_sink (see ProgressSink);
        `total` tells the size to expect once it is known (None before)."""
        sink = self.progress_sink
        done = [0]

        def expected() -> int | None:
            return total() if total is not None else None

        def seen(line: ProgressLine) -> None:
            if sink is not None and line.moves_data and line.done_bytes is not None:
                done[0] = line.done_bytes
                sink(what, direction, line.done_bytes, expected(), line.rate, False)

        result = self.runner.run_progress(*args, on_progress=seen, env=env,
                                          idle_timeout=NETWORK_TIMEOUT)
        if sink is not None:
            size = expected()
            if result.ok:  # complete: what was sent is the size when no estimate came first
                sent = max(done[0], size or 0)
                sink(what, direction, sent, sent, None, True)
            else:
                sink(what, direction, done[0], size, None, True)
        return result

    def _rev(self, ref: str) -> str | None:
        result = self._run("rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)
        return result.text if result.ok else None

    def _is_ancestor(self, older: str, newer: str) -> bool:
        return self._run("merge-base", "--is-ancestor", older, newer, check=False).ok

    @property
    def _pathspec(self) -> str:
        return self.scope or "."

    # ------------------------------------------------------------------ Git LFS
    def _use_lfs_rules(self, rules: list[str], commit: str = "HEAD") -> None:
        """Make the LFS rules committed for this folder the ones git applies here. A
        synced .lfsconfig switches LFS off here (it could name the server that gets our
        files and credentials): one line says so."""
        if rules and self.lfs.installed and self.lfs.lfsconfig_present(commit):
            if not self._lfsconfig_reported:
                self._lfsconfig_reported = True
                self.lfs_notes.append(f"{self.root}: a synced .lfsconfig names Git LFS "
                                      "settings; autosync does not follow settings from synced "
                                      "files, so Git LFS is off here (large files arrive as "
                                      "pointer files): remove .lfsconfig and set lfs.url in "
                                      "the repository (git config lfs.url URL)")
            rules = []
        elif rules and not self.lfs.installed:
            if not self._lfs_reported:
                self._lfs_reported = True
                self.lfs_notes.append(f"{self.root}: this folder stores large files with Git "
                                      "LFS but git-lfs is not installed; they arrive as small "
                                      "pointer files until you install it (apt install "
                                      "git-lfs)")
            rules = []
        if rules:
            self.lfs.enable_filter()
        self._lfs_rules = rules
        self.work_tree.lfs = bool(rules)
        self.careful_pull.lfs_writers = self._lfs_writers if rules else None
        ensure_neutral_attributes(self.git_dir, self.lfs.info_lines(rules))

    def _lfs_writers(self, written: list[tuple[str, str]]
                     ) -> dict[str, Callable[[int], None]]:
        """Of the (path, blob) pairs a pull wrote, those under the LFS filter whose blob
        is a pointer to an object on this machine: a streaming writer of its content."""
        filtered = self.lfs.filtered([path for path, _blob in written])
        candidates = [(path, blob) for path, blob in written if path in filtered]
        if not candidates:
            return {}
        sizes = self._run("cat-file", "--batch-check=%(objectname) %(objectsize)",
                          stdin="".join(f"{blob}\n" for _p, blob in candidates).encode(),
                          check=False)
        small = {f[0] for f in (line.split() for line in sizes.text.splitlines())
                 if len(f) == 2 and f[1].isdigit() and int(f[1]) <= MAX_POINTER}
        writers: dict[str, Callable[[int], None]] = {}
        reader = BlobReader(self.runner)
        try:
            for path, blob in candidates:
                pointer = parse_pointer(reader.small(blob, MAX_POINTER)) \
                    if blob in small else None
                if pointer is not None and self.lfs.object_path(pointer[0]).exists():
                    writers[path] = functools.partial(self.lfs.copy_object, *pointer)
        finally:
            reader.close()
        return writers

    def _lfs_progress(self, what: str, direction: TransferDirection,
                      total: int | None = None) -> Callable[[ProgressLine], None]:
        sink = self.progress_sink

        def seen(line: ProgressLine) -> None:
            if sink is not None and line.moves_data and line.done_bytes is not None:
                sink(what, direction, line.done_bytes, total, line.rate, False)
        return seen

    def _lfs_done(self, what: str, direction: TransferDirection, result: GitResult) -> None:
        if self.progress_sink is not None:
            self.progress_sink(what, direction, 0, None, None, True)
        if not result.ok:
            raise transfer_error(f"the LFS server of {self.remote_display}", result.err,
                                 self.git_dir, pushing=direction is TransferDirection.UPLOAD)

    def _lfs_fetch(self, commit: str, include: str | None = None) -> None:
        what = "LFS download"
        result = self.lfs.fetch(commit, self._lfs_progress(what, TransferDirection.DOWNLOAD),
                                include)
        self._lfs_done(what, TransferDirection.DOWNLOAD, result)

    def _lfs_for_large_files(self, large: dict[str, int]) -> set[str]:
        """Large files that go to Git LFS (rules written for those not yet covered), or
        that wait outside this commit while the LFS server cannot be reached (in git
        history they would stay forever)."""
        paths = sorted(large)
        covered = self.lfs.filtered(paths) if self._lfs_rules else set()
        uncovered = [p for p in paths if p not in covered]
        if not uncovered:
            return covered
        usable = self.lfs.usable()
        if usable is None:
            new = [p for p in uncovered if p not in self._waiting_for_lfs]
            if new:
                self._waiting_for_lfs.update(new)
                self._write_excludes()
                self.lfs_notes.append(f"{self.root}: the Git LFS server cannot be reached "
                                      f"({self.lfs.why_not}); {len(new)} large file(s) wait "
                                      "until it answers")
            return set(paths)
        if self._waiting_for_lfs:
            self._waiting_for_lfs.clear()
            self._write_excludes()
        if not usable:
            if not self._lfs_reported and not self.lfs.no_endpoint:
                self._lfs_reported = True
                self.lfs_notes.append(f"{self.root}: large files stay in git history: "
                                      f"{self.lfs.why_not}")
            return covered
        if self.lfs.write_rules(uncovered):
            current = self.work_tree.root / self.lfs.attributes_path
            with contextlib.suppress(OSError):
                text = current.read_text(encoding="utf-8", errors="surrogateescape")
                self._use_lfs_rules(sorted({*self._lfs_rules, *rules_in(text)}))
        return self.lfs.filtered(paths)

    # ------------------------------------------------------------------ maintenance
    def maintain(self) -> str:
        """Tidy the object store (maintenance.py) and delete the old versions pulls moved
        aside (WorkTree.pull_asides); safe beside a running sync."""
        self.work_tree.empty_trash()
        return run_maintenance(self.runner, self.git_dir, prune_lfs=bool(self._lfs_rules))

    def storage(self, top: int = 10) -> StorageReport:
        """What history costs here: the repository's size on this machine (objects and
        local LFS copies) and its largest files in history (an old version a partial
        clone left out is not counted: it is not here)."""
        objects = store_size(self.runner, self.git_dir).total
        lfs_dir = self.git_dir / "lfs" / "objects"
        lfs_bytes = sum(p.stat().st_size for p in lfs_dir.rglob("*") if p.is_file()) \
            if lfs_dir.is_dir() else 0
        listing = self._run("rev-list", "--objects", "--missing=print", "--all", check=False)
        names: dict[str, str] = {}
        for raw in listing.out.split(b"\n"):
            object_id, _, name = raw.partition(b" ")
            if name and not object_id.startswith(b"?"):
                names.setdefault(object_id.decode(), os.fsdecode(name))
        largest: dict[str, int] = {}
        if names:
            sizes = self._run("cat-file", "--batch-check=%(objectname) %(objecttype) "
                              "%(objectsize)", stdin="".join(f"{s}\n" for s in names).encode(),
                              check=False)
            for line in sizes.text.splitlines():
                fields = line.split()
                if len(fields) == 3 and fields[1] == "blob" and fields[2].isdigit():
                    path = names[fields[0]]
                    largest[path] = max(largest.get(path, 0), int(fields[2]))
        ranked = sorted(largest.items(), key=lambda item: (-item[1], item[0]))[:top]
        return StorageReport(local_bytes=objects + lfs_bytes, lfs_bytes=lfs_bytes,
                             largest=tuple(ranked))

    # ------------------------------------------------------------------ partial clones
    def _missing(self, *objects: str) -> list[str]:
        """Of `objects` (ids, or ranges like `A --not B`), the objects a partial clone
        has not fetched yet; rev-list never fetches on its own."""
        result = self._run("rev-list", "--objects", "--missing=print", "--no-object-names",
                           *objects, check=False)
        if not result.ok:
            return [o for o in objects if _HEX.match(o)]  # a blob id given alone: missing
        return [line[1:] for line in result.text.splitlines() if line.startswith("?")]

    def _fetch_objects(self, shas: list[str], what: str) -> None:
        """Fetch these objects from the promisor remote in one go, with progress."""
        result = self._transfer(what, TransferDirection.DOWNLOAD,
                                "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--progress",
                                "--no-tags", "--no-write-fetch-head",
                                "--recurse-submodules=no", "--filter=blob:none",
                                self.remote, *shas)
        if not result.ok:
            raise self._failure(result)

    def ensure_version(self, sha: str, path: str, commit: str) -> None:
        """An old version a partial clone left out is fetched now (with progress); when
        the remote cannot be reached, one line says so."""
        if not self.partial or not self._missing(sha):
            return
        try:
            self._fetch_objects([sha], "old version")
        except RemoteError as exc:
            raise RepositoryError(
                f"{display(path)} as of {commit[:10]} is not on this machine yet (large "
                f"files' old versions are fetched when needed) and the remote cannot be "
                f"reached now: {exc}; try again when online") from None

    def _prefetch(self, target: str, head: str | None) -> None:
        """In a partial clone, the large blobs a pull is about to write, in one fetch."""
        if not self.partial:
            return
        missing = self._missing(target, *(["--not", head] if head else []))
        if missing:
            self._fetch_objects(missing, "git fetch")

    # ------------------------------------------------------------------ ignore rules
    def note_nested_repository(self, relpath: str) -> None:
        """A folder inside the tree has its own .git: never sync it as part of this one."""
        self._nested.add(relpath)

    def set_ignore(self, patterns: Iterable[str]) -> None:
        """New folder ignore patterns, in force for the next commit."""
        self._ignore = tuple(patterns)
        self._write_excludes()

    def _write_excludes(self) -> None:
        kept = kept_local_names(self.state_dir)
        text = render_excludes(self._global_excludes, self._ignore, self.scope, self._nested,
                               [*kept, *self._held, *self._waiting_for_lfs])
        if text != self._excludes_written:
            if self._excludes_written is None and self._read_excludes() == text:
                self._excludes_written = text  # as we left it: nothing to write at start
            else:
                self._replace_excludes(text)
                self._excludes_written = text
        block = autosync_lines(self._ignore, self.scope, self._nested, kept, shared=True)
        if block != self._info_block_written:
            self._write_info_exclude(block)
            self._info_block_written = block

    def _read_excludes(self) -> str | None:
        try:
            return self._excludes.read_text(encoding="utf-8", errors="surrogateescape")
        except (OSError, ValueError):
            return None

    def _replace_excludes(self, text: str) -> None:
        tmp = self._excludes.with_suffix(".tmp")
        try:
            tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
            os.replace(tmp, self._excludes)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if is_disk_full_error(exc):
                raise DiskFull.measure(self.git_dir, failed=True) from None
            raise

    def _write_info_exclude(self, block: list[str]) -> None:
        """Keep autosync's block in .git/info/exclude, so that the user's own git ignores
        what autosync ignores; the user's own lines there are never touched."""
        path = self.git_dir / "info" / "exclude"
        try:
            old = path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            old = ""
        except OSError as exc:
            log.warning("%s: cannot read %s (%s); plain git will not ignore what autosync "
                        "ignores", self.root, path, exc.strerror)
            return
        new = with_managed_block(old, self.scope, block)
        if new == old:
            return
        tmp: str | None = None
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".exclude-", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as out:
                out.write(new)
            os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            log.warning("%s: cannot write %s (%s); plain git will not ignore what autosync "
                        "ignores", self.root, path, exc.strerror)

    # ------------------------------------------------------------------ recovery
    def recover(self) -> list[str]:
        """Take this repository's autosync lock, then undo what a killed process left:
        stale lock files, an interrupted merge. Returns a line per thing done."""
        done: list[str] = []
        self._take_process_lock()
        candidates = [self.git_dir / "index.lock", self.git_dir / "HEAD.lock",
                      self.git_dir / "ORIG_HEAD.lock", self.git_dir / "packed-refs.lock",
                      self.git_dir / "MERGE_HEAD.lock"]
        candidates += list((self.git_dir / "refs").rglob("*.lock"))
        present = [lock for lock in candidates if lock.exists()]
        held = open_files({str(lock) for lock in present})  # one pass over /proc
        for lock in present:
            if str(lock) not in held:
                lock.unlink(missing_ok=True)
                done.append(f"removed stale {lock.relative_to(self.git_dir)} left by a killed git")
        done += self.checker.check()  # RepositoryDamaged when damage remains
        if (self.git_dir / "MERGE_HEAD").exists():
            aborted = self._run("merge", "--abort", check=False)
            if aborted.ok:
                done.append("aborted an interrupted merge; it will be redone")
            else:
                self.resolve_and_finish_merge()
                done.append("finished an interrupted merge")
        if self.careful_pull.recover():
            done.append("cleaned up an interrupted pull; it will be redone")
        return done

    def _take_process_lock(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RepositoryError(f"{self.root} is already synced by another autosync process; "
                                  "stop that one first") from None
        with contextlib.suppress(OSError):  # (the pid is for people; a full disk may refuse it)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ committing
    def is_dirty(self) -> bool:
        return bool(self._status(untracked="normal").strip(b"\0"))

    def _status(self, untracked: str) -> bytes:
        """`git status --porcelain -z` of the folder, new files listed per `untracked`
        ("normal": a new folder as one entry; "all": each file in it)."""
        result = self._run(*COMPARE_ONLY, "status", "--porcelain", "-z", "--no-renames",
                           f"--untracked-files={untracked}", NO_SUBMODULE_CONFIG, "--",
                           self._pathspec, env={"GIT_LITERAL_PATHSPECS": "1"})
        self.checker.index_written()  # (git may have refreshed it)
        return result.out

    def _staged_changes(self) -> list[str]:
        args = ["diff", "--cached", "--name-status", "-z", "-M", "--no-ext-diff",
                NO_SUBMODULE_CONFIG]
        if not self._has_head:
            self._has_head = self._rev("HEAD") is not None  # (once born, HEAD stays)
        if not self._has_head:
            args.append("--root")
        result = self._run(*args, "--", self._pathspec, env={"GIT_LITERAL_PATHSPECS": "1"})
        fields = [os.fsdecode(f) for f in result.out.split(b"\0")]
        changes: list[str] = []
        i = 0
        while i < len(fields) and fields[i]:
            status = fields[i]
            if status[0] in "RC":
                changes.append(f"R {fields[i + 1]} -> {fields[i + 2]}")
                i += 3
            else:
                changes.append(f"{status[0]} {fields[i + 1]}")
                i += 2
        return changes

    def ignore_path(self, path: str) -> str:
        """Keep `path` (relative to the root) out of sync from now on; returns the
        folder `ignore` pattern that does it (for the configuration)."""
        relative = path[len(self.scope) + 1:] if self.scope else path
        pattern = "/" + escape_path(relative)
        if pattern not in self._ignore:
            self._ignore = (*self._ignore, pattern)
        self._held.discard(path)
        self._write_excludes()
        return pattern

    def allow_large_file(self, path: str) -> None:
        """The user chose to keep a held large file in history: commit it next time."""
        self._allowed.add(path)
        self._held.discard(path)
        self._write_excludes()

    def _prepare_large_files(self, hint: Iterable[str] | None,
                             hold: Collection[str] = ()) -> list[str]:
        """Before `git add`: new large files are announced (and held back when asked
        to); large files that do not compress are added uncompressed (git would spend
        most of the time deflating them for nothing). Returns the files added here."""
        large = changed_large_files(self.runner, self.work_tree, self.scope,
                                    self.large_file_size, hint)
        for path in hold:  # still being written: looked at when complete
            large.pop(path, None)
        for path in list(self._waiting_for_lfs):  # kept out of the listing by our excludes
            info = self.work_tree.lstat(path)
            if info is not None and (info.st_mode & 0o170000) == 0o100000:
                large[path] = info.st_size
            else:
                self._waiting_for_lfs.discard(path)
        if not large:
            return []
        for path in self._lfs_for_large_files(large):
            del large[path]  # stored with LFS: history keeps a pointer only
        if not large:
            return []
        tracked = set(self._run("ls-files", "-z", "--", *large,
                                env={"GIT_LITERAL_PATHSPECS": "1"}).out.split(b"\0"))
        held_before = set(self._held)
        for path, size in sorted(large.items()):
            if os.fsencode(path) in tracked or path in self._allowed:
                continue
            if path not in self._announced:
                self._announced.add(path)
                self.large_notices.append((path, size))
            if self.hold_large_files:
                self._held.add(path)
        if self._held != held_before:
            self._write_excludes()
        plain = [p for p in large if p not in self._held and incompressible(self.work_tree, p)]
        if plain:
            self._run("-c", "core.compression=0", "-c", "core.looseCompression=0",
                      "-c", "pack.compression=0", "add", "--", *plain,
                      env={"GIT_LITERAL_PATHSPECS": "1"})
        return plain

    @contextlib.contextmanager
    def _tidy_after_disk_full(self) -> Iterator[None]:
        """When git met a full disk: what it left half-written (temporary packs and
        objects that no process has open) is removed, and the error says the free space
        measured after that."""
        try:
            yield
        except DiskFull as exc:
            if not self._remove_git_leftovers():
                raise
            raise DiskFull.measure(self.root, self.git_dir, need=exc.need,
                                   failed=True) from None

    def _remove_git_leftovers(self) -> int:
        objects = self.git_dir / "objects"
        leftovers = [*objects.glob("pack/tmp_*"), *objects.glob("pack/.tmp-*"),
                     *objects.glob("??/tmp_obj_*"), *objects.glob("tmp_objdir*")]
        if not leftovers:
            return 0
        held = open_files({str(p) for p in leftovers})  # (another git's work in progress)
        removed = 0
        for path in leftovers:
            if str(path) in held or path.is_dir():
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
        if removed:
            log.info("%s: removed %d file(s) git left half-written when the disk filled up",
                     self.root, removed)
        return removed

    def commit_pending(self, hold: Collection[str] = ()) -> CommitResult | None:
        """Commit everything pending in the folder as one commit, except the files in
        `hold` (repository-relative; still being written: left as they are, for a later
        commit). None if nothing changed."""
        with self._tidy_after_disk_full():
            return self._commit_pending(hold)

    def _commit_pending(self, hold: Collection[str]) -> CommitResult | None:
        self._write_excludes()
        self._refuse_foreign_operation()
        self._refuse_damage()
        self.careful_pull.finish_interrupted()  # a pull a full disk stopped half-way
        hint, self.change_hint = self.change_hint, None
        if hint is None and self.large_file_size:
            # (at start, after a rescan: the watcher has no list of its own; the large
            # files among the changes are looked for first)
            hint = self._changed_paths()
            if not hint:
                return None  # (no `add -A` over the whole tree: it found nothing either)
        added: list[str] = []
        if self.large_file_size:
            added = self._prepare_large_files(hint, hold)
        # Large files just added are left out of `add -A`: git would look at each again,
        # and one whose size is a multiple of 4 GiB (the index keeps sizes modulo 2**32,
        # and a 0 there means "compare the content") it would hash and deflate again.
        add_spec, add_env = self._spec_without(sorted({*hold, *added}))
        spec, env = self._spec_without(sorted(hold))
        self._run("add", "-A", "--", *add_spec, env=add_env)
        self.checker.index_written()  # (found sound just before: no need to hash it again)
        changes = self._staged_changes()
        staged_held = [p for p in hold if any(c.endswith(f" {p}") for c in changes)]
        if staged_held:  # staged by an earlier `git add`: back to HEAD's version
            self._run("reset", "-q", "--", *staged_held, env={"GIT_LITERAL_PATHSPECS": "1"})
            changes = self._staged_changes()
        if not changes:
            return None
        message = self._commit_message(changes)
        args = [*COMPARE_ONLY, "commit", "--no-verify", "-q", "-F", "-"]
        if self.scope and not (self.git_dir / "MERGE_HEAD").exists():
            args += ["--", *(spec if hold else [self.scope])]
        self._run(*args, stdin=message.encode("utf-8", "surrogateescape"), env=env)
        self.checker.index_written()
        return CommitResult(commit=self._rev("HEAD") or "", files=tuple(changes))

    def _changed_paths(self) -> set[str]:
        """Every path git finds staged, modified, deleted or new (each new file named)
        in the folder: one pass of git's stat check, which runs on several threads (the
        large-file listing's `ls-files` took 3.3 s on 500,000 files, `git status` 2.3 s)."""
        return {os.fsdecode(entry[3:])
                for entry in self._status(untracked="all").split(b"\0") if len(entry) > 3}

    def _spec_without(self, paths: list[str]) -> tuple[list[str], dict[str, str]]:
        """(pathspec, environment) for the folder's files except `paths`."""
        if paths:  # pathspec magic instead of GIT_LITERAL_PATHSPECS, to exclude paths
            return [f":(literal){self._pathspec}",
                    *(f":(exclude,literal){p}" for p in paths)], {}
        return [self._pathspec], {"GIT_LITERAL_PATHSPECS": "1"}

    def tidy(self) -> None:
        """git's automatic housekeeping (repacking loose objects when there are many), as
        git itself runs it after a commit or fetch; it detaches when it has work."""
        self._run("maintenance", "run", "--auto", "--quiet", check=False)

    def ignored_by_synced_rules(self, paths: Iterable[str]) -> list[tuple[str, str, str]]:
        """Of `paths`, the existing files a .gitignore in the tree keeps out of commits:
        (path, the .gitignore, its pattern). Our own and the user's private excludes
        (built-in temporaries, folder patterns, info/exclude) are not counted."""
        wanted = sorted(p for p in paths if self.work_tree.lstat(p) is not None)
        if not wanted:
            return []
        result = self._run("check-ignore", "-v", "-z", "--stdin", check=False,
                           stdin=b"\0".join(os.fsencode(p) for p in wanted) + b"\0")
        fields = [os.fsdecode(f) for f in result.out.split(b"\0")]
        found: list[tuple[str, str, str]] = []
        for source, _line, pattern, path in zip(fields[0::4], fields[1::4], fields[2::4],
                                                fields[3::4], strict=False):
            if source.rsplit("/", 1)[-1] == ".gitignore" and not source.startswith("/") \
                    and not pattern.startswith("!"):
                found.append((path, source, pattern))
        return found

    def _commit_message(self, changes: list[str]) -> str:
        n = len(changes)
        subject = f"autosync on {self.hostname}: {n} file{'s' if n != 1 else ''} changed"
        listed = changes[:MAX_LISTED_FILES]
        body = "\n".join(listed)
        if n > MAX_LISTED_FILES:
            body += f"\n... and {n - MAX_LISTED_FILES} more"
        return f"{subject}\n\n{body}\n\n{HOST_TRAILER}: {self.hostname}\n"

    def _refuse_damage(self) -> None:
        """Before a commit: a lost branch ref would make git start a new, unrelated
        history, and git reads a truncated index without complaint (and would commit
        deletions): both are checked, cheaply (engine/damage.py)."""
        self.checker.before_commit()

    def repair_damage(self, damage: RepositoryDamaged) -> list[str]:
        """What is safe about damage git reported (engine/damage.py), then the check."""
        return self.checker.repair(damage)

    def _refuse_foreign_operation(self) -> None:
        for name, what in (("rebase-merge", "a rebase"), ("rebase-apply", "a rebase or am"),
                           ("CHERRY_PICK_HEAD", "a cherry-pick"), ("REVERT_HEAD", "a revert"),
                           ("BISECT_LOG", "a bisect")):
            if (self.git_dir / name).exists():
                raise RepositoryError(f"{self.root}: {what} is in progress; finish or abort it, "
                                      "then sync resumes")

    # ------------------------------------------------------------------ remote
    def remote_moved(self) -> bool:
        result = self._network("ls-remote", "--heads", "--", self.remote,
                               f"refs/heads/{self.remote_branch}")
        remote_sha = result.text.split()[0] if result.text else None
        return remote_sha != self._rev(self.tracking_ref)

    def fetch(self) -> None:
        """Fetch the remote branch, checking every object received (fsck, with the checks
        for paths into .git or outside the folder raised to errors). Objects refused once
        are reported (HostileContent) and then let in on later fetches, so that a commit
        fixing them can arrive; they are never applied (careful_pull checks the tree)."""
        with self._tidy_after_disk_full():
            self._fetch()

    def _fetch(self) -> None:
        result = self._fetch_branch()
        if result.ok or "couldn't find remote ref" in result.err.lower():
            return
        skip_list = self.state_dir / "fsck-skip"
        refused = _FSCK_REFUSAL.findall(result.err)
        if refused:
            with open(skip_list, "a", encoding="ascii") as fh:
                fh.writelines(f"{sha}\n" for sha, _msg, _text in refused)
            sha, msg_id, text = refused[0]
            tip = self._run("ls-remote", "--heads", "--", self.remote,
                            f"refs/heads/{self.remote_branch}", check=False,
                            timeout=NETWORK_TIMEOUT).text.split()[:1] or ["(unknown)"]
            raise HostileContent(
                f"refused commit {tip[0][:12]} from {self.remote_display}: a tree in it "
                f"{display(text)} ({msg_id}, object {sha[:12]}); nothing was written. The "
                "remote needs a commit that removes it")
        raise self._failure(result)

    def _fetch_branch(self, *options: str) -> GitResult:
        refspec = f"+refs/heads/{self.remote_branch}:{self.tracking_ref}"
        skip_list = self.state_dir / "fsck-skip"
        checks = fetch_checks()
        if skip_list.exists():
            checks += ["-c", f"fetch.fsck.skipList={skip_list}"]
        return self._transfer("git fetch", TransferDirection.DOWNLOAD, *checks, "fetch",
                              *options, "--no-tags", "--progress", "--no-write-fetch-head",
                              "--no-recurse-submodules", self.remote, refspec)

    def _refetch(self) -> GitResult:
        """Every object of the remote branch fetched again, as a fresh clone would (each
        checked as it arrives): restores objects missing or damaged here. DiskFull when
        there is no room for them."""
        with self._tidy_after_disk_full():
            result = self._fetch_branch("--refetch")
            if not result.ok:
                self.runner.raise_if_disk_full(result)
        return result

    def _failure(self, result: GitResult) -> Exception:
        """A failed fetch: damage to this repository when git says so (never the
        remote's problem then), a full disk here, else the remote's problem."""
        damage = from_failure(self.root, result.err, self.remote_display)
        return damage if damage is not None else transfer_error(
            self.remote_display, result.err, self.git_dir)

    def ahead(self) -> bool:
        head = self._rev("HEAD")
        if head is None:
            return False
        upstream = self._rev(self.tracking_ref)
        return upstream is None or not self._is_ancestor(head, upstream)

    def push(self) -> bool:
        head = self._rev("HEAD")
        if head is None:
            return True
        if self._lfs_rules:  # the objects first, so no replica sees a pointer it cannot fetch
            what = "LFS upload"
            self._lfs_done(what, TransferDirection.UPLOAD,
                           self.lfs.push(self._lfs_progress(what, TransferDirection.UPLOAD)))
        estimate = self._push_size(head)
        try:
            result = self._transfer("git push", TransferDirection.UPLOAD, "push", "--porcelain",
                                    "--progress", self.remote,
                                    f"HEAD:refs/heads/{self.remote_branch}", total=estimate)
        finally:
            estimate.stop()
        if result.ok:
            self._run("update-ref", self.tracking_ref, head)
            return True
        damage = from_failure(self.root, result.err, self.remote_display)
        if damage is not None:
            raise damage  # git could not read what it was to send: nothing was sent
        text = os.fsdecode(result.out) + result.err
        if "[rejected]" in text or "non-fast-forward" in text or "fetch first" in text:
            return False
        if "cannot lock ref" in text or "failed to update ref" in text:
            return False  # another push landed in the same instant: the remote moved on
        raise transfer_error(self.remote_display, result.err or text, self.git_dir,
                             pushing=True, report=text)

    def _push_size(self, head: str) -> SizeEstimate:
        """About how many bytes a push of `head` sends: the stored size of the objects
        the remote branch does not have (git's own estimate). It costs as long as a small
        push itself, so it runs beside the push and only the progress shown waits for it."""
        def args() -> list[str]:
            upstream = self._rev(self.tracking_ref)
            return ["rev-list", "--objects", "--disk-usage", head,
                    *(["--not", upstream] if upstream is not None else [])]
        return SizeEstimate(self.runner, args, delay=PUSH_SIZE_DELAY)

    # ------------------------------------------------------------------ integrating
    def integrate(self) -> IntegrateResult:
        """Merge the fetched remote branch into ours. Local work must be committed first;
        real conflicts keep both versions (see conflict_rules.py) and are committed resolved."""
        with self._tidy_after_disk_full():
            return self._integrate()

    def _integrate(self) -> IntegrateResult:
        self._refuse_foreign_operation()
        self.careful_pull.finish_interrupted()
        upstream = self._rev(self.tracking_ref)
        if upstream is None:
            return IntegrateResult(changed=False)
        before = self._rev("HEAD")
        if before == upstream or (before is not None and self._is_ancestor(upstream, before)):
            return IntegrateResult(changed=False)
        host = self._commit_host(upstream)
        source = f"commit {upstream[:12]} from {host}"
        found: tuple[Conflict, ...] = ()
        for _attempt in range(3):
            # Never `git merge` into the work tree: when it cannot write its result, git
            # rewinds with `reset --hard` + `stash apply`, overwriting every save made
            # meanwhile. Build the merge commit in the object database instead, then move
            # the work tree by the careful pull, which checks everything it writes and
            # stops without touching anything when the user changed a file in its way.
            head = self._rev("HEAD")
            target = upstream
            if head is not None and not self._is_ancestor(head, upstream):
                target, found = self._merge_commit(head, upstream, host)
            self._prepare_lfs_checkout(target)
            self._prefetch(target, head)
            outcome = self.careful_pull.fast_forward(head, target, source)
            if outcome.moved:
                break
            # The user saved something in the pull's way: commit it, then try again.
            self.commit_pending()
        else:
            raise RepositoryError(f"{self.root}: files keep changing during the merge; "
                                  "will retry")
        if outcome.kept_local:
            self._write_excludes()
        after = self._rev("HEAD")
        changed_files: tuple[str, ...] = ()
        if before is not None and after is not None and before != after:
            diff = self._run("diff", "--name-only", "-z", "--no-renames", NO_SUBMODULE_CONFIG,
                             before, after)
            changed_files = tuple(os.fsdecode(p) for p in diff.out.split(b"\0") if p)
        elif before is None and after is not None:
            listing = self._run("ls-tree", "-r", "-z", "--name-only", after)
            changed_files = tuple(os.fsdecode(p) for p in listing.out.split(b"\0") if p)
        return IntegrateResult(changed=before != after, files=changed_files, host=host,
                               conflicts=found, kept_local=tuple(outcome.kept_local),
                               saved_beside=tuple(outcome.saved_beside))

    def _prepare_lfs_checkout(self, target: str) -> None:
        """The LFS rules of `target` apply before its files are written, and its LFS
        objects are on this machine by then (one download, with progress)."""
        rules = self.lfs.committed_rules(target)
        if rules or self._lfs_rules:
            self._use_lfs_rules(sorted({*self._lfs_rules, *rules}), target)
        if self._lfs_rules:
            self._lfs_fetch(target)

    def _merge_commit(self, head: str, upstream: str, host: str
                      ) -> tuple[str, tuple[Conflict, ...]]:
        return self.merge.build(head, upstream, host)

    def _commit_host(self, commit: str) -> str:
        return self.merge.commit_host(commit)

    def resolve_and_finish_merge(self) -> tuple[Conflict, ...]:
        """Resolve every unmerged path of a merge in the work tree by keeping all
        versions, then commit it (git_merge.py)."""
        return self.merge.resolve_and_finish()

    # ------------------------------------------------------------------ queries
    def head(self) -> str | None:
        return self._rev("HEAD")

    def has_commit(self, sha: str) -> bool:
        if not _HEX.match(sha):
            return False
        return self._run("cat-file", "-e", f"{sha}^{{commit}}", check=False).ok

    def identity(self) -> str | None:
        if self._identity is None:
            ref = self.tracking_ref if self._rev(self.tracking_ref) else "HEAD"
            roots = self._run("rev-list", "--max-parents=0", ref, check=False)
            shas = sorted(roots.text.split()) if roots.ok else []
            if shas:
                self._identity = f"{shas[0]}:{self.remote_branch}"
        return self._identity

    def conflict_copy_candidates(self) -> list[str]:
        """Tracked paths in the folder whose names look like conflict copies. git filters
        the names (a pathspec), so a large tree's listing never reaches Python."""
        scope = re.sub(r"([*?\[\]\\])", r"\\\1", self.scope) + "/" if self.scope else ""
        result = self._run("ls-files", "-z", "--",
                           f":(glob){scope}**/*{rules.COPY_MARKER}*)*")
        return [os.fsdecode(p) for p in result.out.split(b"\0") if p]

    def history(self, skip: int = 0, limit: int = 100,
                path_filter: str | None = None) -> list[CommitInfo]:
        if self._rev("HEAD") is None:
            return []
        fmt = (f"%x1e%H%x00%cI%x00%(trailers:key={HOST_TRAILER},valueonly,separator=%x2c)"
               "%x00%an%x00%s")
        args = ["log", f"--skip={max(0, int(skip))}", f"--max-count={max(1, int(limit))}",
                f"--format={fmt}", "--name-status", "-z", NO_SUBMODULE_CONFIG, "HEAD", "--"]
        if path_filter:
            escaped = re.sub(r"([*?\[\]\\])", r"\\\1", path_filter)
            args.append(f":(icase)*{escaped}*")
        elif self.scope:
            args.append(f":(literal){self.scope}")
        result = self._run(*args)
        commits: list[CommitInfo] = []
        for record in result.out.split(b"\x1e"):
            if not record.strip(b"\0\n"):
                continue
            header, _, names = record.partition(b"\n")
            parts = os.fsdecode(header).split("\0")
            if len(parts) < 5:
                continue
            sha, when, trailer, author, subject = parts[:5]
            files, changes = _name_status(names)
            commits.append(CommitInfo(
                sha=sha, time=datetime.fromisoformat(when),
                host=safe_host((trailer.split(",")[0] or author).strip() or "unknown"),
                author=author, subject=subject, files=files, changes=changes))
        return commits

    def file_at(self, commit: str, path: str) -> bytes:
        """The file's bytes in `commit`, for showing; larger files are refused (restore
        them instead: restore_file streams)."""
        if not _HEX.match(commit):
            raise RepositoryError(f"{commit!r} is not a commit id")
        entry = self._run("rev-parse", "-q", "--verify", f"{commit}:{path}", check=False)
        if entry.ok:
            self.ensure_version(entry.text, path, commit)
        size = self._run("cat-file", "-s", f"{commit}:{path}", check=False)
        if size.ok and size.text.isdigit() and int(size.text) > MAX_SHOWN_FILE:
            raise RepositoryError(f"{display(path)} in commit {commit[:10]} is too large to "
                                  f"show ({human_size(int(size.text))}); restore it instead")
        result = self._run("cat-file", "blob", f"{commit}:{path}", check=False)
        if not result.ok:
            raise RepositoryError(f"{path} does not exist in commit {commit[:10]}")
        return result.out

    def restore_file(self, commit: str, path: str, to: str | None = None) -> None:
        """Put the version of `path` in `commit` back into the work tree, at `to` if given
        (a file renamed since), else at `path` (streamed, never through a symbolic link; a
        deleted file comes back too)."""
        if not _HEX.match(commit):
            raise RepositoryError(f"{commit!r} is not a commit id")
        target = to or path
        try:
            verify_path(path)
            verify_path(target)
        except UnsafePath as exc:
            raise RepositoryError(f"refusing to restore {exc}") from None
        listing = self._run("ls-tree", "-z", "--full-tree", commit, "--", path,
                            env={"GIT_LITERAL_PATHSPECS": "1"}, check=False)
        meta, _, name = listing.out.rstrip(b"\0").partition(b"\t")
        fields = meta.decode("ascii", "replace").split()
        if not listing.ok or os.fsdecode(name) != path or len(fields) != 3:
            raise RepositoryError(f"{display(path)} does not exist in commit {commit[:10]}")
        mode, _kind, sha = fields
        if mode not in (REGULAR, EXECUTABLE, SYMLINK):
            raise RepositoryError(f"{display(path)} in commit {commit[:10]} is not a file")
        self.ensure_version(sha, path, commit)
        pointer = self._lfs_pointer(commit, path, sha) if mode != SYMLINK else None
        if pointer is not None:
            oid, size = pointer
            if not self.lfs.object_path(oid).exists():
                self._lfs_fetch(commit, include=path)
            try:
                self.work_tree.replace(target, lambda fd: self.lfs.copy_object(oid, size, fd),
                                       executable=mode == EXECUTABLE)
            except UnsafePath as exc:
                raise RepositoryError(f"refusing to restore {exc}") from None
            return
        reader = BlobReader(self.runner)
        try:
            if mode == SYMLINK:
                link = os.fsdecode(reader.small(sha, MAX_LINK_TARGET))
                self.work_tree.remove(target)
                self.work_tree.symlink(target, link)
            else:
                self.work_tree.replace(target, lambda fd: reader.copy_to(sha, fd),
                                       executable=mode == EXECUTABLE)
        except UnsafePath as exc:
            raise RepositoryError(f"refusing to restore {exc}") from None
        finally:
            reader.close()

    def _lfs_pointer(self, commit: str, path: str, sha: str) -> tuple[str, int] | None:
        """(oid, size) when `path` in `commit` is stored with Git LFS (and LFS is on)."""
        if not self.lfs.installed or not self._lfs_rules:
            return None
        size = self._run("cat-file", "-s", sha, check=False)
        if not size.ok or not size.text.isdigit() or int(size.text) > MAX_POINTER:
            return None
        return parse_pointer(self._run("cat-file", "blob", sha).out)

    def diff(self, commit: str, path: str | None = None) -> str:
        if not _HEX.match(commit):
            raise RepositoryError(f"{commit!r} is not a commit id")
        args = ["show", "--format=", "--patch", "--no-ext-diff", "-M", NO_SUBMODULE_CONFIG,
                commit, "--"]
        if path:
            args.append(path)
        result = self._run(*args, env={"GIT_LITERAL_PATHSPECS": "1"})
        return result.out.decode("utf-8", errors="replace")
