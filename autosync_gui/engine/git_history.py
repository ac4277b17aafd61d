"""A file's history as a user sees it: every version of one path (following renames), the
files deleted lately, restoring a version as a commit of its own, and what is not synced
yet. Read-only queries use no lock git could take (GIT_OPTIONAL_LOCKS=0), so they never
get in the sync loop's way. The git repository holds one (`file_history`), sharing its
runner."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from autosync_gui.engine import conflict_rules as rules
from autosync_gui.engine.events import Conflict
from autosync_gui.engine.git_env import GitResult
from autosync_gui.engine.git_runner import NO_SUBMODULE_CONFIG, GitRunner
from autosync_gui.engine.repository import CommitResult, DeletedFile, FileVersion

HOST_TRAILER_KEY = "Autosync-Host"  # the same trailer gitrepo.py writes into every commit
_ZERO = "0" * 40
_FORMAT = (f"--format=%x1e%H%x00%P%x00%cI%x00%(trailers:key={HOST_TRAILER_KEY},valueonly,"
           "separator=%x2c)%x00%an%x00%s")
_READ_ONLY = {"GIT_LITERAL_PATHSPECS": "1", "GIT_OPTIONAL_LOCKS": "0"}
_CHANGES = {"A": "added", "M": "modified", "T": "modified", "D": "deleted", "R": "renamed",
            "C": "added"}


def _host(trailer: str, author: str) -> str:
    return rules.safe_host((trailer.split(",")[0] or author).strip() or "unknown")


def _records(out: bytes) -> list[tuple[list[str], list[tuple[str, str, str, list[str]]]]]:
    """Parse `git log --raw -z` output in _FORMAT: per commit its header fields (sha,
    parents, time, host trailer, author, subject) and raw entries (old blob, new blob,
    status, paths)."""
    parsed = []
    for record in out.split(b"\x1e"):
        if not record.strip(b"\0\n"):
            continue
        header, _, rest = record.partition(b"\0\n")
        fields = os.fsdecode(header).split("\0")
        if len(fields) < 6:
            continue
        entries: list[tuple[str, str, str, list[str]]] = []
        parts = rest.split(b"\0")
        i = 0
        while i < len(parts):
            meta = parts[i].decode("ascii", "replace").strip()
            if not meta.startswith(":"):
                i += 1
                continue
            _old_mode, _new_mode, old_blob, new_blob, status = meta[1:].split()[:5]
            count = 2 if status[0] in "RC" else 1
            paths = [os.fsdecode(p) for p in parts[i + 1:i + 1 + count]]
            entries.append((old_blob, new_blob, status, paths))
            i += 1 + count
        parsed.append((fields[:6], entries))
    return parsed


NOT_FETCHED = -1  # FileVersion.size of a version a partial clone has not fetched yet


class FileHistory:
    """The history queries of one repository (`scope`: the synced folder inside it)."""

    def __init__(self, runner: GitRunner, scope: str, hostname: str,
                 tracking_ref: str) -> None:
        self.runner = runner
        self.root: Path = runner.root
        self.scope = scope
        self.hostname = hostname
        self.tracking_ref = tracking_ref

    def _run(self, *args: str, stdin: bytes | None = None, check: bool = True,
             env: dict[str, str] | None = None) -> GitResult:
        return self.runner.run(*args, stdin=stdin, check=check, env=env)

    def _rev(self, ref: str) -> str | None:
        result = self._run("rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)
        return result.text if result.ok else None

    def _partial(self) -> bool:
        """Whether this is a partial clone (some old versions are fetched on demand)."""
        found = self._run("config", "--get-regexp", r"^remote\..*\.promisor$", check=False)
        return "true" in found.text.lower()

    def _blob_sizes(self, blobs: list[str]) -> dict[str, int]:
        wanted = sorted({b for b in blobs if b and b != _ZERO})
        sizes: dict[str, int] = {}
        if wanted and self._partial():
            # A partial clone: cat-file would download every old version it lacks just to
            # tell its size; rev-list never fetches (it fails on an object not here).
            here = [b for b in wanted if self._run("rev-list", "--objects", "--missing=print",
                                                   b, check=False).ok]
            sizes = {b: NOT_FETCHED for b in wanted if b not in here}
            wanted = here
        if not wanted:
            return sizes
        result = self._run("cat-file", "--batch-check=%(objectname) %(objectsize)",
                           stdin="".join(f"{b}\n" for b in wanted).encode(), check=False,
                           env=_READ_ONLY)
        for line in result.text.splitlines():
            name, _, size = line.partition(" ")
            if size.isdigit():
                sizes[name] = int(size)
        return sizes

    def versions(self, path: str) -> list[FileVersion]:
        if self._rev("HEAD") is None:
            return []
        # In a partial clone, renames are followed by exact content only: judging how
        # similar two versions are would download the old versions a clone left out.
        renames = "-M100%" if self._partial() else "-M"
        result = self._run("log", "--follow", renames, "--raw", "--no-abbrev", "-z",
                           NO_SUBMODULE_CONFIG, _FORMAT, "HEAD", "--", path, env=_READ_ONLY)
        found: list[tuple[list[str], tuple[str, str, str, list[str]]]] = []
        for header, entries in _records(result.out):
            if entries:
                found.append((header, entries[0]))
        sizes = self._blob_sizes([entry[1] for _h, entry in found])
        versions: list[FileVersion] = []
        for (sha, _parents, when, trailer, author, _subject), entry in found:
            _old_blob, new_blob, status, paths = entry
            change = _CHANGES.get(status[0], "modified")
            versions.append(FileVersion(
                commit=sha, time=datetime.fromisoformat(when), host=_host(trailer, author),
                path=paths[-1], change=change,
                size=None if change == "deleted" else sizes.get(new_blob),
                previous_path=paths[0] if change == "renamed" else None))
        return versions

    def deleted_files(self, since: datetime, under: str) -> list[DeletedFile]:
        if self._rev("HEAD") is None:
            return []
        result = self._run("log", "--diff-filter=D", "-M", "--raw", "--no-abbrev", "-z",
                           NO_SUBMODULE_CONFIG, _FORMAT, f"--since={since.isoformat()}",
                           "HEAD", "--",
                           under or self.scope or ".", env=_READ_ONLY)
        seen: set[str] = set()
        candidates: list[tuple[list[str], str, str]] = []
        for header, entries in _records(result.out):
            for old_blob, _new, status, paths in entries:
                if status.startswith("D") and paths[0] not in seen:
                    seen.add(paths[0])
                    candidates.append((header, old_blob, paths[0]))
        if not candidates:
            return []
        still_there = self._tracked({path for _h, _b, path in candidates})
        sizes = self._blob_sizes([blob for _h, blob, _p in candidates])
        deleted: list[DeletedFile] = []
        for (sha, parents, when, trailer, author, _s), blob, path in candidates:
            if path in still_there or os.path.lexists(self.root / path):
                continue  # deleted once, but back since
            deleted.append(DeletedFile(
                path=path, commit=sha, time=datetime.fromisoformat(when),
                host=_host(trailer, author), last_commit=(parents.split() or [sha])[0],
                size=sizes.get(blob)))
        return deleted

    def _tracked(self, paths: set[str]) -> set[str]:
        tracked: set[str] = set()
        ordered = sorted(paths)
        for start in range(0, len(ordered), 500):
            result = self._run("ls-tree", "-z", "--name-only", "--full-tree", "HEAD", "--",
                               *ordered[start:start + 500], env=_READ_ONLY)
            tracked.update(os.fsdecode(p) for p in result.out.split(b"\0") if p)
        return tracked

    def commit_restore(self, path: str, title: str) -> CommitResult | None:
        literal = {"GIT_LITERAL_PATHSPECS": "1"}
        existed = self._run("cat-file", "-e", f"HEAD:{path}", check=False).ok \
            if self._rev("HEAD") else False
        self._run("add", "--", path, env=literal)
        if self._run("diff", "--cached", "--quiet", NO_SUBMODULE_CONFIG, "--", path,
                     check=False, env=literal).ok:
            return None
        message = f"{title}\n\n{HOST_TRAILER_KEY}: {self.hostname}\n"
        self._run("commit", "--no-verify", "-q", "-F", "-", "--", path,
                  stdin=message.encode("utf-8", "surrogateescape"), env=literal)
        return CommitResult(commit=self._rev("HEAD") or "",
                            files=(f"{'M' if existed else 'A'} {path}",))

    def _last_touch(self, path: str, *extra: str) -> tuple[str, datetime] | None:
        """Host and time of the newest commit (reachable from HEAD) touching `path`,
        narrowed by `extra` log options."""
        fmt = f"--format=%cI%x00%(trailers:key={HOST_TRAILER_KEY},valueonly,separator=%x2c)%x00%an"
        result = self._run("log", "-1", fmt, *extra, NO_SUBMODULE_CONFIG, "HEAD", "--", path,
                           check=False, env=_READ_ONLY)
        if not result.ok or not result.text:
            return None
        when, trailer, author = ([*result.text.split("\0"), "", "", ""])[:3]
        try:
            return _host(trailer, author), datetime.fromisoformat(when)
        except ValueError:
            return None

    def describe_conflict(self, path: str, copy_path: str, fallback: Conflict) -> Conflict:
        """Whose version is at `path` and whose in `copy_path`, with the full times, read
        from history (a conflict another machine resolved arrives as plain files): the
        version at the path is the last commit touching it; the copy's is the commit that
        brought the copy's content to the path, on whichever side of the merge it was."""
        kept = self._last_touch(path)
        blob = self._run("rev-parse", "-q", "--verify", f"HEAD:{copy_path}", check=False,
                         env=_READ_ONLY)
        copied = self._last_touch(path, "--full-history", f"--find-object={blob.text}") \
            if blob.ok and blob.text else None
        return Conflict(
            path=path, copy_path=copy_path, kind=fallback.kind,
            kept_host=kept[0] if kept else fallback.kept_host,
            kept_time=kept[1] if kept else fallback.kept_time,
            copy_host=copied[0] if copied else fallback.copy_host,
            copy_time=copied[1] if copied else fallback.copy_time)

    def pending_changes(self) -> int:
        result = self._run("status", "--porcelain", "-z", "--untracked-files=all",
                           NO_SUBMODULE_CONFIG, "--", self.scope or ".", env=_READ_ONLY)
        fields = result.out.split(b"\0")
        count = 0
        i = 0
        while i < len(fields):
            entry = fields[i]
            if len(entry) > 3:
                count += 1
                if entry[:1] in (b"R", b"C") or entry[1:2] in (b"R", b"C"):
                    i += 1  # the old name follows
            i += 1
        return count

    def ignored_files(self, limit: int) -> list[str]:
        """Untracked files in the folder that an ignore rule keeps out of sync (a folder
        ignored as a whole is one entry ending in /), at most `limit`, sorted."""
        result = self._run("ls-files", "-z", "--others", "--ignored", "--exclude-standard",
                           "--directory", "--", self.scope or ".", env=_READ_ONLY)
        names = sorted(os.fsdecode(p) for p in result.out.split(b"\0") if p)
        return names[:limit]

    def unpushed_commits(self) -> int:
        if self._rev("HEAD") is None:
            return 0
        span = f"{self.tracking_ref}..HEAD" if self._rev(self.tracking_ref) else "HEAD"
        result = self._run("rev-list", "--count", span, "--", check=False, env=_READ_ONLY)
        return int(result.text) if result.ok and result.text.isdigit() else 0
