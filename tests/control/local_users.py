"""A throwaway second local user for tests of what another user on the same machine can do.

Creating a user needs root (useradd); without it the tests that need one are skipped with
that reason. The user is removed again at the end of the test."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"  # readable by any user (the venv may live in /root)


@dataclass
class LocalUser:
    name: str
    uid: int
    gid: int
    processes: list[subprocess.Popen] = field(default_factory=list)

    def popen(self, code: str, *args: str, as_root_first: bool = False) -> subprocess.Popen:
        """Run a short Python program as this user (stdlib only). With as_root_first the
        program starts as root and must drop to this user itself (os.setuid)."""
        ids: dict[str, object] = {}
        if not as_root_first:
            ids = {"user": self.uid, "group": self.gid, "extra_groups": []}
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "ATTACKER_UID": str(self.uid),
               "ATTACKER_GID": str(self.gid)}
        proc = subprocess.Popen([SYSTEM_PYTHON, "-I", "-c", code, *args], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd="/",
                                **ids)  # type: ignore[call-overload]
        self.processes.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


@pytest.fixture
def other_user() -> Iterator[LocalUser]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a throwaway second local user (useradd); "
                    "run the suite as root (e.g. in the CI container) to cover this")
    if shutil.which("useradd") is None or not Path(SYSTEM_PYTHON).exists():
        pytest.skip("useradd or /usr/bin/python3 missing: cannot act as a second local user")
    name = f"astest{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", "--user-group", name], check=True,
                   capture_output=True)
    entry = pwd.getpwnam(name)
    user = LocalUser(name, entry.pw_uid, entry.pw_gid)
    try:
        yield user
    finally:
        user.stop_all()
        subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder like /tmp (world-writable, sticky) that every local user can reach."""
    path = Path(tempfile.mkdtemp(prefix="autosync-shared-", dir="/tmp"))
    os.chmod(path, 0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
