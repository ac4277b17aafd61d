"""The private per-user folder that holds the instance locks and the control sockets, and
the checks that keep other local users out of it.

The machine may be shared: without XDG_RUNTIME_DIR the folder lives in the world-writable
/tmp, where another user can create `/tmp/autosync-<uid>` first, hold our lock and listen
on our socket. So every folder, lock file and socket is checked (owner, type, mode) before
it is used, and every socket peer must be our own user (SO_PEERCRED). Anything else is
refused with one line naming the path and the fix: fail closed, never fall back.

Qt-free: used by the tray app, `autosync run --headless` and the command-line client."""

from __future__ import annotations

import os
import pwd
import socket
import stat
import struct
import tempfile
from pathlib import Path
from typing import Protocol

FIX_RUNTIME = ("set XDG_RUNTIME_DIR to a folder only you can use (mode 0700), "
               "e.g. mkdir -m 700 ~/.autosync-run && export XDG_RUNTIME_DIR=~/.autosync-run")


class UnsafeRuntimeError(Exception):
    """A folder, lock or socket another local user could control; str() is one line
    naming the path and the fix."""


def _owner(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _describe_mode(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"


def check_private_dir(path: Path, st: os.stat_result, *, fix: str) -> None:
    """Refuse `path` (already lstat()ed into `st`) unless it is a real folder owned by us
    that nobody else can enter."""
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeRuntimeError(f"{path} is a symbolic link, not a private folder; {fix}")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeRuntimeError(f"{path} is not a folder; {fix}")
    if st.st_uid != os.getuid():
        raise UnsafeRuntimeError(f"{path} belongs to {_owner(st.st_uid)}, not to you: another "
                                 f"user may be impersonating autosync; refusing to use it; {fix}")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise UnsafeRuntimeError(f"{path} is open to other users (mode "
                                 f"{_describe_mode(st.st_mode)}, must be 0700); refusing to use "
                                 f"it; {fix}")


def _check_parent(parent: Path) -> None:
    """A parent others can write to must be sticky (like /tmp), or they could rename our
    folder away and put theirs in its place."""
    st = os.stat(parent)
    if stat.S_IMODE(st.st_mode) & 0o002 and not st.st_mode & stat.S_ISVTX:
        raise UnsafeRuntimeError(f"{parent} is writable by every user and not sticky, so "
                                 f"another user could replace autosync's folder in it; "
                                 f"{FIX_RUNTIME}")


def ensure_private_dir(path: Path, *, fix: str) -> Path:
    """Create `path` with mode 0700 if absent; refuse it unless it is ours and 0700."""
    _check_parent(path.parent)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafeRuntimeError(f"{path}: cannot create ({exc.strerror}); {fix}") from None
    check_private_dir(path, os.lstat(path), fix=fix)
    return path


def runtime_dir() -> Path:
    """The private folder for locks and sockets: `$XDG_RUNTIME_DIR/autosync`, else
    `$TMPDIR/autosync-<uid>` (normally /tmp). Raises UnsafeRuntimeError (one line)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        base = Path(xdg)
        if not base.is_absolute():
            raise UnsafeRuntimeError(f"XDG_RUNTIME_DIR={xdg} is not an absolute path; "
                                     f"{FIX_RUNTIME}")
        try:
            st = os.stat(base)  # the variable may name a link to the real folder
        except OSError as exc:
            raise UnsafeRuntimeError(f"XDG_RUNTIME_DIR {base}: {exc.strerror}; "
                                     f"{FIX_RUNTIME}") from None
        check_private_dir(base, st, fix=FIX_RUNTIME)
        return ensure_private_dir(base / "autosync",
                                  fix=f"remove {base / 'autosync'} and start autosync again")
    path = Path(tempfile.gettempdir()) / f"autosync-{os.getuid()}"
    return ensure_private_dir(path, fix=f"remove {path} (ask an administrator if it is not "
                                        f"yours) or {FIX_RUNTIME}")


def open_private_file(path: Path) -> int:
    """Open (creating 0600) a lock file in our private folder, never through a link, and
    refuse a file that is not ours. Returns the descriptor."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise UnsafeRuntimeError(f"{path}: cannot open ({exc.strerror}); remove it and start "
                                 "autosync again") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() \
            or stat.S_IMODE(st.st_mode) & 0o077:
        os.close(fd)
        raise UnsafeRuntimeError(f"{path} is not a private file of yours (owner "
                                 f"{_owner(st.st_uid)}, mode {_describe_mode(st.st_mode)}); "
                                 "remove it and start autosync again")
    return fd


def check_socket_file(path: Path) -> None:
    """Refuse a socket file that is not a socket of ours (missing: FileNotFoundError)."""
    st = os.lstat(path)
    if not stat.S_ISSOCK(st.st_mode):
        raise UnsafeRuntimeError(f"{path} is not a socket; remove it and start autosync again")
    if st.st_uid != os.getuid():
        raise UnsafeRuntimeError(f"{path} belongs to {_owner(st.st_uid)}, not to you; refusing "
                                 "to talk to it; remove it and start autosync again")


_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


class _Socket(Protocol):
    """A socket.socket or asyncio's TransportSocket."""

    def getsockopt(self, level: int, option: int, buflen: int) -> bytes: ...


def peer_uid(sock: _Socket) -> int:
    """The user id of the process at the other end of a connected Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    _pid, uid, _gid = _CREDENTIALS.unpack(raw)
    return int(uid)


def check_peer(sock: _Socket, path: Path) -> None:
    """Refuse a connection whose other end is not our own user."""
    uid = peer_uid(sock)
    if uid != os.getuid():
        raise UnsafeRuntimeError(f"{path} is served by {_owner(uid)}, not by you; refusing to "
                                 "talk to it; stop that process and start autosync again")
