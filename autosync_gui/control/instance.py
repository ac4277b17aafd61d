"""One running instance per configuration: a flock()ed lock file decides who runs, and
its control socket is where later commands (and later launches) find it.

Both names derive from the configuration file's resolved path, so instances started with
different `--config` files (or different HOMEs) run side by side, and a command given
`--config FILE` talks to the instance of that file. flock is released by the kernel when
the process dies: a crash never leaves a stale lock, and a reused PID cannot fool it."""

from __future__ import annotations

import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from autosync_gui.config import choose_config_path
from autosync_gui.control.runtime import open_private_file, runtime_dir


@dataclass(frozen=True)
class InstancePaths:
    config: Path  # absolute, links resolved
    lock: Path
    socket: Path


def resolved_config(config: Path | None) -> Path:
    """The configuration file an instance given `--config config` uses, as an absolute
    path with links resolved (it need not exist yet)."""
    return Path(os.path.realpath(os.path.abspath(choose_config_path(config).expanduser())))


def instance_names(config: Path | None) -> tuple[str, str]:
    """The file names of the lock and the socket of this configuration's instance."""
    key = hashlib.sha256(os.fsencode(str(resolved_config(config)))).hexdigest()[:16]
    return f"instance-{key}.lock", f"instance-{key}.sock"


def instance_paths(config: Path | None) -> InstancePaths:
    """Where the instance of this configuration keeps its lock and socket. Raises
    UnsafeRuntimeError when the private runtime folder is not private."""
    lock, sock = instance_names(config)
    base = runtime_dir()
    return InstancePaths(resolved_config(config), base / lock, base / sock)


class InstanceLock:
    """acquire() -> True when this process is the instance of its configuration."""

    def __init__(self, paths: InstancePaths) -> None:
        self.paths = paths
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = open_private_file(self.paths.lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{self.paths.config}\n".encode("utf-8", "surrogateescape"))
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
