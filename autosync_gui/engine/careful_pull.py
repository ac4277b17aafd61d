"""Moving the work tree to a pulled commit without ever overwriting a save.

git's own checkout checks every file first and writes later, so a save landing in between
is lost. For the usual small pull we write the files ourselves: each old file is first
renamed aside (atomic) and compared with what we expect, each new file arrives by link()
(which never replaces), a file some process still has open for writing is kept, and a
journal lets recovery after a kill -9 put moved-aside files back. Big pulls, and trees with
attributes, symlinks or submodules, use git's fast-forward (see _plan_fast_forward)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from autosync_gui.engine.git_env import GitResult
from autosync_gui.engine.open_files import open_files

FAST_FORWARD_OURSELVES = 200  # files; bigger pulls use git's own fast-forward


def _blob_of(path: Path) -> str | None:
    """git's blob id of a regular file's content (no filters: see _plan_fast_forward)."""
    try:
        if path.is_symlink() or not path.is_file():
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _aside_name(target: Path, kind: str) -> Path:
    """The temporary beside `target` while a pull replaces it (ignored: *.part)."""
    digest = hashlib.sha1(os.fsencode(target.name), usedforsecurity=False).hexdigest()[:16]
    return target.with_name(f".autosync-ff-{kind}-{digest}.part")


class CarefulFastForward:
    """Mixed into the git repository: needs its `root`, `git_dir`, `state_dir` and `_run`."""

    root: Path
    git_dir: Path
    state_dir: Path

    def _run(self, *args: str, stdin: bytes | None = None, check: bool = True,
             timeout: float | None = None, env: dict[str, str] | None = None) -> GitResult:
        raise NotImplementedError

    def _fast_forward(self, head: str | None, target: str) -> GitResult:
        """Move HEAD, the index and the work tree to `target` (a descendant of HEAD).

        git's own checkout checks every file first and writes later, so a save landing in
        between is overwritten. For the usual small pull we write the files ourselves so
        that no save is ever replaced: each old file is first renamed aside (atomic) and
        compared with what we expect, each new file arrives by link() (which never
        replaces). A file the user saved meanwhile stays; it is committed next. Big pulls,
        and trees with attributes, symlinks or submodules, use git's fast-forward."""
        plan = self._plan_fast_forward(head, target) if head is not None else None
        if plan is None:
            return self._run("merge", "--ff-only", "-q", target, check=False)
        busy = self._verified_paths(head or "", plan)
        if busy:
            return GitResult(1, b"", f"error: your local changes would be overwritten: {busy[0]}")
        blobs = self._read_blobs([new for _om, _nm, _o, new, st, _p in plan if st != "D"])
        journal = self.state_dir / "fast-forward"  # what recover() settles after a kill -9
        journal.write_bytes(b"\0".join(os.fsencode(e[5]) for e in plan) + b"\0")
        replaced: list[tuple[Path, Path, str]] = []
        for _old_mode, new_mode, old, new, status, path in sorted(
                plan, key=lambda e: (e[4] != "D", e[5])):  # deletions first
            aside = self._replace_file(path, old if status != "A" else None,
                                       blobs.get(new) if status != "D" else None, new_mode)
            if aside is not None:
                replaced.append((aside, self.root / path, old))
        # An editor may still hold a replaced file open for writing: its next write would
        # land in a deleted file. Such files are kept (beside the path if it is taken).
        writing = open_files({str(aside) for aside, _t, _o in replaced}, writing_only=True)
        for aside, place, old in replaced:
            if str(aside) in writing or _blob_of(aside) != old:
                self._put_back(aside, place)
            else:
                aside.unlink()
        for _om, _nm, _o, _n, status, path in plan:
            if status == "D":
                self._prune_empty_parents(path)
        self._run("read-tree", "--reset", target)  # keeps the stat data of unchanged entries
        self._run("update-index", "-q", "--refresh", check=False)
        self._run("update-ref", "-m", f"autosync: fast-forward to {target[:12]}", "HEAD",
                  target, head or "")
        journal.unlink()
        return GitResult(0, b"", "")

    def _plan_fast_forward(self, head: str, target: str
                           ) -> list[tuple[str, str, str, str, str, str]] | None:
        """[(old mode, new mode, old blob, new blob, status, path)], or None when git's
        own fast-forward should do it (see _fast_forward)."""
        if self._run("config", "--get", "core.autocrlf", check=False).text not in ("", "false"):
            return None
        diff = self._run("diff", "--raw", "-z", "--no-renames", "--no-abbrev", head, target)
        fields = diff.out.split(b"\0")
        plan: list[tuple[str, str, str, str, str, str]] = []
        for meta, raw in zip(fields[0::2], fields[1::2], strict=False):
            if not meta:
                break
            old_mode, new_mode, old, new, status = meta.decode().lstrip(":").split()
            path = os.fsdecode(raw)
            if status not in ("A", "M", "D") or {old_mode, new_mode} - {
                    "000000", "100644", "100755"} or path.rsplit("/", 1)[-1] == ".gitattributes":
                return None
            plan.append((old_mode, new_mode, old, new, status, path))
        if len(plan) > FAST_FORWARD_OURSELVES or any(len(e[3]) != 40 for e in plan) \
                or (self.git_dir / "info" / "attributes").exists():
            return None  # big, SHA-256 or with attributes: let git apply filters and all
        attributes = self._run("ls-files", "-z", "--", ":(glob)**/.gitattributes", check=False)
        if attributes.out.strip(b"\0"):
            return None
        removed = {path for *_x, status, path in plan if status == "D"}
        added = {path for *_x, status, path in plan if status == "A"}
        for path in added | removed:  # a file becoming a folder or the other way round
            parts = path.split("/")
            prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
            if prefixes & (removed | added):
                return None
        return plan

    def _verified_paths(self, head: str, plan: list[tuple[str, str, str, str, str, str]]
                        ) -> list[str]:
        """The paths in the plan's way: edited since `head` or untracked where a file
        comes. Empty means go ahead (each file is checked again as it is replaced)."""
        busy = []
        for _om, _nm, old, _new, status, path in plan:
            target = self.root / path
            if status == "A":
                if os.path.lexists(target) or any(
                        os.path.lexists(p) and not p.is_dir()
                        for p in target.parents if p != self.root and self.root in p.parents):
                    busy.append(path)
            elif _blob_of(target) != old:
                busy.append(path)
        return busy

    def _read_blobs(self, shas: list[str]) -> dict[str, bytes]:
        if not shas:
            return {}
        out = self._run("cat-file", "--batch", stdin="".join(f"{s}\n" for s in shas).encode()).out
        blobs: dict[str, bytes] = {}
        pos = 0
        while pos < len(out):
            end = out.index(b"\n", pos)
            sha, _type, size = out[pos:end].decode().split()
            start = end + 1
            blobs[sha] = out[start:start + int(size)]
            pos = start + int(size) + 1
        return blobs

    def _replace_file(self, path: str, old: str | None, data: bytes | None, mode: str
                      ) -> Path | None:
        """Replace `path` (expected to hold blob `old`, or nothing) by `data` (None: delete)
        without ever overwriting something else: a save found there is left in place.
        Returns the old file, moved aside, for the caller to remove."""
        target = self.root / path
        aside: Path | None = None
        if old is not None:
            aside = _aside_name(target, "old")
            try:
                os.rename(target, aside)
            except FileNotFoundError:
                aside = None  # the user deleted it meanwhile: that is their newest edit
                if data is None:
                    return None
            if aside is not None and _blob_of(aside) != old:
                self._put_back(aside, target)  # saved meanwhile: the user's version stays
                return None
        if data is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            fresh = _aside_name(target, "new")
            fresh.write_bytes(data)
            os.chmod(fresh, 0o755 if mode == "100755" else 0o644)
            try:
                os.link(fresh, target)
            except FileExistsError:
                pass  # created by the user this very moment: theirs stays
            except OSError:  # no hard links on this file system
                if not os.path.lexists(target):
                    os.rename(fresh, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    fresh.unlink()
        return aside

    def _settle_aside(self, path: str) -> None:
        """After a kill -9 mid-pull: put a file moved aside back (or beside its path when a
        different file is there now) and drop half-written new files."""
        target = self.root / path
        with contextlib.suppress(OSError):
            _aside_name(target, "new").unlink()
        aside = _aside_name(target, "old")
        if not os.path.lexists(aside):
            return
        blob = _blob_of(aside)
        if blob is not None and self._run("cat-file", "-e", blob, check=False).ok:
            aside.unlink()  # a version git has (the committed one): nothing to keep
        else:
            self._put_back(aside, target)  # a save that was in flight: keep it

    def _put_back(self, aside: Path, target: Path) -> None:
        """Return a file moved aside to its place, or beside it if that is taken now."""
        stem, dot, ext = target.name.partition(".")
        for place in (target, target.with_name(f"{stem} (saved during sync){dot}{ext}")):
            if not os.path.lexists(place):
                os.rename(aside, place)
                return
        os.rename(aside, target.with_name(f"{stem} (saved during sync {os.urandom(3).hex()})"
                                          f"{dot}{ext}"))

    def _prune_empty_parents(self, path: str) -> None:
        parent = (self.root / path).parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                return
            parent = parent.parent
