"""Writing into a work tree without ever following a symbolic link.

Pulled content decides which paths exist, so a path's leading folders may be links a
remote planted (`evil -> /home/you/.ssh`). Every operation here opens the leading folders
one component at a time with O_NOFOLLOW|O_DIRECTORY and works relative to the last one
(`dir_fd`), so it can only ever touch a name inside the work tree. New files are created
exclusively (O_EXCL|O_NOFOLLOW) under names the remote cannot know or populate: in the
repository's own state folder when that is on the same file system, else beside the
target under a random name. Nothing here replaces an existing file unless asked to
(`replace`): files arrive by link(), which fails when the name is taken."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import secrets
import shutil
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autosync_gui.engine.safe_paths import UnsafePath, verify_path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20
_RACY_NS = 2_000_000_000
PULL_SHARD = 128  # files moved aside per subfolder of a pull's folder (see new_aside)
_STAT_KEY = struct.Struct("<QQqqI")  # inode, size, modification and change time, mode


class InTheWay(Exception):
    """A name is taken by something the operation must not replace."""


class FolderMoved(Exception):
    """A folder was renamed or moved away while files were being moved out of it (str:
    the folder, relative to the work tree)."""


@dataclass(frozen=True, slots=True)
class Aside:
    """Where a file was moved while a pull replaces it: the scratch folder (folder None)
    or beside the target (folder = the target's folder, relative to the work tree)."""

    folder: str | None
    name: str


def stat_key(info: os.stat_result) -> bytes:
    """A file's inode, size, modification and change times and mode, compact (a big
    pull keeps one per file it moves; a stat_result is some 650 bytes)."""
    return _STAT_KEY.pack(info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns,
                          info.st_mode)


def stat_fields(key: bytes) -> tuple[int, int, int, int, int]:
    """(inode, size, modification ns, change ns, mode) of a stat_key."""
    ino, size, mtime_ns, ctime_ns, mode = _STAT_KEY.unpack(key)
    return ino, size, mtime_ns, ctime_ns, mode


def moved_unwritten(before: bytes, after: bytes) -> bool:
    """Whether two stat_keys of one entry, taken before and after a rename, show no
    write between them: the same inode, size, modification time and mode (a rename
    changes the change time only)."""
    return before[:24] == after[:24] and before[32:] == after[32:]  # (see _STAT_KEY)


def _split(rel: str) -> tuple[list[str], str]:
    parts = rel.split("/")
    return parts[:-1], parts[-1]


def _git_hash(hex_len: int) -> hashlib._Hash:
    return hashlib.sha1(usedforsecurity=False) if hex_len == 40 else hashlib.sha256()


def blob_ids_of_fd(fd: int, size: int, hex_len: int, lfs: bool = False) -> set[str]:
    """git's blob id of an open file's content, read in chunks (no whole file in memory);
    with `lfs` also the id of the Git LFS pointer git would store for it."""
    digest = _git_hash(hex_len)
    digest.update(b"blob %d\0" % size)
    content = hashlib.sha256() if lfs else None
    remaining = size
    while remaining > 0:
        chunk = os.read(fd, min(CHUNK, remaining))
        if not chunk:
            break
        digest.update(chunk)
        if content is not None:
            content.update(chunk)
        remaining -= len(chunk)
    ids = {digest.hexdigest()}
    if content is not None:
        pointer = b"" if size == 0 else (
            b"version https://git-lfs.github.com/spec/v1\noid sha256:"
            + content.hexdigest().encode() + b"\nsize %d\n" % size)
        pointer_digest = _git_hash(hex_len)
        pointer_digest.update(b"blob %d\0" % len(pointer) + pointer)
        ids.add(pointer_digest.hexdigest())
    return ids


def blob_id_of_fd(fd: int, size: int, hex_len: int) -> str:
    """git's blob id of an open file's content, read in chunks."""
    return next(iter(blob_ids_of_fd(fd, size, hex_len)))


class WorkTree:
    """One work tree (`root`, resolved) and its private scratch folder."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root = root
        self.scratch = scratch
        scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(scratch)
        if info.st_uid != os.getuid() or not os.path.isdir(scratch) or os.path.islink(scratch):
            raise UnsafePath(str(scratch), "is not a private folder of this user")
        os.chmod(scratch, 0o700)
        self.same_fs = os.stat(root).st_dev == info.st_dev
        # During one pull (pull_asides): the subfolder of the scratch folder its files
        # are moved aside into, and a descriptor of the scratch folder kept open.
        self._pull: tuple[str, int] | None = None
        self._pull_names = itertools.count()  # names of files moved into it
        # Some files are stored as Git LFS pointers: a file then matches the id of its
        # bytes or of its pointer (set by the repository when it uses LFS).
        self.lfs = False

    # ------------------------------------------------------------------ folders
    def _open_dirs(self, components: list[str], *, create: bool) -> int:
        """A descriptor of the folder `components` below the root, opened without
        following links; missing folders are created with `create`."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for i, name in enumerate(components):
                try:
                    next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o777, dir_fd=fd)
                    next_fd = self._open_existing_dir(fd, components[:i + 1])
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise self._not_a_folder(fd, components[:i + 1]) from None
                    raise
                os.close(fd)
                fd = next_fd
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _not_a_folder(parent: int, components: list[str]) -> UnsafePath:
        try:
            link = stat.S_ISLNK(os.stat(components[-1], dir_fd=parent,
                                        follow_symlinks=False).st_mode)
        except OSError:
            link = False
        kind = "a symbolic link" if link else "not a folder"
        return UnsafePath("/".join(components), f"is {kind} on disk")

    def _open_existing_dir(self, parent: int, components: list[str]) -> int:
        try:
            return os.open(components[-1], _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._not_a_folder(parent, components) from None
            raise

    @contextlib.contextmanager
    def parent(self, rel: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """(descriptor of rel's folder, rel's last component), checked like git."""
        verify_path(rel)
        folders, name = _split(rel)
        fd = self._open_dirs(folders, create=create)
        try:
            yield fd, name
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _scratch_fd(self) -> Iterator[int]:
        if self._pull is not None:
            yield self._pull[1]
            return
        fd = os.open(self.scratch, _DIR_FLAGS)
        try:
            yield fd
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ reading
    def lstat(self, rel: str) -> os.stat_result | None:
        """The entry at rel (a link itself, not what it points to); None when missing
        or when a leading folder is missing or not a real folder."""
        try:
            with self.parent(rel) as (fd, name):
                return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError, UnsafePath):
            return None

    def blob_id(self, rel: str, hex_len: int = 40) -> str | None:
        """git's blob id of the regular file at rel; None for anything else or nothing."""
        ids = self.blob_ids(rel, hex_len, lfs=False)
        return next(iter(ids)) if ids else None

    def blob_ids(self, rel: str, hex_len: int = 40, *, lfs: bool | None = None) -> set[str]:
        """The ids git may have for the regular file at rel (its bytes; with LFS also its
        pointer); empty for anything else or nothing."""
        try:
            with self.parent(rel) as (dir_fd, name):
                return self._blob_ids_at(dir_fd, name, hex_len,
                                         self.lfs if lfs is None else lfs)
        except (OSError, UnsafePath):
            return set()

    @staticmethod
    def _blob_ids_at(dir_fd: int, name: str, hex_len: int, lfs: bool) -> set[str]:
        return WorkTree._hash_at(dir_fd, name, hex_len, lfs)[0]

    @staticmethod
    def _hash_at(dir_fd: int, name: str, hex_len: int, lfs: bool
                 ) -> tuple[set[str], os.stat_result | None]:
        """(the ids git may have for the regular file, its stat as it was read)."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                         dir_fd=dir_fd)
        except OSError:
            return set(), None
        try:
            info = os.fstat(fd)
            if not (info.st_mode & 0o170000) == 0o100000:
                return set(), None
            return blob_ids_of_fd(fd, info.st_size, hex_len, lfs), info
        finally:
            os.close(fd)

    def aside_blob_id(self, aside: Aside, hex_len: int = 40) -> str | None:
        ids = self.aside_blob_ids(aside, hex_len, lfs=False)
        return next(iter(ids)) if ids else None

    def aside_blob_ids(self, aside: Aside, hex_len: int = 40, *, lfs: bool | None = None
                       ) -> set[str]:
        with self._aside_dir(aside) as fd:
            return self._blob_ids_at(fd, aside.name, hex_len, self.lfs if lfs is None else lfs)

    def aside_hash(self, aside: Aside, hex_len: int = 40
                   ) -> tuple[set[str], os.stat_result | None]:
        """aside_blob_ids, with the file's stat as it was read (for aside_unchanged)."""
        with self._aside_dir(aside) as fd:
            return self._hash_at(fd, aside.name, hex_len, self.lfs)

    def aside_lstat(self, aside: Aside) -> os.stat_result | None:
        """The entry moved aside (a link itself, not what it points to); None if gone."""
        if aside.folder is None and self._pull is not None:
            try:  # (the pull's descriptor of the scratch folder: no folder to open)
                return os.stat(aside.name, dir_fd=self._pull[1], follow_symlinks=False)
            except OSError:
                return None
        try:
            with self._aside_dir(aside) as fd:
                return os.stat(aside.name, dir_fd=fd, follow_symlinks=False)
        except (OSError, UnsafePath):
            return None

    def aside_exists(self, aside: Aside) -> bool:
        try:
            with self._aside_dir(aside) as fd:
                os.stat(aside.name, dir_fd=fd, follow_symlinks=False)
                return True
        except (OSError, UnsafePath):
            return False

    def aside_path(self, aside: Aside) -> str:
        """The absolute path of a file moved aside (for the open-files check)."""
        if aside.folder is None:
            return f"{self.scratch}/{aside.name}"
        return f"{self.root}/{aside.folder}/{aside.name}" if aside.folder else \
            f"{self.root}/{aside.name}"

    def aside_unchanged(self, aside: Aside, before: bytes) -> bool:
        """True when the file moved aside surely still has the content it had when it
        was hashed (`before`: the stat_key of its stat then, taken after the move): the
        same inode, size, modification and change times, and a modification time older
        than the move by more than the file system's time granularity (so any later
        write shows as a new time: git's racy-clean rule). False means: hash it again."""
        now = self.aside_lstat(aside)
        if now is None:
            return False
        _ino, _size, mtime_ns, ctime_ns, _mode = stat_fields(before)
        # (inode, size, both times: the first 32 bytes of a stat_key)
        return stat_key(now)[:32] == before[:32] and ctime_ns - mtime_ns >= _RACY_NS

    # ------------------------------------------------------------------ moving aside
    @contextlib.contextmanager
    def pull_asides(self, keep: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """For one pull: files go aside into a fresh subfolder of the scratch folder,
        reached through one descriptor held open. What is still there at the end (old
        versions git has) is not deleted file by file while the user waits: the
        subfolder becomes trash as a whole, emptied later by empty_trash() — unless
        `keep()` says at the end that its files are still wanted (a pull stopped
        half-way: its journal names them, recovery settles them)."""
        sub = f"pull-{secrets.token_hex(8)}"
        fd = os.open(self.scratch, _DIR_FLAGS)
        try:
            os.mkdir(sub, 0o700, dir_fd=fd)
            self._pull = (sub, fd)
            self._pull_names = itertools.count()
            yield
        finally:
            self._pull = None
            if not keep():
                with contextlib.suppress(OSError):
                    os.rename(sub, f"trash-{sub[5:]}", src_dir_fd=fd, dst_dir_fd=fd)
            os.close(fd)

    def empty_trash(self, *, after_crash: bool = False) -> int:
        """Delete what pulls left aside (see pull_asides); with `after_crash` (at start,
        once recovery has put back what the journal named) also the folders of pulls
        that never finished. Returns how many folders went."""
        gone = 0
        for entry in list(self.scratch.iterdir()):
            if entry.name.startswith("trash-") or (after_crash and
                                                   entry.name.startswith("pull-")):
                shutil.rmtree(entry, ignore_errors=True)  # fd-based: follows no link
                gone += 1
        return gone

    def new_aside(self, rel: str) -> Aside:
        """A fresh, unpredictable place to move rel to (decided before the move, so a
        journal can name it)."""
        if self.same_fs:
            if self._pull is not None:  # (the pull's own fresh, unpredictable folder)
                # in subfolders of PULL_SHARD files: a rename into a folder of 20,000
                # names took twice as long as into small ones (0.86-1.03 s against
                # 0.47-0.65 s for 20,000 files, ext4 with or without a journal)
                number = next(self._pull_names)
                shard = f"{self._pull[0]}/{number // PULL_SHARD}"
                if number % PULL_SHARD == 0:
                    os.mkdir(shard, 0o700, dir_fd=self._pull[1])
                return Aside(None, f"{shard}/{number}")
            return Aside(None, f"aside-{secrets.token_hex(16)}")
        token = secrets.token_hex(16)
        folders, _name = _split(rel)
        return Aside("/".join(folders), f".autosync-{token}.part")

    @contextlib.contextmanager
    def _aside_dir(self, aside: Aside) -> Iterator[int]:
        if aside.folder is None:
            with self._scratch_fd() as fd:
                yield fd
        else:
            fd = self._open_dirs(aside.folder.split("/") if aside.folder else [], create=False)
            try:
                yield fd
            finally:
                os.close(fd)

    def move_aside(self, rel: str, aside: Aside) -> bool:
        """Rename rel to `aside` (atomic); False when rel is gone."""
        with self.parent(rel) as (fd, name), self._aside_dir(aside) as aside_fd:
            try:
                os.rename(name, aside.name, src_dir_fd=fd, dst_dir_fd=aside_fd)
            except FileNotFoundError:
                return False
        return True

    def move_aside_many(self, moves: list[tuple[str, Aside]], *,
                        each_folder: Callable[[list[tuple[str, bytes | None]]], None]
                        | None = None) -> dict[str, bytes | None]:
        """move_aside for many paths, folder by folder: each folder is opened once
        (component by component, never through a link) and its files renamed from that
        descriptor. Returns each path's entry as it was just before its move (its
        lstat as a stat_key; None when it was gone and nothing moved); `each_folder` is
        given those of one folder as soon as all its files have gone. A folder found
        elsewhere after its files went (renamed or moved away meanwhile: the descriptor
        followed it) gets them back and FolderMoved names it: nothing taken from it
        stays taken."""
        before: dict[str, bytes | None] = {}
        by_folder: dict[str, list[tuple[str, Aside]]] = {}
        folders_ok: set[str] = set()
        for rel, aside in moves:
            verify_path(rel, folders_ok=folders_ok)
            by_folder.setdefault(rel.rpartition("/")[0], []).append((rel, aside))
        for folder, group in by_folder.items():
            components = folder.split("/") if folder else []
            try:
                fd = self._open_dirs(components, create=False)
            except (FileNotFoundError, NotADirectoryError):
                before.update((rel, None) for rel, _aside in group)  # gone, with its files
            else:
                try:
                    moved = self._move_group(fd, group, before)
                    if not self._still_at(fd, components):
                        self._return_group(fd, moved)
                        raise FolderMoved(folder)
                finally:
                    os.close(fd)
            if each_folder is not None:
                each_folder([(rel, before[rel]) for rel, _aside in group])
        return before

    def _move_group(self, fd: int, group: list[tuple[str, Aside]],
                    before: dict[str, bytes | None]) -> list[tuple[str, Aside]]:
        moved: list[tuple[str, Aside]] = []
        for rel, aside in group:
            name = rel.rpartition("/")[2]
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if aside.folder is None and self._pull is not None:
                    os.rename(name, aside.name, src_dir_fd=fd, dst_dir_fd=self._pull[1])
                else:
                    with self._aside_dir(aside) as aside_fd:
                        os.rename(name, aside.name, src_dir_fd=fd, dst_dir_fd=aside_fd)
            except FileNotFoundError:
                before[rel] = None  # the user deleted it meanwhile: their newest edit
                continue
            except BaseException:
                self._return_group(fd, moved)
                raise
            before[rel] = stat_key(info)
            moved.append((rel, aside))
        return moved

    def _still_at(self, fd: int, components: list[str]) -> bool:
        """Whether the folder open as `fd` is still the one at `components`."""
        try:
            check = self._open_dirs(components, create=False)
        except (OSError, UnsafePath):
            return False
        try:
            mine, now = os.fstat(fd), os.fstat(check)
            return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)
        finally:
            os.close(check)

    def _return_group(self, fd: int, moved: list[tuple[str, Aside]]) -> None:
        """Put files moved from the folder `fd` back into it (beside their name when it
        is taken now), wherever that folder is now."""
        for rel, aside in moved:
            with self._aside_dir(aside) as aside_fd:
                self._link_back(aside_fd, aside.name, fd, rel.rpartition("/")[2])

    def put_back(self, aside: Aside, rel: str) -> str:
        """Return a file moved aside to rel, or beside it when rel is taken now (never
        replacing anything). Returns the path it went to."""
        folders, name = _split(rel)
        with self._aside_dir(aside) as aside_fd:
            fd = self._open_dirs(folders, create=True)
            try:
                placed = self._link_back(aside_fd, aside.name, fd, name)
            finally:
                os.close(fd)
        if placed is None:
            raise InTheWay(rel)
        return "/".join([*folders, placed])

    def _link_back(self, aside_fd: int, aside_name: str, fd: int, name: str) -> str | None:
        """Link a file moved aside into the folder `fd` as `name`, or beside it when that
        is taken ("NAME (saved during sync).ext"), never replacing anything, and drop
        its aside name. The name it got, or None when every one tried was taken (it
        stays aside)."""
        stem, dot, ext = name.partition(".")
        for candidate in (name, f"{stem} (saved during sync){dot}{ext}",
                          f"{stem} (saved during sync {secrets.token_hex(3)}){dot}{ext}"):
            if self._move_no_replace(aside_fd, aside_name, fd, candidate):
                return candidate
        return None

    def discard(self, aside: Aside) -> None:
        if self._pull is not None and aside.folder is None and \
                aside.name.startswith(self._pull[0] + "/"):
            return  # goes with the pull's trash (pull_asides)
        with contextlib.suppress(OSError, UnsafePath), self._aside_dir(aside) as fd:
            os.unlink(aside.name, dir_fd=fd)

    @staticmethod
    def _move_no_replace(src_fd: int, src: str, dst_fd: int, dst: str) -> bool:
        """Move `src` to `dst` unless `dst` exists (False: nothing moved)."""
        if not WorkTree._link_no_replace(src_fd, src, dst_fd, dst):
            return False
        with contextlib.suppress(FileNotFoundError):  # (renamed: a folder, or no hard
            os.unlink(src, dir_fd=src_fd)              # links on this file system)
        return True

    @staticmethod
    def _link_no_replace(src_fd: int, src: str, dst_fd: int, dst: str) -> bool:
        """Give the file `src` the name `dst` unless `dst` exists; False if it does."""
        try:
            os.link(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
                raise
        # No hard links on this file system: a check, then a rename (a narrow race).
        try:
            os.stat(dst, dir_fd=dst_fd, follow_symlinks=False)
            return False
        except FileNotFoundError:
            os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            return True

    # ------------------------------------------------------------------ creating
    def replace(self, rel: str, write: Callable[[int], None], *, executable: bool = False
                ) -> None:
        """Put new content at rel, replacing the entry there (a link is replaced, never
        followed): for restoring a version the user asked for. The content is written to
        an exclusive new file in the scratch folder (or beside rel on another file
        system) and renamed over rel once complete."""
        self._put(rel, write, executable, replace=True)

    def create(self, rel: str, write: Callable[[int], None], *, executable: bool = False
               ) -> bool:
        """Like replace, but never over anything: False (nothing changed) when rel is
        taken by the time the content is complete (a save landing then stays)."""
        return self._put(rel, write, executable, replace=False)

    def _put(self, rel: str, write: Callable[[int], None], executable: bool, *,
             replace: bool) -> bool:
        mode = 0o777 if executable else 0o666  # less the umask, as git's checkout does
        name = f".autosync-{secrets.token_hex(16)}.part"
        with self.parent(rel, create=True) as (dir_fd, target), contextlib.ExitStack() as stack:
            tmp_dir = stack.enter_context(self._scratch_fd()) if self.same_fs else dir_fd
            fd = os.open(name, _NEW_FLAGS, mode, dir_fd=tmp_dir)
            try:
                write(fd)
                os.fsync(fd)
                if replace:
                    os.rename(name, target, src_dir_fd=tmp_dir, dst_dir_fd=dir_fd)
                    return True
                placed = self._link_no_replace(tmp_dir, name, dir_fd, target)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=tmp_dir)
                return placed
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=tmp_dir)
                raise
            finally:
                os.close(fd)

    def place_new(self, rel: str, source: Path) -> bool:
        """Give the finished file `source` (in the scratch folder) the name rel, never
        replacing anything; False when rel is taken (a save landed there first). On
        another file system the content is copied to an exclusive new file beside rel
        first."""
        with self.parent(rel, create=True) as (dir_fd, name):
            if self.same_fs:
                try:
                    os.link(source, name, dst_dir_fd=dir_fd, follow_symlinks=False)
                    return True
                except FileExistsError:
                    return False
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
                        raise
            part = f".autosync-{secrets.token_hex(16)}.part"
            fd = os.open(part, _NEW_FLAGS, os.stat(source).st_mode & 0o777, dir_fd=dir_fd)
            try:
                with open(source, "rb") as src:
                    while chunk := src.read(CHUNK):
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(fd, view):]
                placed = self._link_no_replace(dir_fd, part, dir_fd, name)
            finally:
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(part, dir_fd=dir_fd)
            return placed

    def symlink(self, rel: str, target: str) -> bool:
        """A symbolic link at rel (never replacing); False when rel is taken."""
        with self.parent(rel, create=True) as (dir_fd, name):
            try:
                os.symlink(target, name, dir_fd=dir_fd)
            except FileExistsError:
                return False
        return True

    # ------------------------------------------------------------------ removing
    def remove(self, rel: str) -> None:
        """Remove the entry at rel (a file or link; an empty folder)."""
        with self.parent(rel) as (dir_fd, name):
            try:
                os.unlink(name, dir_fd=dir_fd)
            except IsADirectoryError:
                os.rmdir(name, dir_fd=dir_fd)
            except FileNotFoundError:
                pass

    def rename(self, rel: str, new_rel: str, *, replace: bool) -> bool:
        """Rename inside the work tree; without `replace` nothing is overwritten (False)."""
        with self.parent(rel) as (src_fd, src), self.parent(new_rel, create=True) as (
                dst_fd, dst):
            if replace:
                os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
                return True
            return self._move_no_replace(src_fd, src, dst_fd, dst)

    def prune_empty_parents(self, rel: str) -> None:
        """Remove rel's folders that became empty, deepest first, up to the root."""
        folders, _name = _split(rel)
        while folders:
            try:
                with self.parent("/".join(folders)) as (dir_fd, name):
                    os.rmdir(name, dir_fd=dir_fd)
            except (OSError, UnsafePath):
                return
            folders = folders[:-1]
