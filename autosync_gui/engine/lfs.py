"""Git LFS for a folder's large files, enabled deliberately and locally.

Pulled `.gitattributes` cannot name filters (attributes.py keeps every path neutral), so
LFS is switched on here, path by path: autosync writes its own rules into a managed
block of the folder's `.gitattributes` (committed, so every replica agrees), and each
replica copies those rules, and only those, into the managed block of
`$GIT_DIR/info/attributes` after the neutral line. Lines in that block that do not look
exactly like the rules autosync writes are ignored. The filter driver is defined in the
repository's own config (never the user's global one). Transfers are explicit commands
the engine runs in its worker threads (`git lfs push`, `git lfs fetch`), never hooks.

LFS is used for a folder when git-lfs is installed, large_file_size is not 0, the remote
can have an LFS endpoint (an https or ssh remote, or an lfs.url / remote.NAME.lfsurl in
the repository's config) and a first tiny upload to it succeeds. A committed
`.lfsconfig` is not followed (it would let whoever can push choose the server that gets
our credentials and our files): with one, LFS stays off (one line says so) until it is
removed; set lfs.url in the repository instead."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from autosync_gui.engine.git_env import GitResult, classify
from autosync_gui.engine.git_runner import GitRunner
from autosync_gui.engine.progress import ProgressLine
from autosync_gui.engine.remote import RemoteProblem
from autosync_gui.engine.repository import RepositoryError
from autosync_gui.engine.safe_paths import UnsafePath
from autosync_gui.engine.worktree_fs import CHUNK, WorkTree

BEGIN = "# >>> autosync: large files stored with Git LFS (managed block; do not edit) >>>"
END = "# <<< autosync <<<"
ATTRIBUTES = "filter=lfs diff=lfs merge=lfs -text"
POINTER_VERSION = b"version https://git-lfs.github.com/spec/v1\n"
MAX_POINTER = 1024
_RULE = re.compile(r"^(/(?:[^\s*?\[\]\\]|\\[*?\[\]\\]|\[ \])+(?:\*(?:[^\s*?\[\]\\]|\\[*?\[\]\\]|"
                   r"\[ \])*)?) " + re.escape(ATTRIBUTES) + "$")
_POINTER = re.compile(rb"^version https://git-lfs\.github\.com/spec/v1\n"
                      rb"oid sha256:([0-9a-f]{64})\nsize (\d+)\n$")
LFS_OPTIONS = ["-c", "lfs.locksverify=false", "-c", "lfs.setlockablereadonly=false"]
FILTER_CONFIG = (("filter.lfs.process", "git-lfs filter-process"),
                 ("filter.lfs.required", "true"),
                 ("filter.lfs.clean", "git-lfs clean -- %f"),
                 ("filter.lfs.smudge", "git-lfs smudge -- %f"))


def git_lfs_installed() -> bool:
    return shutil.which("git-lfs") is not None


# ---------------------------------------------------------------------------- rules
def _glob_escape(text: str) -> str:
    return "".join("[ ]" if c == " " else f"\\{c}" if c in "*?[]\\" else c for c in text)


def rule_for(path: str) -> str | None:
    """The pattern for `path` (relative to the .gitattributes' folder): the file and its
    conflict copies (`name (conflict from HOST DATE).ext`): `/dir/name*.ext`. None for
    names a rule cannot hold (tabs, newlines)."""
    if any(c in path for c in "\t\n\r\f\v"):
        return None
    folder, _, name = path.rpartition("/")
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    prefix = f"/{_glob_escape(folder)}/" if folder else "/"
    return f"{prefix}{_glob_escape(stem)}*{dot}{_glob_escape(ext)}"


def rules_in(text: str) -> list[str]:
    """The patterns of the managed block of a .gitattributes text that have exactly the
    shape rule_for writes; anything else in the block is ignored."""
    found: list[str] = []
    inside = False
    for line in text.splitlines():
        if line == BEGIN:
            inside = True
        elif line == END:
            inside = False
        elif inside:
            match = _RULE.match(line)
            if match is not None and match[1] not in found:
                found.append(match[1])
    return found


def with_rules(text: str, patterns: Iterable[str]) -> str:
    """`text` with the managed block holding `patterns` (sorted) at its end."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if line == BEGIN:
            inside = True
        elif line == END and inside:
            inside = False
        elif not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    block = [BEGIN, *(f"{p} {ATTRIBUTES}" for p in sorted(set(patterns))), END]
    return "\n".join([*kept, *([""] if kept else []), *block]) + "\n"


# ---------------------------------------------------------------------------- pointers
def pointer_text(oid: str, size: int) -> bytes:
    if size == 0:
        return b""  # git-lfs stores an empty file as an empty blob
    return POINTER_VERSION + f"oid sha256:{oid}\nsize {size}\n".encode()


def parse_pointer(data: bytes) -> tuple[str, int] | None:
    match = _POINTER.match(data)
    return (match[1].decode(), int(match[2])) if match else None


# ---------------------------------------------------------------------------- the store
ProgressCallback = Callable[[ProgressLine], None]


class LargeFileStore:
    """Git LFS for one repository (see the module doc). Blocking; worker threads only."""

    def __init__(self, runner: GitRunner, git_dir: Path, scope: str, remote: str,
                 remote_url: str, tree: WorkTree) -> None:
        self._runner = runner
        self._git_dir = git_dir
        self._scope = scope
        self._remote = remote
        self._remote_url = remote_url
        self._tree = tree
        self.installed = git_lfs_installed()
        self._usable: bool | None = None
        self._filter_enabled = False
        self.why_not = ""
        self.no_endpoint = False  # the usual case for a plain ssh/local remote: nothing to say

    # ------------------------------------------------------------------ where rules live
    @property
    def attributes_path(self) -> str:
        """The .gitattributes holding the rules, relative to the work tree's root."""
        return f"{self._scope}/.gitattributes" if self._scope else ".gitattributes"

    def committed_rules(self, commit: str) -> list[str]:
        result = self._runner.run("cat-file", "-s", f"{commit}:{self.attributes_path}",
                                  check=False)
        if not result.ok or not result.text.isdigit() or int(result.text) > 1 << 20:
            return []
        blob = self._runner.run("cat-file", "blob", f"{commit}:{self.attributes_path}",
                                check=False)
        return rules_in(blob.out.decode("utf-8", "surrogateescape")) if blob.ok else []

    def info_lines(self, patterns: Iterable[str]) -> list[str]:
        """Lines for the managed block of info/attributes: the rules (made relative to
        the root) select the LFS filter; .gitattributes merges as a union of lines, so
        two replicas adding rules at once do not conflict."""
        prefix = f"/{_glob_escape(self._scope)}" if self._scope else ""
        lines = [f"{prefix}{p} filter=lfs" for p in patterns]
        if lines:
            lines.append(f"/{_glob_escape(self.attributes_path)} merge=union")
        return lines

    # ------------------------------------------------------------------ can we use it
    def _config(self, key: str) -> str | None:
        result = self._runner.run("config", "--local", "--get", key, check=False)
        return result.text if result.ok and result.text else None

    def endpoint_pinned(self) -> bool:
        return bool(self._config("lfs.url") or self._config(f"remote.{self._remote}.lfsurl"))

    def lfsconfig_present(self, commit: str = "HEAD") -> bool:
        """A .lfsconfig in the work tree, the index, HEAD or `commit` (git-lfs reads
        lfs.url, lfs.pushurl and more from it)."""
        if self._tree.lstat(".lfsconfig") is not None:
            return True
        return any(self._runner.run("cat-file", "-e", spec, check=False).ok
                   for spec in (":.lfsconfig", "HEAD:.lfsconfig", f"{commit}:.lfsconfig"))

    def usable(self) -> bool | None:
        """Whether new large files go to LFS (decided once per run; see the module doc);
        None while the LFS server cannot be reached (asked again next time). why_not
        says why not, in one line."""
        if self._usable is None:
            decided = self._decide()
            if decided is None:
                return None
            self._usable = decided
        return self._usable

    def _decide(self) -> bool | None:
        url = self._remote_url
        remote_kind = url.startswith(("https://", "http://", "ssh://")) or (
            ":" in url and "://" not in url and not url.startswith("/")
            and "/" not in url.split(":", 1)[0])
        if not (remote_kind or self.endpoint_pinned()):
            self.no_endpoint = True
            self.why_not = "the remote has no LFS endpoint (set lfs.url to use one)"
            return False
        if not self.installed:
            self.why_not = "git-lfs is not installed (Debian: apt install git-lfs)"
            return False
        if self.lfsconfig_present():
            self.why_not = ("a synced .lfsconfig holds Git LFS settings; autosync does not "
                            "follow settings from synced files: remove it and set lfs.url in "
                            "this repository (git config lfs.url URL)")
            return False
        self.enable_filter()
        probe = self._probe()
        if not probe.ok:
            self.why_not = f"the LFS endpoint did not accept an upload ({_first(probe.err)})"
            if classify(probe.err) is RemoteProblem.UNREACHABLE:
                return None  # offline: no decision yet
            return False
        return True

    def _probe(self) -> GitResult:
        """Upload one tiny object (the same bytes for everybody, so it is stored once)."""
        content = b"autosync: checking that this server stores Git LFS objects\n"
        oid = hashlib.sha256(content).hexdigest()
        self._store_object(oid, content)
        return self.run("push", "--object-id", self._remote, oid, idle_timeout=60.0)

    def enable_filter(self) -> None:
        """Define the LFS filter driver in this repository's config (not globally)."""
        if self._filter_enabled:
            return
        self._filter_enabled = True
        for key, value in FILTER_CONFIG:
            if self._config(key) != value:
                self._runner.run("config", "--local", key, value)

    # ------------------------------------------------------------------ running git-lfs
    def run(self, *args: str, on_progress: ProgressCallback | None = None,
            idle_timeout: float = 120.0) -> GitResult:
        return self._runner.run_progress(*LFS_OPTIONS, "lfs", *args, on_progress=on_progress,
                                         idle_timeout=idle_timeout)

    def push(self, on_progress: ProgressCallback | None) -> GitResult:
        return self.run("push", self._remote, "HEAD", on_progress=on_progress)

    def fetch(self, commit: str, on_progress: ProgressCallback | None,
              include: str | None = None) -> GitResult:
        args = ["fetch", self._remote, commit]
        if include is not None:
            args += ["--include", include, "--exclude", ""]
        return self.run(*args, on_progress=on_progress)

    def prune(self) -> GitResult:
        return self.run("prune", "--verify-remote", idle_timeout=600.0)

    # ------------------------------------------------------------------ local objects
    def object_path(self, oid: str) -> Path:
        return self._git_dir / "lfs" / "objects" / oid[:2] / oid[2:4] / oid

    def _store_object(self, oid: str, content: bytes) -> None:
        path = self.object_path(oid)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{oid}.{os.getpid()}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)

    def copy_object(self, oid: str, size: int, fd: int) -> None:
        """Stream a local LFS object into `fd`, checking its hash as it goes."""
        try:
            source = os.open(self.object_path(oid), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            raise RepositoryError(f"LFS object {oid[:12]} is not on this machine") from None
        digest = hashlib.sha256()
        copied = 0
        try:
            while chunk := os.read(source, CHUNK):
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                copied += len(chunk)
        finally:
            os.close(source)
        if copied != size or digest.hexdigest() != oid:
            raise RepositoryError(f"LFS object {oid[:12]} on this machine is damaged")

    def filtered(self, paths: list[str]) -> set[str]:
        """Of `paths`, those the LFS filter applies to now."""
        if not paths:
            return set()
        result = self._runner.run("check-attr", "-z", "--stdin", "filter", check=False,
                                  stdin=b"\0".join(os.fsencode(p) for p in paths) + b"\0")
        fields = result.out.split(b"\0")
        return {os.fsdecode(path) for path, _attr, value in
                zip(fields[0::3], fields[1::3], fields[2::3], strict=False) if value == b"lfs"}

    def write_rules(self, paths: Iterable[str]) -> bool:
        """Add rules for `paths` (relative to the root) to the work tree's .gitattributes
        (never through a link). False when none could be written."""
        new: list[str] = []
        for path in paths:
            relative = path[len(self._scope) + 1:] if self._scope else path
            rule = rule_for(relative)
            if rule is not None:
                new.append(rule)
        if not new:
            return False
        current = b""
        with contextlib.suppress(OSError, UnsafePath), \
                self._tree.parent(self.attributes_path) as (dir_fd, name):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as fh:
                current = fh.read(1 << 20)
        text = current.decode("utf-8", "surrogateescape")
        wanted = with_rules(text, [*rules_in(text), *new]).encode("utf-8", "surrogateescape")
        if wanted != current:
            try:
                self._tree.replace(self.attributes_path, lambda fd: _write_all(fd, wanted))
            except UnsafePath as exc:
                raise RepositoryError(f"cannot write {exc}") from None
        return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _first(err: str) -> str:
    for line in err.splitlines():
        if line.strip():
            return line.strip()[:200]
    return "no answer"
