"""Moving an hg work tree to a pulled or merged changeset, file by file, the way the git
backend's careful pull does (never `hg update` in the work tree: it would merge into, or
refuse, files the user is saving at that moment, and leave merge state behind).

Before anything on disk is touched, every changed path is checked (hg/paths.py: git's
rules plus `.hg` in every spelling) and every folder a written path goes through must be
a real folder on disk; a refused changeset raises HostileContent naming it and the path.
Then hg's own status says whether a file in the way holds a save (then the caller
commits it first). Each old file is renamed aside and compared with what hg's status
saw (inode, size, modification time), so a save landing at that moment stays; new files
come from one `hg cat` into the private scratch folder and get their names by link(),
which never replaces. Last, hg's dirstate is rebuilt for the target without touching a
file (every written path to be compared again: dirstate_extension.py). A journal
lets recovery after a kill -9 put moved-aside files back."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from autosync_gui.engine.careful_pull import (
    KEPT_LOCAL_MARK,
    MAX_LINK_TARGET,
    PullOutcome,
    kept_local_names,
)
from autosync_gui.engine.hg.paths import verify_hg_path
from autosync_gui.engine.hg.runner import HgRunner
from autosync_gui.engine.open_files import open_files
from autosync_gui.engine.repository import HostileContent, RepositoryError
from autosync_gui.engine.safe_paths import UnsafePath, display
from autosync_gui.engine.worktree_fs import Aside, WorkTree

NULL = "0" * 40
# Above this many paths, listing the whole changeset is cheaper than matching patterns.
MAX_PATTERNS = 200
_MANIFEST_FLAGS = {b" ": "", b"*": "x", b"@": "l"}


@dataclass(frozen=True)
class FileChange:
    """One path's change; flags are None (absent), "" (file), "x" (executable), "l" (link)."""

    path: str
    old: str | None
    new: str | None


def _identity(info: os.stat_result | None) -> tuple[int, int, int, int] | None:
    if info is None:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)


def pattern_file(scratch: Path, paths: list[str]) -> Path:
    """A `listfile0:` file naming exactly `paths` (as `path:` patterns)."""
    name = scratch / f"paths-{secrets.token_hex(8)}"
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"\0".join(b"path:" + os.fsencode(p) for p in paths))
    return name


class CarefulUpdate:
    """Moves one hg work tree (see the module doc)."""

    def __init__(self, runner: HgRunner, tree: WorkTree, state_dir: Path) -> None:
        self._runner = runner
        self._tree = tree
        self._state_dir = state_dir
        self._journal = state_dir / "update-journal"

    # ================================================================== reading hg
    def flags(self, rev: str, paths: list[str]) -> dict[str, str]:
        """{path: flags} of those of `paths` that exist in `rev`."""
        if not paths:
            return {}
        wanted = set(paths)
        found: dict[str, str] = {}
        if len(paths) > MAX_PATTERNS:
            # hg matches each file against every pattern: list the whole changeset
            # (`manifest -v`: "644   name", "755 * name", "644 @ name"; no template to
            # expand per file) and pick.
            listing = self._runner.run("manifest", "-v", "-r", rev, check=False)
            for line in listing.out.split(b"\n"):
                if len(line) > 6:
                    path = os.fsdecode(line[6:])
                    if path in wanted:
                        found[path] = _MANIFEST_FLAGS.get(line[4:5], "?")
            return found
        names = pattern_file(self._tree.scratch, paths)
        try:
            result = self._runner.run("files", "-r", rev, "-T", "{flags}\\0{path}\\0",
                                      f"listfile0:{names}", check=False)
        finally:
            names.unlink(missing_ok=True)
        fields = result.out.split(b"\0")
        for flag, raw in zip(fields[0::2], fields[1::2], strict=False):
            path = os.fsdecode(raw)
            if path in wanted:
                found[path] = flag.decode("ascii", "replace")
        return found

    def changed_paths(self, old: str, new: str) -> list[str]:
        result = self._runner.run("status", "--rev", old, "--rev", new, "-0", "-mar", "-n")
        return sorted({os.fsdecode(p) for p in result.out.split(b"\0") if p})

    # ================================================================== checking
    def plan(self, head: str, target: str, source: str) -> list[FileChange]:
        """The changes from `head` to `target`, every path and mode checked."""
        paths = self.changed_paths(head, target)
        old_flags = self.flags(head, paths) if head != NULL else {}
        new_flags = self.flags(target, paths)
        changes: list[FileChange] = []
        for path in paths:
            old, new = old_flags.get(path), new_flags.get(path)
            if old is None and new is None:
                continue
            for flag in (old, new):
                if flag not in (None, "", "x", "l"):
                    raise refuse(source, path, f"has the unsupported flags '{flag}'")
            try:
                verify_hg_path(path, symlink=new == "l")
            except UnsafePath as exc:
                raise refuse(source, path, exc.reason) from None
            changes.append(FileChange(path, old, new))
        self._check_folders(changes, source)
        return changes

    def _check_folders(self, changes: list[FileChange], source: str) -> None:
        """Every folder a written path goes through is a real folder on disk (or does
        not exist yet, or is a file or link this update removes first)."""
        removed = {c.path for c in changes if c.old is not None}
        written = {c.path for c in changes if c.new is not None}
        checked: set[str] = set()
        for change in changes:
            if change.new is None:
                continue
            parts = change.path.split("/")
            for i in range(1, len(parts)):
                prefix = "/".join(parts[:i])
                if prefix in written:
                    raise refuse(source, change.path,
                                 f"needs '{display(prefix)}' as a folder and a file")
                if prefix in checked:
                    continue
                checked.add(prefix)
                info = self._tree.lstat(prefix)
                if info is None or prefix in removed or (info.st_mode & 0o170000) == 0o040000:
                    continue
                kind = "a symbolic link" if (info.st_mode & 0o170000) == 0o120000 else "a file"
                raise refuse(source, change.path, f"would be written through "
                             f"'{display(prefix)}', which is {kind} on disk")

    def in_the_way(self, changes: list[FileChange]
                   ) -> tuple[str | None, list[str], dict[str, tuple[int, int, int, int] | None]]:
        """(a path holding a save the update would replace, or None; ignored files at
        paths the update adds; what each removed file looked like when hg found it
        unchanged). The look is taken before hg's status, so a save after it shows."""
        seen = {c.path: _identity(self._tree.lstat(c.path)) for c in changes
                if c.old is not None}
        paths = [c.path for c in changes]
        listing = pattern_file(self._tree.scratch, paths)
        try:
            result = self._runner.run("status", "-0", "-mardui", f"listfile0:{listing}")
        finally:
            listing.unlink(missing_ok=True)
        status: dict[str, str] = {}
        for entry in result.out.split(b"\0"):
            if entry:
                status[os.fsdecode(entry[2:])] = chr(entry[0])
        ignored: list[str] = []
        for change in changes:
            code = status.get(change.path)
            if code is None:
                continue
            info = self._tree.lstat(change.path)
            if code == "I" and change.old is None and info is not None \
                    and (info.st_mode & 0o170000) == 0o100000:
                ignored.append(change.path)
                continue
            return change.path, [], seen
        return None, ignored, seen

    # ================================================================== moving
    def move(self, head: str, target: str, source: str) -> PullOutcome:
        """Move the work tree and hg's dirstate from `head` to `target`."""
        changes = self.plan(head, target, source)
        busy, ignored, seen = self.in_the_way(changes)
        if busy is not None:
            return PullOutcome(moved=False, busy=busy)
        outcome = PullOutcome(moved=True)
        for path in ignored:
            outcome.kept_local.append((path, self._keep_local(path)))
        asides = {c.path: self._tree.new_aside(c.path) for c in changes if c.old is not None}
        self._write_journal(target, asides)
        replaced: list[tuple[Aside, str, tuple[int, int, int, int] | None]] = []
        free: list[FileChange] = []
        for change in sorted(changes, key=lambda c: (c.new is not None, c.path)):
            aside = asides.get(change.path)
            if aside is None or self._remove(change, aside, seen.get(change.path), replaced,
                                             outcome):
                if change.new is not None:
                    free.append(change)
            if change.new is None:
                self._tree.prune_empty_parents(change.path)
        try:
            self._write(target, free)
        except (RepositoryError, OSError, UnsafePath):
            for aside, path, _look in replaced:
                self._keep_save(aside, path, outcome)
            self._journal.unlink(missing_ok=True)
            raise
        writing = open_files({self._tree.aside_path(a) for a, _p, _l in replaced},
                             writing_only=True)
        for aside, path, look in replaced:
            changed = _identity(self._tree.aside_lstat(aside)) != look
            if self._tree.aside_path(aside) in writing or changed:
                self._keep_save(aside, path, outcome)
            else:
                self._tree.discard(aside)
        # hg must look at every path written again: its dirstate still has the old
        # version's size for them (dirstate_extension.py says why)
        self._runner.run("autosync-dirstate", "-r", target, "--",
                         *[c.path for c in changes if c.new is not None])
        self._journal.unlink(missing_ok=True)
        return outcome

    def _remove(self, change: FileChange, aside: Aside,
                look: tuple[int, int, int, int] | None,
                replaced: list[tuple[Aside, str, tuple[int, int, int, int] | None]],
                outcome: PullOutcome) -> bool:
        """Move the old file aside; True when the path is free for the new one."""
        if not self._tree.move_aside(change.path, aside):
            return True  # deleted meanwhile: that is the user's newest edit
        info = self._tree.aside_lstat(aside)
        if info is not None and (info.st_mode & 0o170000) == 0o040000:
            self._keep_save(aside, change.path, outcome)  # a folder: never ours to remove
            return False
        if _identity(info) != look:
            self._keep_save(aside, change.path, outcome)  # saved meanwhile: it stays
            return False
        replaced.append((aside, change.path, look))
        return True

    def _write(self, target: str, changes: list[FileChange]) -> None:
        """The target's version of each free path: one `hg cat` into a private folder,
        then each file gets its name without replacing anything (a save that landed
        first stays and is committed on top)."""
        if not changes:
            return
        out = self._tree.scratch / f"cat-{secrets.token_hex(8)}"
        out.mkdir(mode=0o700)
        listing = pattern_file(self._tree.scratch, [c.path for c in changes])
        try:
            self._runner.run("cat", "-r", target, "-o", f"{out}/%p", f"listfile0:{listing}")
            for change in changes:
                written = out / change.path
                if change.new == "l":
                    with open(written, "rb") as fh:
                        link = fh.read(MAX_LINK_TARGET + 1)
                    if len(link) > MAX_LINK_TARGET or b"\0" in link:
                        raise RepositoryError(f"{display(change.path)}: symbolic link target "
                                              "too long")
                    self._tree.symlink(change.path, os.fsdecode(link))
                    continue
                mode = os.stat(written).st_mode & 0o777
                if change.new == "x":
                    os.chmod(written, mode | ((mode & 0o444) >> 2))
                self._tree.place_new(change.path, written)
        finally:
            listing.unlink(missing_ok=True)
            shutil.rmtree(out, ignore_errors=True)

    def _keep_save(self, aside: Aside, path: str, outcome: PullOutcome) -> None:
        where = self._tree.put_back(aside, path)
        if where != path:
            outcome.saved_beside.append(where)

    def _keep_local(self, path: str) -> str:
        """An ignored file where a pulled file arrives: renamed to a name that stays
        ignored (the ignore file lists every such name)."""
        directory, _, name = path.rpartition("/")
        stem, dot, ext = name.partition(".") if not name.startswith(".") else (name, "", "")
        store = self._state_dir / "kept-local"
        for n in range(1, 100):
            suffix = f" {n}" if n > 1 else ""
            candidate = f"{stem} ({KEPT_LOCAL_MARK}{suffix}){dot}{ext}"
            new = f"{directory}/{candidate}" if directory else candidate
            if new not in kept_local_names(self._state_dir):
                with open(store, "a", encoding="utf-8", errors="surrogateescape") as fh:
                    fh.write(json.dumps(new) + "\n")
            if self._tree.rename(path, new, replace=False):
                return new
        raise RepositoryError(f"{display(path)}: no free name to keep the local file")

    # ================================================================== recovery
    def _write_journal(self, target: str, asides: dict[str, Aside]) -> None:
        entries = [{"path": p, "folder": a.folder, "name": a.name} for p, a in asides.items()]
        tmp = self._journal.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            json.dump({"target": target, "asides": entries}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._journal)

    def recover(self) -> bool:
        """After a kill -9 mid-update: every file moved aside goes back (beside its path
        when something else is there now); files already written stay and are committed
        as ordinary changes, which the next merge finds equal to the remote's. True if
        there was work."""
        for stray in self._tree.scratch.glob("cat-*"):
            shutil.rmtree(stray, ignore_errors=True)
        for stray in self._tree.scratch.glob("paths-*"):
            stray.unlink(missing_ok=True)
        if not self._journal.exists():
            return False
        try:
            data = json.loads(self._journal.read_text(encoding="utf-8",
                                                      errors="surrogateescape"))
            entries = data.get("asides", []) if isinstance(data, dict) else []
        except (OSError, ValueError):
            entries = []
        for entry in entries:
            aside = Aside(entry.get("folder"), str(entry.get("name", "")))
            path = str(entry.get("path", ""))
            if aside.name and self._tree.aside_exists(aside):
                with contextlib.suppress(UnsafePath, OSError):
                    self._tree.put_back(aside, path)
        self._journal.unlink(missing_ok=True)
        return True


def refuse(source: str, path: str, reason: str) -> HostileContent:
    return HostileContent(f"refused {source}: path '{display(path)}' {reason}; nothing "
                          "was written. The remote needs a changeset that removes it")
