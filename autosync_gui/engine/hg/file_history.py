"""A file's history as a user sees it, for hg folders: every version of one path
(following the renames hg recorded), the files deleted lately, restoring a version as a
commit of its own, whose versions a conflict kept, and what is not synced yet. The same
answers as engine/git_history.py gives for git folders; the queries only read, except
commit_restore."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime

from autosync_gui.engine.events import Conflict
from autosync_gui.engine.hg.merge import HOST_TRAILER, host_of, parse_hgdate
from autosync_gui.engine.hg.runner import HgRunner
from autosync_gui.engine.repository import CommitResult, DeletedFile, FileVersion

_NULL = "0" * 40
_HEX = re.compile(r"^[0-9a-f]{40}$")
_FIELD, _RECORD = "\x1f", "\x1e"
# One changeset: node, parents, date, author, description, then what it did to files
# (each list NUL-separated; copies as destination NUL source pairs).
_TEMPLATE = ("{node}\\x1f{p1.node} {p2.node}\\x1f{date|hgdate}\\x1f{author}\\x1f{desc}"
             "\\x1f{join(file_adds, '\\0')}\\x1f{join(file_dels, '\\0')}"
             "\\x1f{join(file_mods, '\\0')}"
             "\\x1f{file_copies % '{name}\\0{source}\\0'}\\x1e")
MAX_CONFLICT_CANDIDATES = 50  # changesets searched for the version a conflict copy holds


def quoted(text: str) -> str:
    """`text` as a single-quoted revset string."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _names(field: str) -> set[str]:
    return {n for n in field.split("\0") if n}


@dataclass(frozen=True)
class _Changeset:
    node: str
    parents: tuple[str, ...]  # without the null parent
    time: datetime
    host: str
    added: frozenset[str]
    removed: frozenset[str]
    modified: frozenset[str]
    copies: dict[str, str]  # destination: source


class HgFileHistory:
    """The history queries of one hg repository (`scope`: the synced folder in it)."""

    def __init__(self, runner: HgRunner, scope: str, hostname: str) -> None:
        self._runner = runner
        self._scope = scope
        self._hostname = hostname

    # ------------------------------------------------------------------ reading hg
    def _changesets(self, revset: str) -> list[_Changeset]:
        result = self._runner.run("log", "-r", revset, "-T", _TEMPLATE, check=False)
        if not result.ok:
            return []
        found: list[_Changeset] = []
        for record in os.fsdecode(result.out).split(_RECORD):
            fields = record.split(_FIELD)
            if len(fields) < 9 or not _HEX.match(fields[0]):
                continue
            node, parents, date, author, desc, adds, dels, mods, copies = fields[:9]
            pairs = copies.split("\0")
            found.append(_Changeset(
                node=node, parents=tuple(p for p in parents.split() if p != _NULL),
                time=parse_hgdate(date), host=host_of(desc, author),
                added=frozenset(_names(adds)), removed=frozenset(_names(dels)),
                modified=frozenset(_names(mods)),
                copies=dict(zip(pairs[0::2], pairs[1::2], strict=False))))
        return found

    def _size(self, node: str, path: str) -> int | None:
        result = self._runner.run("files", "-r", node, "-T", "{size}", f"path:{path}",
                                  check=False)
        return int(result.text) if result.ok and result.text.isdigit() else None

    def _exists(self, node: str, path: str) -> bool:
        result = self._runner.run("files", "-r", node, "-0", f"path:{path}", check=False)
        return result.ok and os.fsencode(path) in result.out.split(b"\0")

    def _has_head(self) -> bool:
        return self._runner.run("log", "-r", ".", "-T", "{node}").text not in ("", _NULL)

    # ------------------------------------------------------------------ versions
    def versions(self, path: str) -> list[FileVersion]:
        """Every version of `path`, newest first, following renames; a deletion counts
        as a version (size None)."""
        if not self._has_head():
            return []
        versions: list[FileVersion] = []
        start = "."
        if not self._exists(".", path):
            gone = self._changesets(f"max(::. and removes({quoted('path:' + path)}))")
            if not gone:
                return []
            deletion = gone[0]
            versions.append(FileVersion(commit=deletion.node, time=deletion.time,
                                        host=deletion.host, path=path, change="deleted",
                                        size=None))
            start = next((p for p in deletion.parents if self._exists(p, path)), "")
            if not start:
                return versions
        current = path
        revset = f"reverse(follow({quoted('path:' + path)}, {start}))"
        for changeset in self._changesets(revset):
            source = changeset.copies.get(current)
            if source is not None:
                change = "renamed" if source in changeset.removed else "added"
            elif current in changeset.added:
                change = "added"
            elif current in changeset.modified:
                change = "modified"
            else:
                continue  # a merge that kept this side's version as it was
            versions.append(FileVersion(
                commit=changeset.node, time=changeset.time, host=changeset.host,
                path=current, change=change, size=self._size(changeset.node, current),
                previous_path=source if change == "renamed" else None))
            if source is not None:
                current = source
        return versions

    # ------------------------------------------------------------------ deleted files
    def deleted_files(self, since: datetime, under: str) -> list[DeletedFile]:
        """Files below `under` (or the folder) deleted since `since` and not there any
        more, newest first; a file moved elsewhere is not deleted."""
        if not self._has_head():
            return []
        where = under or self._scope
        revset = f"::. and date({quoted('>' + str(int(since.timestamp())) + ' 0')})"
        if where:  # a pattern, not a name: removes() takes a lone name as one file's
            revset += f" and removes({quoted('re:^' + re.escape(where) + '/')})"
        prefix = f"{where}/" if where else ""
        seen: set[str] = set()
        candidates: list[tuple[_Changeset, str]] = []
        for changeset in self._changesets(f"reverse({revset})"):
            moved = set(changeset.copies.values())
            for path in sorted(changeset.removed - moved):
                if path.startswith(prefix) and path not in seen:
                    seen.add(path)
                    candidates.append((changeset, path))
        if not candidates:
            return []
        tracked = self._tracked({path for _c, path in candidates})
        deleted: list[DeletedFile] = []
        for changeset, path in candidates:
            if path in tracked or os.path.lexists(self._runner.root / path):
                continue  # deleted once, but back since
            last = next((p for p in changeset.parents if self._exists(p, path)),
                        changeset.parents[0] if changeset.parents else changeset.node)
            deleted.append(DeletedFile(path=path, commit=changeset.node, time=changeset.time,
                                       host=changeset.host, last_commit=last,
                                       size=self._size(last, path)))
        return deleted

    def _tracked(self, paths: set[str]) -> set[str]:
        result = self._runner.run("files", "-r", ".", "-0",
                                  *[f"path:{p}" for p in sorted(paths)], check=False)
        return {os.fsdecode(p) for p in result.out.split(b"\0") if p}

    # ------------------------------------------------------------------ restoring
    def commit_restore(self, path: str, title: str) -> CommitResult | None:
        """Commit the restored file at `path` alone, titled `title`; None when it was
        unchanged."""
        pattern = f"path:{path}"
        existed = self._has_head() and self._exists(".", path)
        if not existed:
            self._runner.run("add", "-q", pattern, check=False)
        status = self._runner.run("status", "-0", "-mar", pattern)
        if not status.out.strip(b"\0"):
            return None
        message = f"{title}\n\n{HOST_TRAILER}: {self._hostname}\n"
        self._runner.run("commit", "-q", "-m", message, pattern)
        head = self._runner.run("log", "-r", ".", "-T", "{node}").text
        return CommitResult(commit=head, files=(f"{'M' if existed else 'A'} {path}",))

    # ------------------------------------------------------------------ conflicts
    def describe_conflict(self, path: str, copy_path: str, fallback: Conflict) -> Conflict:
        """Whose version is at `path` and whose in `copy_path`, read from history (a
        conflict another machine resolved arrives as plain files): for each, the newest
        changeset (not a merge, on either side of one) that put that content at `path`."""
        touching = [c for c in self._changesets(
            f"limit(reverse(::. and file({quoted('path:' + path)}) and not merge()), "
            f"{MAX_CONFLICT_CANDIDATES})") if path in c.added | c.modified]
        kept = self._made(path, self._cat(".", path), touching)
        copied = self._made(path, self._cat(".", copy_path), touching)
        return Conflict(
            path=path, copy_path=copy_path, kind=fallback.kind,
            kept_host=kept.host if kept else fallback.kept_host,
            kept_time=kept.time if kept else fallback.kept_time,
            copy_host=copied.host if copied else fallback.copy_host,
            copy_time=copied.time if copied else fallback.copy_time)

    def _cat(self, node: str, path: str) -> bytes | None:
        result = self._runner.run("cat", "-r", node, f"path:{path}", check=False)
        return result.out if result.ok else None

    def _made(self, path: str, content: bytes | None,
              touching: list[_Changeset]) -> _Changeset | None:
        if content is None:
            return None
        return next((c for c in touching if self._cat(c.node, path) == content), None)

    # ------------------------------------------------------------------ counts
    def pending_changes(self) -> int:
        scope = [f"path:{self._scope}"] if self._scope else []
        result = self._runner.run("status", "-0", "-mardu", *scope)
        return len([e for e in result.out.split(b"\0") if e])

    def ignored_files(self, limit: int) -> list[str]:
        scope = [f"path:{self._scope}"] if self._scope else []
        result = self._runner.run("status", "-0", "--ignored", "--no-status", *scope)
        names = sorted(os.fsdecode(e) for e in result.out.split(b"\0") if e)
        return names[:limit]

    def unpushed_commits(self) -> int:
        result = self._runner.run("log", "-r", "draft() and ::.", "-T", "x")
        return len(result.out)
