"""A damaged git repository (a power cut, a bad disk, a stray `rm`): how git's complaints
about its own repository are told apart from everything else, the cheap check run when a
folder starts (and again while it is damaged), and the repairs that are safe.

Safe means that nothing anybody wrote can be lost by it:
- an unreadable index is rebuilt from HEAD in a fresh file and refreshed from the work
  tree (the files are never touched: the next commit records them as they are); the
  damaged file is kept in .git/autosync/ for a post-mortem;
- a branch ref that is garbage, empty or gone is set back to the value its reflog last
  recorded (what git itself last wrote there), when that commit is intact;
- a remote-tracking ref that is garbage or names a missing commit is dropped (the next
  fetch writes it again);
- a blob missing here whose file in the work tree still has exactly that content is
  written again from the file (its id proves it);
- objects missing or corrupt here that the remote has are fetched again
  (`git fetch --refetch`, every object checked as it arrives), once per damage.
Everything else stops the folder in *error* with one line naming what is damaged and how
to repair it. Nothing is committed, pushed or pulled meanwhile: git refuses to pack an
object it cannot read (a push never carries damage, and it is classified here, not as a
remote problem), and the careful pull writes no file whose object cannot be read.

The start-up check reads HEAD's commit and top tree and hashes the index in Python (git
itself skips the index checksum when reading): a 500,000-file tree is checked in a
fraction of a second. Before each commit the index is hashed again only when its file
changed since it was last found sound."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path

from autosync_gui.engine.git_env import GitResult
from autosync_gui.engine.repository import RepositoryBusy, RepositoryDamaged

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_HEX = re.compile(rb"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_OBJECT_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{40}|[0-9a-f]{64})(?![0-9a-f])")
_ID = r"[0-9a-f]{7,64}"


class Part(StrEnum):
    """Which part of a repository is damaged."""

    INDEX = "index"
    OBJECTS = "objects"
    REF = "ref"


# git's words (2.39) for damage in the local repository, per part, as regular expressions
# on a lower-cased line. Lines from the remote ("remote: ...", "remote unpack failed",
# "remote error") are the server's business, never ours.
_PATTERNS: tuple[tuple[Part, re.Pattern[str]], ...] = tuple(
    (part, re.compile("|".join(words))) for part, words in (
        (Part.INDEX, (r"index file corrupt", r"index file smaller than expected",
                      r"bad index file sha1 signature", r"bad index version",
                      r"bad signature 0x", r"unknown index entry format",
                      r"cache entry has null sha1")),
        (Part.REF, (r"packed-refs", r"reference broken", r"ignoring broken ref",
                    r"current branch appears to be broken")),
        (Part.OBJECTS, (r"\bbad object\b", r"\bis corrupt\b", r"corrupt loose object",
                        r"object file .* is empty", rf"unable to read (tree |blob |commit )?"
                        rf"\(?{_ID}", r"failed to read object", rf"unable to (unpack|parse) "
                        rf"{_ID} header", r"inflate: data stream error",
                        rf"missing (blob|tree|commit) (object )?'?{_ID}",
                        rf"invalid object \d+ {_ID}", r"error building trees",
                        r"did not receive expected object",
                        r"did not send all necessary objects", r"bad tree object",
                        r"failed to traverse parents", r"does not match index",
                        rf"could not read (commit |tree |blob |object )?{_ID}",
                        rf"object {_ID} is missing", r"unable to read sha1 file of")),
    ))
_REMOTE_LINE = re.compile(r"^(remote:|hint:)|remote unpack failed|remote error|"
                          r"\[remote rejected\]")


def damage_in(stderr: str) -> tuple[Part, str] | None:
    """What git's complaint says is damaged in this repository, with git's line that says
    so (without its "fatal: " prefix); None when it names no damage here."""
    for raw in stderr.splitlines():
        line = raw.strip()
        low = line.lower()
        if not line or _REMOTE_LINE.search(low):
            continue
        for part, pattern in _PATTERNS:
            if pattern.search(low):
                for prefix in ("fatal: ", "error: ", "warning: "):
                    line = line.removeprefix(prefix)
                return part, line
    return None


def object_ids(text: str) -> list[str]:
    """Full object ids named in `text`, in order, without repeats."""
    return list(dict.fromkeys(_OBJECT_ID.findall(text)))


def damaged(root: Path, part: Part | str, detail: str, *, remote: str = "the remote",
            tried: str = "") -> RepositoryDamaged:
    """The one line for damage in the repository at `root`: what is damaged and how to
    repair it. `tried`: what autosync tried already, said before the repair."""
    part = Part(part)
    done = f"; {tried}" if tried else ""
    stop = "syncing stops until it is repaired"
    if part is Part.INDEX:
        message = (f"{root}: the repository's index (.git/index) is damaged ({detail}){done}"
                   f"; {stop}. Repair: `rm .git/index && git reset` in {root} (your files "
                   "stay as they are), then Sync now")
    elif part is Part.REF:
        message = (f"{root}: a ref in the repository is damaged ({detail}){done}; {stop}. "
                   f"Repair: fix or remove the damaged line or file (keep a copy), then "
                   f"point the branch at its last commit (`git reflog` shows it; git "
                   "update-ref refs/heads/BRANCH COMMIT), then Sync now")
    else:
        message = (f"{root}: the repository is damaged: an object is missing or corrupt "
                   f"({detail}){done}; {stop}, so no damage reaches {remote}. Repair: `git "
                   f"fsck` in {root} lists the damage; clone {remote} again elsewhere and "
                   "copy over the files changed here since the last sync")
    return RepositoryDamaged(message, part=str(part), detail=detail)


def from_failure(root: Path, stderr: str, remote: str = "the remote"
                 ) -> RepositoryDamaged | None:
    """git's failed run as damage to the repository at `root`, if its complaint says so."""
    found = damage_in(stderr)
    return damaged(root, found[0], found[1], remote=remote) if found else None


# ---------------------------------------------------------------------- file checks
def loose_ref_broken(git_dir: Path, ref: str) -> str | None:
    """Why the loose file of `ref` is not a ref (empty, truncated, garbage); None when it
    is sound or there is no loose file (the ref may be packed, or not exist)."""
    try:
        raw = (git_dir / ref).read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as exc:
        return f".git/{ref} cannot be read ({exc.strerror})"
    text = raw.strip()
    if _HEX.match(text) or text.startswith(b"ref: refs/"):
        return None
    return f".git/{ref} is an empty file" if not text else f".git/{ref} holds no object id"


def last_logged(git_dir: Path, ref: str) -> str | None:
    """The value `ref` had when git last wrote it, from its reflog (None without one)."""
    try:
        with open(git_dir / "logs" / ref, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        fields = line.split(b" ", 2)
        if len(fields) >= 2 and _HEX.match(fields[1]) and fields[1].strip(b"0"):
            return fields[1].decode()
    return None


def index_damage(index: Path, hash_name: str = "sha1") -> str | None:
    """Why the index file cannot be what git wrote (too short, a wrong signature or
    version, a checksum that does not match its content); None when it is sound or
    absent. Read in chunks: a 500,000-file index is tens of megabytes."""
    digest = hashlib.new(hash_name)
    trailer_len = digest.digest_size
    try:
        fd = os.open(index, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size < 12 + trailer_len:
            return f"index file smaller than expected: {size} bytes"
        header = os.pread(fd, 12, 0)
        if header[:4] != b"DIRC":
            return "index file corrupt: bad signature"
        version = int.from_bytes(header[4:8], "big")
        if version not in (2, 3, 4):
            return f"index file corrupt: bad index version {version}"
        trailer = os.pread(fd, trailer_len, size - trailer_len)
        if trailer == bytes(trailer_len):
            return None  # index.skipHash: git wrote no checksum
        offset, end = 0, size - trailer_len
        while offset < end:
            chunk = os.pread(fd, min(CHUNK, end - offset), offset)
            if not chunk:
                return "index file smaller than expected"
            digest.update(chunk)
            offset += len(chunk)
        if digest.digest() != trailer:
            return "index file corrupt: its checksum does not match its content"
        return None
    finally:
        os.close(fd)


def _stat_key(path: Path) -> tuple[int, int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


Run = Callable[..., GitResult]
NOT_RESTORED = "fetching every object again from the remote did not restore it"


class RepositoryCheck:
    """The check and the safe repairs of one git repository (see the module doc).

    `run` runs git in the work tree (GitRunner.run); `refetch` fetches every object of
    the remote branch again and returns git's result (None: not possible). Every method
    blocks: worker threads, under the repository's lock."""

    def __init__(self, run: Run, root: Path, git_dir: Path, index: Path, branch: str,
                 tracking_ref: str, remote: str, state_dir: Path,
                 refetch: Callable[[], GitResult] | None) -> None:
        self._run = run
        self.root = root
        self.git_dir = git_dir
        self.index = index
        self.branch_ref = f"refs/heads/{branch}"
        self.tracking_ref = tracking_ref
        self.remote = remote
        self._state = state_dir
        self._refetch = refetch
        self._refetched: set[str] = set()  # damage already answered by a refetch
        self._sound_index: tuple[int, int, int, int] | None = None
        fmt = run("rev-parse", "--show-object-format", check=False)
        self.hash_name = "sha256" if fmt.ok and fmt.text == "sha256" else "sha1"

    def _damaged(self, part: Part, detail: str, tried: str = "") -> RepositoryDamaged:
        return damaged(self.root, part, detail, remote=self.remote, tried=tried)

    # ------------------------------------------------------------------ the check
    def check(self) -> list[str]:
        """Refs, HEAD's commit and top tree, the index; what is safe is repaired (a line
        per repair). RepositoryDamaged when damage remains."""
        done = self._check_refs()
        if self._exists(self.branch_ref):  # (else unborn: nothing committed yet)
            done += self._check_head_objects()
            done += self.check_index()
        return done

    def _check_refs(self) -> list[str]:
        listing = self._run("for-each-ref", "--format=%(refname)", check=False)
        if not listing.ok:
            found = damage_in(listing.err)
            raise self._damaged(found[0] if found else Part.REF,
                                found[1] if found else listing.err.strip() or "unreadable")
        done: list[str] = []
        why = loose_ref_broken(self.git_dir, self.tracking_ref)
        if why is None and self._exists(self.tracking_ref) \
                and not self._readable_commit(self.tracking_ref):
            why = f"{self.tracking_ref} names a commit that is missing here"
        if why is not None:
            self._drop_ref(self.tracking_ref)
            done.append(f"dropped the damaged {self.tracking_ref} ({why}); the next fetch "
                        "writes it again")
        why = loose_ref_broken(self.git_dir, self.branch_ref)
        if why is None and not self._exists(self.branch_ref) \
                and last_logged(self.git_dir, self.branch_ref) is not None:
            why = f"{self.branch_ref} is gone, though its reflog says where it was"
        if why is None and self._exists(self.branch_ref) \
                and not self._readable_commit(self.branch_ref):
            return done  # the commit itself is damaged: the object check says so
        if why is not None:
            done.append(self._restore_branch(why))
        return done

    def _exists(self, ref: str) -> bool:
        return self._run("show-ref", "-q", "--verify", ref, check=False).ok

    def _readable_commit(self, ref: str) -> bool:
        return self._run("cat-file", "commit", ref, check=False).ok

    def _restore_branch(self, why: str) -> str:
        logged = last_logged(self.git_dir, self.branch_ref)
        if logged is None or not self._readable_commit(logged):
            raise self._damaged(Part.REF, why + ("; it has no reflog to set it back from"
                                                 if logged is None else
                                                 f"; its last logged commit {logged[:12]} "
                                                 "cannot be read"))
        self._drop_ref(self.branch_ref)
        self._run("update-ref", "-m", "autosync: set back to its last logged value",
                  self.branch_ref, logged)
        return (f"set the damaged {self.branch_ref} back to {logged[:12]}, its last value "
                f"in the reflog ({why})")

    def _drop_ref(self, ref: str) -> None:
        """Remove a damaged ref (git will not delete a loose ref it cannot read)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.git_dir / ref)
        self._run("update-ref", "--no-deref", "-d", ref, check=False)

    def _check_head_objects(self) -> list[str]:
        """HEAD's commit and its top tree must be readable to the last byte."""
        problem = self._head_object_problem()
        if problem is None:
            return []
        return self._refetch_for(problem)

    def _missing(self, ids: Iterable[str]) -> list[str]:
        return [i for i in ids if not self._run("cat-file", "-e", i, check=False).ok]

    def _head_object_problem(self) -> str | None:
        commit = self._run("cat-file", "commit", "HEAD", check=False)
        if not commit.ok:
            found = damage_in(commit.err)
            sha = self._run("rev-parse", "-q", "--verify", "HEAD", check=False).text
            return found[1] if found else f"commit {sha or '(unknown)'} of HEAD is missing"
        first = commit.out.split(b"\n", 1)[0].split()
        tree = first[1].decode() if len(first) == 2 and first[0] == b"tree" else ""
        if not tree:
            return "HEAD's commit names no tree"
        listing = self._run("cat-file", "tree", tree, check=False)
        if not listing.ok:
            found = damage_in(listing.err)
            return found[1] if found else f"tree {tree} of HEAD's commit is missing"
        return None

    def _refetch_for(self, detail: str) -> list[str]:
        """Fetch every object of the remote branch again (once per damage), then look
        again (HEAD's objects, the objects git named); RepositoryDamaged when that is not
        possible or did not help."""
        if self._refetch is None or detail in self._refetched:
            raise self._damaged(Part.OBJECTS, detail,
                                tried=NOT_RESTORED if detail in self._refetched else "")
        self.quarantine(object_ids(detail))  # git will not fetch over an unreadable copy
        result = self._refetch()
        if not result.ok:
            why = (result.err.strip().splitlines() or ["no answer"])[-1]
            raise self._damaged(Part.OBJECTS, detail, tried=f"fetching the objects again "
                                f"from the remote failed ({why}); tried again later")
        self._refetched.add(detail)
        if self._head_object_problem() is not None or self._missing(object_ids(detail)):
            raise self._damaged(Part.OBJECTS, detail, tried=NOT_RESTORED)
        return [f"fetched every object again from {self.remote}: the damaged ones are "
                f"restored ({detail})"]

    def before_commit(self) -> None:
        """Cheap, before each commit: the branch resolves to a readable commit (a lost
        ref would make git start a new, unrelated history) and the index is what git
        wrote (git reads a truncated one without complaint, and would commit
        deletions). RepositoryDamaged if not."""
        head = self._run("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
        if not head.ok:
            found = damage_in(head.err)  # e.g. packed-refs
            if found is not None:
                raise self._damaged(*found)
            why = loose_ref_broken(self.git_dir, self.branch_ref)
            if why is None and self._exists(self.branch_ref):
                raise self._damaged(Part.OBJECTS, f"the commit {self.branch_ref} names "
                                    "cannot be read")
            if why is None and last_logged(self.git_dir, self.branch_ref) is not None:
                why = f"{self.branch_ref} is gone, though its reflog says where it was"
            if why is not None:
                raise self._damaged(Part.REF, why)
            return  # unborn: the first commit is still to come
        why = self.index_problem()
        if why is not None:
            raise self._damaged(Part.INDEX, why)

    def index_problem(self) -> str | None:
        """What is wrong with the index file (None: sound); hashed only when its file
        changed since it was last found sound."""
        key = _stat_key(self.index)
        if key is not None and key == self._sound_index:
            return None
        why = index_damage(self.index, self.hash_name)
        if why is None and key is None:
            why = "the index file is missing"
        if why is None:
            self._sound_index = key
        return why

    def check_index(self) -> list[str]:
        """A damaged or missing index is rebuilt from HEAD."""
        why = self.index_problem()
        if why is None:
            return []
        self.rebuild_index(why)
        return [f"rebuilt the damaged index from the last commit ({why}); your files are "
                "untouched and the next commit records them as they are"]

    def index_written(self) -> None:
        """Our own git just wrote the index: it is sound as it is now."""
        self._sound_index = _stat_key(self.index)

    # ------------------------------------------------------------------ repairing
    def repair(self, damage: RepositoryDamaged) -> list[str]:
        """What can safely be done about damage git reported during a sync (a line per
        repair), then the check; RepositoryDamaged again when nothing could be."""
        done: list[str] = []
        if damage.part == Part.INDEX:
            self.rebuild_index(damage.detail)
            done.append(f"rebuilt the damaged index from the last commit ({damage.detail}); "
                        "your files are untouched and the next commit records them as they "
                        "are")
        elif damage.part == Part.OBJECTS:
            self.quarantine(object_ids(damage.detail))
            restored = self.restore_from_work_tree(object_ids(damage.detail))
            if restored:
                done.append(f"wrote {len(restored)} missing object(s) again from the files "
                            f"that still hold them: {', '.join(restored[:3])}")
            elif damage.detail not in self._refetched:
                done += self._refetch_for(damage.detail)
        done += self.check()
        if not done:
            raise self._damaged(Part(damage.part), damage.detail, tried=(
                NOT_RESTORED if damage.detail in self._refetched else ""))
        return done

    def quarantine(self, ids: Iterable[str]) -> list[str]:
        """Loose object files of `ids` that git cannot read to the end, moved aside to
        .git/autosync/damaged-objects/ (nothing readable is lost; git's fetch refuses to
        store an object again while an unreadable copy of it is there). Returns the ids."""
        moved: list[str] = []
        for oid in ids:
            loose = self.git_dir / "objects" / oid[:2] / oid[2:]
            if not loose.is_file() or self._run("cat-file", "-p", oid, check=False).ok:
                continue
            aside = self._state / "damaged-objects"
            aside.mkdir(mode=0o700, exist_ok=True)
            os.replace(loose, aside / oid)
            moved.append(oid)
            log.warning("%s: moved the unreadable object file of %s aside to %s",
                        self.root, oid, aside)
        return moved

    def restore_from_work_tree(self, ids: Iterable[str]) -> list[str]:
        """Missing blobs whose content a file of the index still has (same id): written
        into the object store again. Returns the paths used."""
        wanted = {i for i in ids if not self._run("cat-file", "-e", i, check=False).ok}
        if not wanted:
            return []
        listing = self._run("ls-files", "-s", "-z", check=False)
        used: list[str] = []
        for entry in listing.out.split(b"\0"):
            meta, _, raw_path = entry.partition(b"\t")
            fields = meta.decode("ascii", "replace").split()
            if len(fields) != 3 or fields[1] not in wanted \
                    or fields[0] not in ("100644", "100755"):
                continue
            path = os.fsdecode(raw_path)
            hashed = self._run("hash-object", "--", path, check=False)
            if hashed.ok and hashed.text == fields[1]:  # exactly that content, as git adds it
                self._run("hash-object", "-w", "--", path)
                wanted.discard(fields[1])
                used.append(path)
        return used

    def rebuild_index(self, why: str) -> None:
        """A fresh index from HEAD, refreshed from the work tree, in place of the damaged
        one (kept as .git/autosync/index.damaged). Only the index changes."""
        fresh = self._state / f"index-rebuilt-{secrets.token_hex(6)}"
        env = {"GIT_INDEX_FILE": str(fresh)}
        try:
            built = self._run("read-tree", "HEAD", env=env, check=False)
            if not built.ok:
                found = damage_in(built.err)
                raise self._damaged(found[0] if found else Part.INDEX,
                                    found[1] if found else why,
                                    tried="it could not be rebuilt from the last commit")
            # stat data for every file: changed files stay changed (committed next)
            from autosync_gui.engine.git_runner import COMPARE_ONLY  # (imports this module)
            self._run(*COMPARE_ONLY, "update-index", "-q", "--refresh", env=env,
                      check=False)
            lock = Path(f"{self.index}.lock")
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                raise RepositoryBusy(f"{self.root}: another git process is using the "
                                     "repository", lock=str(lock)) from None
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self.index, self._state / "index.damaged")
                os.replace(fresh, self.index)
            finally:
                os.close(fd)
                os.unlink(lock)
            self.index_written()
            log.warning("%s: index rebuilt from HEAD (%s)", self.root, why)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(fresh)
