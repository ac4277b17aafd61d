"""The Mercurial implementation of the repository interface (engine/repository.py).

One named branch (the work tree's), the `default` path as the remote, bookmarks left
alone. Commits carry the same message and `Autosync-Host:` line as git's. Pulls never
update the work tree through hg: integrate() builds a merge changeset in a scratch share
(merge.py) when both sides moved, then moves the work tree file by file (update.py).
Pushes never force: a push that would create a new remote head is a rejection, and the
sync loop pulls, merges and pushes again. Every method blocks (worker thread)."""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import shutil
import socket
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from autosync_gui.engine import conflict_rules as rules
from autosync_gui.engine.careful_pull import MAX_LINK_TARGET, kept_local_names
from autosync_gui.engine.events import Conflict
from autosync_gui.engine.git_env import classify
from autosync_gui.engine.hg import config as hgconfig
from autosync_gui.engine.hg.file_history import HgFileHistory
from autosync_gui.engine.hg.merge import HOST_TRAILER, ScratchMerge, host_of, parse_hgdate
from autosync_gui.engine.hg.paths import verify_hg_path
from autosync_gui.engine.hg.runner import HgResult, HgRunner, first_line
from autosync_gui.engine.hg.update import NULL, CarefulUpdate, pattern_file
from autosync_gui.engine.remote import RemoteProblem
from autosync_gui.engine.remote_url import without_credentials
from autosync_gui.engine.repository import (
    CommitInfo,
    CommitResult,
    IntegrateResult,
    RemoteError,
    RepositoryError,
)
from autosync_gui.engine.safe_paths import UnsafePath, display
from autosync_gui.engine.worktree_fs import WorkTree

NETWORK_TIMEOUT = 120.0
MAX_LISTED_FILES = 50
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX = re.compile(r"^[0-9a-f]{7,40}$")
# What another hg operation leaves behind; autosync never starts one of these itself.
_FOREIGN = (("merge/state2", "a merge"), ("merge/state", "a merge"),
            ("rebasestate", "a rebase"), ("graftstate", "a graft"),
            ("histedit-state", "a histedit"), ("updatestate", "an interrupted update"),
            ("shelvedstate", "an unshelve"))
_REJECTED = ("creates new remote head", "not known locally", "push creates new",
             "unsynced remote changes", "remote has heads")


@dataclass(frozen=True)
class _Layout:
    root: Path
    scope: str
    branch: str
    default: str
    config: hgconfig.Config


def _find_root(folder: Path) -> Path | None:
    for place in (folder, *folder.parents):
        if (place / ".hg").is_dir():
            return place
    return None


def _inspect(folder: Path) -> _Layout:
    """Check that `folder` can be synced; every failure is one line with the fix."""
    folder = Path(folder)
    try:
        real = folder.resolve()
        exists, is_dir = folder.exists(), folder.is_dir()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RepositoryError(f"{str(folder)[:200]}: cannot use this path ({reason}); "
                              "fix the path") from None
    if not exists:
        raise RepositoryError(f"{folder} does not exist; create it or fix the path")
    if not is_dir:
        raise RepositoryError(f"{folder} is not a folder; point path at a folder")
    if ".hg" in real.parts:
        raise RepositoryError(f"{folder} is inside a .hg folder; point path at the work tree")
    root = _find_root(real)
    if root is None:
        raise RepositoryError(f"{folder} is not inside a Mercurial work tree; clone your "
                              f"remote there (hg clone URL {folder}) or run `hg init` in it")
    if shutil.which("hg") is None:
        raise RepositoryError(f"{root} is a Mercurial work tree but hg is not installed; "
                              "install it (apt install mercurial)")
    if not (root / ".hg" / "store").is_dir() and not (root / ".hg" / "sharedpath").exists():
        raise RepositoryError(f"{root}/.hg is not a usable Mercurial repository; clone it "
                              "again")
    scope = "" if real == root else real.relative_to(root).as_posix()
    config = hgconfig.load(root / ".hg")
    default = config.get("paths", {}).get("default", "").strip()
    if not default:
        raise RepositoryError(f"{root} has no remote; add one to {root}/.hg/hgrc "
                              "([paths] default = URL) and push once (hg push)")
    if "://" not in default and not re.match(r"^[^/]+@[^/]+:", default):
        default = str((root / os.path.expanduser(default)).resolve())
    try:
        branch = (root / ".hg" / "branch").read_text(encoding="utf-8").strip() or "default"
    except OSError:
        branch = "default"
    return _Layout(root, scope, branch, default, config)


def remote_error(err: str, url: str) -> RemoteError:
    """hg's and ssh's complaints as one line; `offline` ones are retried with back-off."""
    low = err.lower()
    problem = classify(err)
    if problem not in (RemoteProblem.OTHER, RemoteProblem.MISSING):
        pass  # ssh's own words settled it (a host key, a refused key, no connection)
    elif "abandoned transaction found" in low:
        return RemoteError(
            RemoteProblem.OTHER, url,
            "an earlier push to it was cut off (a disk unplugged, a lost connection) and "
            f"left an unfinished transaction; run `hg recover -R {without_credentials(url)}` "
            "where that repository lives, then autosync pushes again")
    elif "http error 401" in low or "authorization failed" in low:
        problem = RemoteProblem.AUTH
    elif "http error 403" in low:
        problem = RemoteProblem.ACCESS_DENIED
    elif ("repository" in low and ("not found" in low or "does not exist" in low)) or \
            "http error 404" in low or "no suitable response" in low:
        problem = RemoteProblem.MISSING
    elif "no remote repository" in low or "remote: ssh:" in low or \
            "error: [errno" in low or problem is RemoteProblem.OTHER:
        problem = RemoteProblem.UNREACHABLE  # as before: anything unrecognised is retried
    return RemoteError(problem, url, first_line(err))


def _revset_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _case_free(text: str) -> str:
    """A regexp matching `text` in any case (hg's patterns take no inline flags)."""
    out = []
    for ch in text:
        if ch.lower() != ch.upper():
            out.append(f"[{re.escape(ch.lower())}{re.escape(ch.upper())}]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


class HgRepository:
    """One folder's Mercurial work tree (the folder may be a sub-folder: `scope`)."""

    kind = "hg"
    ignore_file_name = ".hgignore"

    def __init__(self, layout: _Layout, hostname: str, ignore: Iterable[str]) -> None:
        self.root = layout.root
        self.scope = layout.scope
        self.branch = layout.branch
        self.remote = "default"
        self.remote_url = layout.default
        self.remote_display = without_credentials(layout.default)
        self.hostname = rules.safe_host(hostname)
        self.data_dir = self.root / ".hg"
        self.state_dir = self.data_dir / "autosync"
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        self.work_tree = WorkTree(self.root, self.state_dir / "scratch")
        self._ignore = tuple(ignore)
        self._nested: set[str] = set()
        self._ignore_file = self.state_dir / "ignore"
        self._identity: str | None = None
        self._lock_fd: int | None = None
        user = os.environ.get("USER") or "user"
        username = os.environ.get("HGUSER") or layout.config.get("ui", {}).get("username") \
            or f"autosync <{user}@{self.hostname}>"
        hgrc = self.state_dir / "hgrc"
        hgconfig.write_private(hgrc, hgconfig.render(
            layout.config, default_path=layout.default, username=username,
            ignore_file=self._ignore_file))
        self.runner = HgRunner(self.root, hgrc)
        self.update = CarefulUpdate(self.runner, self.work_tree, self.state_dir)
        self.merge = ScratchMerge(self.runner, self.state_dir, self.hostname)
        self.file_history = HgFileHistory(self.runner, self.scope, self.hostname)
        self._write_ignore()

    # ------------------------------------------------------------------ opening
    @staticmethod
    def validate(folder: Path) -> None:
        _inspect(folder)

    @classmethod
    def open(cls, folder: Path, hostname: str, ignore: Iterable[str] = ()) -> HgRepository:
        return cls(_inspect(folder), hostname, ignore)

    # ------------------------------------------------------------------ running hg
    def _run(self, *args: str, check: bool = True) -> HgResult:
        return self.runner.run(*args, check=check)

    def _network(self, *args: str) -> HgResult:
        return self.runner.network(*args, timeout=NETWORK_TIMEOUT)

    def _scope_args(self) -> list[str]:
        return [f"path:{self.scope}"] if self.scope else []

    def _nodes(self, revset: str) -> list[str]:
        result = self._run("log", "-r", revset, "-T", "{node}\\n", check=False)
        return result.text.split() if result.ok else []

    def _is_ancestor(self, older: str, newer: str) -> bool:
        return bool(self._nodes(f"{older} and ::{newer}"))

    # ------------------------------------------------------------------ ignore rules
    def note_nested_repository(self, relpath: str) -> None:
        self._nested.add(relpath)
        self._write_ignore()

    def set_ignore(self, patterns: Iterable[str]) -> None:
        self._ignore = tuple(patterns)
        self._write_ignore()

    def _write_ignore(self) -> None:
        hgconfig.write_private(self._ignore_file, hgconfig.render_ignore(
            self._ignore, self.scope, self._nested, kept_local_names(self.state_dir)))

    def ignored_by_synced_rules(self, paths: Iterable[str]) -> list[tuple[str, str, str]]:
        if self.work_tree.lstat(".hgignore") is None:
            return []  # the only synced ignore file (with what it includes) is not there
        wanted = sorted(p for p in paths if self.work_tree.lstat(p) is not None)
        if not wanted:
            return []
        result = self._run("debugignore", *[f"path:{p}" for p in wanted], check=False)
        found: list[tuple[str, str, str]] = []
        lines = result.out.decode("utf-8", "surrogateescape").splitlines()
        rule = re.compile(r"^\(ignore rule in (.*), line \d+: '(.*)'\)$")
        for first, second in itertools.pairwise(lines):
            if not first.endswith(" is ignored"):
                continue
            match = rule.match(second)
            if match is None:
                continue
            source = match.group(1)
            with_root = source.removeprefix(str(self.root) + "/")
            if with_root != source and with_root.rsplit("/", 1)[-1] == ".hgignore":
                found.append((first.removesuffix(" is ignored"), with_root, match.group(2)))
        return found

    # ------------------------------------------------------------------ recovery
    def recover(self) -> list[str]:
        done: list[str] = []
        self._take_process_lock()
        host = socket.gethostname()
        for lock in (self.data_dir / "wlock", self.data_dir / "store" / "lock"):
            try:
                owner = os.readlink(lock)
            except OSError:
                continue
            where, _, pid = owner.rpartition(":")
            if where.split("/", 1)[0] == host and pid.isdigit() and \
                    not Path(f"/proc/{pid}").exists():
                lock.unlink(missing_ok=True)
                done.append(f"removed stale .hg/{lock.relative_to(self.data_dir)} left by "
                            "a killed hg")
        if (self.data_dir / "store" / "journal").exists():
            recovered = self._run("recover", check=False)
            if recovered.ok:
                done.append("rolled back an interrupted hg transaction (hg recover)")
        if self.merge.cleanup():
            done.append("removed the scratch copy of an interrupted merge; it will be redone")
        if self.update.recover():
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
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def release(self) -> None:
        self.runner.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _refuse_foreign_operation(self) -> None:
        for name, what in _FOREIGN:
            if (self.data_dir / name).exists():
                raise RepositoryError(f"{self.root}: {what} is in progress; finish or abort "
                                      "it (hg help), then sync resumes")

    # ------------------------------------------------------------------ committing
    def is_dirty(self) -> bool:
        result = self._run("status", "-0", "-mardu", *self._scope_args())
        return bool(result.out.strip(b"\0"))

    def _status(self) -> list[str]:
        """The pending changes as "A path", "M path", "D path", "R old -> new"."""
        result = self._run("status", "-0", "-C", "-mar", *self._scope_args())
        entries = [os.fsdecode(e) for e in result.out.split(b"\0") if e]
        added: dict[str, str | None] = {}
        changes: list[tuple[str, str]] = []
        removed: set[str] = set()
        last_added: str | None = None
        for entry in entries:
            if entry.startswith("  ") and last_added is not None:
                added[last_added] = entry[2:]
                continue
            code, path = entry[0], entry[2:]
            last_added = path if code == "A" else None
            if code == "A":
                added[path] = None
            elif code == "R":
                removed.add(path)
            else:
                changes.append(("M", path))
        for path, source in added.items():
            if source is not None and source in removed:
                removed.discard(source)
                changes.append(("R", f"{source} -> {path}"))
            else:
                changes.append(("A", path))
        changes += [("D", path) for path in removed]
        return [f"{code} {what}" for code, what in sorted(changes, key=lambda c: c[1])]

    def commit_pending(self, hold: Collection[str] = ()) -> CommitResult | None:
        self._write_ignore()
        self._refuse_foreign_operation()
        self._run("addremove", "-q", "-s", "100", *self._scope_args())
        changes = self._status()
        if not changes:
            return None
        self._run("commit", "-q", "-m", self._commit_message(changes), *self._scope_args())
        return CommitResult(commit=self.head() or "", files=tuple(changes))

    def _commit_message(self, changes: list[str]) -> str:
        n = len(changes)
        subject = f"autosync on {self.hostname}: {n} file{'s' if n != 1 else ''} changed"
        # hg stores messages as UTF-8: a name that is not is written with escapes
        body = "\n".join(c.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                         for c in changes[:MAX_LISTED_FILES])
        if n > MAX_LISTED_FILES:
            body += f"\n... and {n - MAX_LISTED_FILES} more"
        return f"{subject}\n\n{body}\n\n{HOST_TRAILER}: {self.hostname}\n"

    # ------------------------------------------------------------------ remote
    def _remote_head(self) -> str | None:
        result = self._network("identify", "-i", "--debug", "-r", self.branch, "default")
        if result.ok:
            node = result.text.split()[0].rstrip("+") if result.text else ""
            return node if _HEX40.match(node) else None
        if "unknown revision" in result.err:
            return None  # the remote has no changeset on our branch yet
        raise remote_error(result.err, self.remote_display)

    def tidy(self) -> None:
        """Nothing to do: Mercurial's store needs no repacking between syncs."""

    def remote_moved(self) -> bool:
        node = self._remote_head()
        return node is not None and not self._nodes(f"id({node}) and ::.")

    def fetch(self) -> None:
        """Pull our branch's changesets into the store (the work tree is untouched)."""
        result = self._network("pull", "-q", "-b", self.branch, "default")
        if result.ok or "unknown branch" in result.err:
            return
        raise remote_error(result.err, self.remote_display)

    def ahead(self) -> bool:
        return self.head() is not None and bool(self._nodes("draft() and ::."))

    def push(self) -> bool:
        if self.head() is None:
            return True
        result = self._network("push", "-q", "-r", ".", "--new-branch", "default")
        if result.status in (0, 1):  # 1: nothing to push
            return True
        text = result.err.lower()
        if any(marker in text for marker in _REJECTED) or "waiting for lock" in text:
            return False
        raise remote_error(result.err, self.remote_display)

    # ------------------------------------------------------------------ integrating
    def _other_heads(self) -> list[str]:
        """Heads of our branch the work tree does not contain (pulled ones)."""
        return self._nodes(f"head() and branch({_revset_string(self.branch)}) - ::.")

    def _describe(self, node: str) -> tuple[str, str]:
        """(host, "changeset N from HOST") for messages."""
        record = self._run("log", "-r", node, "-T", "{author}\\0{desc}").out
        author, _, desc = record.decode("utf-8", "surrogateescape").partition("\0")
        host = host_of(desc, author)
        return host, f"changeset {node[:12]} from {host}"

    def integrate(self) -> IntegrateResult:
        self._refuse_foreign_operation()
        before = self.head()
        others = self._other_heads()
        if not others:
            return IntegrateResult(changed=False)
        found: list[Conflict] = []
        kept_local: list[tuple[str, str]] = []
        saved_beside: list[str] = []
        host = "unknown"
        for other in others:
            host, source = self._describe(other)
            for _attempt in range(3):
                head = self.head() or NULL
                self.update.plan(head, other, source)  # refuse hostile content first
                target = other
                if head != NULL and not self._is_ancestor(head, other):
                    target, conflicts = self.merge.build(head, other, host)
                    found += conflicts
                outcome = self.update.move(head, target, source)
                if outcome.moved:
                    kept_local += outcome.kept_local
                    saved_beside += outcome.saved_beside
                    break
                self.commit_pending()  # a save in the way: commit it, then again
            else:
                raise RepositoryError(f"{self.root}: files keep changing during the merge; "
                                      "will retry")
        if kept_local:
            self._write_ignore()
        after = self.head()
        files: tuple[str, ...] = ()
        if after is not None and before != after:
            result = self._run("status", "--rev", before or NULL, "--rev", after, "-0",
                               "-mar", "-n")
            files = tuple(os.fsdecode(p) for p in result.out.split(b"\0") if p)
        return IntegrateResult(changed=before != after, files=files, host=host,
                               conflicts=tuple(found), kept_local=tuple(kept_local),
                               saved_beside=tuple(saved_beside))

    # ------------------------------------------------------------------ queries
    def head(self) -> str | None:
        node = self._run("log", "-r", ".", "-T", "{node}").text
        return None if not node or node == NULL else node

    def has_commit(self, sha: str) -> bool:
        return bool(_HEX40.match(sha)) and bool(self._nodes(f"id({sha})"))

    def identity(self) -> str | None:
        if self._identity is None:
            roots = sorted(n for n in self._nodes("roots(::.)") + self._nodes(
                f"roots(::head() and branch({_revset_string(self.branch)}))") if n != NULL)
            if roots:
                self._identity = f"{roots[0]}:{self.branch}"
        return self._identity

    def tracked_files(self) -> list[str]:
        result = self._run("files", "-0", *self._scope_args(), check=False)
        return [os.fsdecode(p) for p in result.out.split(b"\0") if p]

    def conflict_copy_candidates(self) -> list[str]:
        return [p for p in self.tracked_files() if rules.COPY_MARKER in p]

    def history(self, skip: int = 0, limit: int = 100,
                path_filter: str | None = None) -> list[CommitInfo]:
        if self.head() is None:
            return []
        revset = "reverse(::.)"
        if path_filter:
            revset += f" and file({_revset_string('re:.*' + _case_free(path_filter))})"
        elif self.scope:
            revset += f" and file({_revset_string('path:' + self.scope)})"
        revset = f"limit({revset}, {max(1, int(limit))}, {max(0, int(skip))})"
        template = "{node}\\x1f{date|hgdate}\\x1f{author}\\x1f{desc}\\x1f{join(files, '\\0')}\\x1e"
        result = self._run("log", "-r", revset, "-T", template)
        commits: list[CommitInfo] = []
        for record in result.out.split(b"\x1e"):
            fields = os.fsdecode(record).split("\x1f")
            if len(fields) < 5:
                continue
            node, date, author, desc, names = fields[:5]
            commits.append(CommitInfo(
                sha=node, time=parse_hgdate(date), host=host_of(desc, author),
                author=author.split("<", 1)[0].strip() or author,
                subject=desc.split("\n", 1)[0],
                files=tuple(n for n in names.split("\0") if n)))
        return commits

    def file_at(self, commit: str, path: str) -> bytes:
        if not _HEX.match(commit):
            raise RepositoryError(f"{commit!r} is not a commit id")
        result = self._run("cat", "-r", commit, f"path:{path}", check=False)
        if not result.ok:
            raise RepositoryError(f"{path} does not exist in commit {commit[:10]}")
        return result.out

    def diff(self, commit: str, path: str | None = None) -> str:
        if not _HEX.match(commit):
            raise RepositoryError(f"{commit!r} is not a commit id")
        args = ["diff", "--git", "-c", commit]
        if path:
            args.append(f"path:{path}")
        return self._run(*args).out.decode("utf-8", errors="replace")

    def restore_file(self, commit: str, path: str, to: str | None = None) -> None:
        """Put the version of `path` in `commit` back into the work tree, at `to` if
        given (never through a symbolic link; a deleted file comes back too)."""
        if not _HEX.match(commit):
            raise RepositoryError(f"{commit!r} is not a commit id")
        destination = to or path
        try:
            verify_hg_path(path)
            verify_hg_path(destination)
        except UnsafePath as exc:
            raise RepositoryError(f"refusing to restore {exc}") from None
        flags = self.update.flags(commit, [path]).get(path)
        if flags is None:
            raise RepositoryError(f"{display(path)} does not exist in commit {commit[:10]}")
        scratch = self.work_tree.scratch
        listing = pattern_file(scratch, [path])
        out = scratch / f"restore-{os.urandom(8).hex()}"
        try:
            self._run("cat", "-r", commit, "-o", str(out), f"listfile0:{listing}")
            if flags == "l":
                target = out.read_bytes()[:MAX_LINK_TARGET + 1]
                if len(target) > MAX_LINK_TARGET:
                    raise RepositoryError(f"{display(path)}: link target too long")
                self.work_tree.remove(destination)
                self.work_tree.symlink(destination, os.fsdecode(target))
                return

            def copy(fd: int) -> None:
                with open(out, "rb") as src:
                    while chunk := src.read(1 << 20):
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(fd, view):]

            self.work_tree.replace(destination, copy, executable=flags == "x")
        except UnsafePath as exc:
            raise RepositoryError(f"refusing to restore {exc}") from None
        finally:
            listing.unlink(missing_ok=True)
            out.unlink(missing_ok=True)

