"""Building the merge of two heads as a changeset without the work tree.

hg can only merge in a working directory, so the merge runs in a private scratch share
of the repository (`.hg/autosync/merge-*`, the same store, its own checkout), made for
one merge and removed after it: the user's work tree never holds a merge, and a kill -9
leaves nothing but that folder, which recovery deletes. Clean three-way merges are
hg's own (`--tool :merge`); every file hg leaves unresolved (a real conflict, a binary,
modify/delete) is resolved by the backend-neutral rule in conflict_rules.py, writing
each version whole, so no conflict marker is ever committed."""

from __future__ import annotations

import os
import secrets
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from autosync_gui.engine import conflict_rules as rules
from autosync_gui.engine.events import Conflict
from autosync_gui.engine.hg.runner import HgRunner, first_line
from autosync_gui.engine.repository import RepositoryError
from autosync_gui.engine.safe_paths import display
from autosync_gui.engine.worktree_fs import WorkTree

HOST_TRAILER = "Autosync-Host"
_SEP = "\x1f"


def host_of(description: str, author: str) -> str:
    """The host a changeset was made on: its trailer line, else the author's name."""
    for line in reversed(description.splitlines()):
        if line.startswith(f"{HOST_TRAILER}: "):
            return rules.safe_host(line.split(": ", 1)[1].strip())
    return rules.safe_host(author.split("<", 1)[0].strip() or "unknown")


def parse_hgdate(text: str) -> datetime:
    """hg's `{date|hgdate}` ("UNIXTIME OFFSET", offset in seconds west of UTC) as an
    aware datetime in the changeset's own zone."""
    seconds, _, offset = text.strip().partition(" ")
    zone = timezone(timedelta(seconds=-int(offset or "0")))
    return datetime.fromtimestamp(float(seconds), zone)


class ScratchMerge:
    """Merges for one repository (see the module doc)."""

    def __init__(self, runner: HgRunner, state_dir: Path, hostname: str) -> None:
        self._runner = runner
        self._state_dir = state_dir
        self._hostname = hostname

    def cleanup(self) -> bool:
        """Remove scratch shares a killed process left; True if there were any."""
        found = False
        for place in self._state_dir.glob("merge-*"):
            shutil.rmtree(place, ignore_errors=True)
            found = True
        return found

    def build(self, local: str, other: str, host: str) -> tuple[str, tuple[Conflict, ...]]:
        """The merge changeset of `other` into `local` and the conflicts it resolved."""
        share = self._state_dir / f"merge-{secrets.token_hex(8)}"
        self._runner.run("--config", "extensions.share=", "share", "-U", "-q", "--",
                         str(self._runner.root), str(share))
        # The share's own command server: a merge runs a dozen commands there, and each
        # hg process would cost its start-up again.
        in_share = HgRunner(share, self._runner.hgrc)
        run = in_share.run
        try:
            run("update", "-q", "-r", local)
            # Without following renames: a conflict then always has both sides at one
            # path (followed, an edit made under the old name was taken for a deletion
            # and lost); a file renamed on one side and edited on the other is kept
            # under both names (modify/delete keeps the edit).
            merged = run("--config", "ui.origbackuppath=.hg/origbackups",
                         "--config", "merge.followcopies=false", "merge", "-q",
                         "--tool", ":merge", "-r", other, check=False)
            if merged.status not in (0, 1):
                raise RepositoryError(f"{self._runner.root}: merging {host}'s changes "
                                      f"failed: {first_line(merged.err)}")
            listing = run("resolve", "-l", "-T", "{mergestatus}\\0{path}\\0")
            fields = listing.out.split(b"\0")
            unresolved = sorted(raw.decode("utf-8", "surrogateescape")
                                for status, raw in zip(fields[0::2], fields[1::2],
                                                       strict=False) if status == b"U")
            found = self._resolve(in_share, local, other, unresolved) if unresolved else []
            left = run("resolve", "-l", "-T", "{mergestatus}").text
            if "U" in left:
                raise RepositoryError(f"{self._runner.root}: could not resolve the merge; "
                                      "nothing was committed, will retry")
            message = f"autosync on {self._hostname}: merged changes from {host}\n\n"
            if found:
                message += rules.conflict_lines(found) + "\n\n"
            message += f"{HOST_TRAILER}: {self._hostname}\n"
            run("commit", "-q", "-m", message)
            node = run("log", "-r", ".", "-T", "{node}").text
        finally:
            in_share.close()
            shutil.rmtree(share, ignore_errors=True)
        return node, tuple(found)

    # ------------------------------------------------------------------ conflicts
    def _side(self, side: str, against: str, path: str, flags: str) -> rules.SideVersion:
        """The last changeset on `side` (not on `against`) that touched `path`: the
        newest by date, ties by node, so every replica picks the same."""
        template = f"{{node}}{_SEP}{{date|hgdate}}{_SEP}{{author}}{_SEP}{{desc}}\x1e"
        result = self._runner.run(
            "log", "-r", f"only({side}, {against}) and file('path:{_revset_quote(path)}')",
            "-T", template, check=False)
        records = [r for r in result.out.decode("utf-8", "surrogateescape").split("\x1e")
                   if r.strip()]
        if not records:
            records = [self._runner.run("log", "-r", side, "-T", template).out
                       .decode("utf-8", "surrogateescape").rstrip("\x1e")]
        best: tuple[float, str, datetime, str] | None = None
        for record in records:
            node, date, author, desc = ([*record.split(_SEP), "", "", ""])[:4]
            when = parse_hgdate(date)
            key = (when.timestamp(), node)
            if best is None or key > best[:2]:
                best = (when.timestamp(), node, when, host_of(desc, author))
        assert best is not None
        return rules.SideVersion(mode=flags, blob="", commit=best[1], commit_time=best[2],
                                 host=best[3])

    def _resolve(self, in_share: HgRunner, local: str, other: str,
                 unresolved: list[str]) -> list[Conflict]:
        from autosync_gui.engine.hg.update import CarefulUpdate

        share = in_share.root
        tree = WorkTree(share, share / ".hg" / "scratch")
        flags_of = CarefulUpdate(self._runner, tree, self._state_dir).flags
        ours = flags_of(local, unresolved)
        theirs = flags_of(other, unresolved)
        files = in_share.run("files", "-0")
        taken = {raw.decode("utf-8", "surrogateescape") for raw in files.out.split(b"\0") if raw}
        found: list[Conflict] = []
        added: list[str] = []
        for path in unresolved:
            mine, yours = ours.get(path), theirs.get(path)
            if mine is not None and yours is not None:
                a = self._side(local, other, path, mine)
                b = self._side(other, local, path, yours)
                keep, copied = rules.newer_first(a, b)
                copy = rules.copy_name(path, copied, taken)
                taken.add(copy)
                # The versions are the heads' (the last changeset touching the path on a
                # side names who and when; the file may be gone there and back since).
                keep_rev, copied_rev = (local, other) if keep is a else (other, local)
                self._write(tree, path, keep_rev, keep.mode)
                self._write(tree, copy, copied_rev, copied.mode, source_path=path)
                added.append(copy)
                found.append(Conflict(path=path, copy_path=copy, kind="content",
                                      kept_host=keep.host, kept_time=keep.commit_time,
                                      copy_host=copied.host, copy_time=copied.commit_time))
            else:
                side, gone = (local, other) if mine is not None else (other, local)
                flags = mine if mine is not None else yours
                assert flags is not None
                kept = self._side(side, gone, path, flags)
                lost = self._side(gone, side, path, flags)
                self._write(tree, path, side, flags)
                added.append(path)
                found.append(Conflict(path=path, copy_path=None, kind="modify/delete",
                                      kept_host=kept.host, kept_time=kept.commit_time,
                                      copy_host=lost.host, copy_time=lost.commit_time))
        if added:
            in_share.run("add", "-q", *[f"path:{p}" for p in added], check=False)
        in_share.run("resolve", "-m", *[f"path:{p}" for p in unresolved])
        return found

    def _write(self, tree: WorkTree, path: str, rev: str, flags: str,
               source_path: str | None = None) -> None:
        """Put `source_path` (default `path`) as it is in `rev` at `path` in the share,
        replacing what is there, never through a link."""
        data = self._runner.run("cat", "-r", rev, f"path:{source_path or path}").out
        if tree.lstat(path) is not None:
            tree.remove(path)
        if flags == "l":
            tree.symlink(path, data.decode("utf-8", "surrogateescape"))
            return

        def write(fd: int) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]

        try:
            tree.replace(path, write, executable=flags == "x")
        except OSError as exc:
            raise RepositoryError(f"{display(path)}: cannot write the merged version "
                                  f"({exc.strerror})") from None


def _revset_quote(path: str) -> str:
    """`path` inside a single-quoted revset string."""
    return path.replace("\\", "\\\\").replace("'", "\\'")
