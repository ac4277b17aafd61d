"""Another local user must not take autosync's place on a shared machine (issue 8, item 8).

Without XDG_RUNTIME_DIR the instance lock and socket live in /tmp/autosync-<uid>: a second
user who creates that folder first (0777, holding the lock, listening on the socket) used
to make the victim's tray exit and receive its messages. Each test plays that attacker as
a real throwaway local user (created with useradd; skipped without root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autosync_gui.control.instance import instance_names
from tests.control.local_users import LocalUser
from tests.fixtures.git_remotes import Remote

# The attacker: create the victim's folder with the given mode, hold the lock, listen on
# the socket, and report every connection and every byte received on stdout.
SQUAT = r"""
import fcntl, os, socket, sys
folder, mode, names = sys.argv[1], int(sys.argv[2], 8), sys.argv[3:]
os.umask(0)
os.mkdir(folder, mode)
os.chmod(folder, mode)
listeners = []
for name in names:
    path = os.path.join(folder, name)
    if name.endswith(".lock"):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        os.chmod(path, 0o777)
        s.listen()
        listeners.append(s)
print("ready", flush=True)
import selectors
sel = selectors.DefaultSelector()
for s in listeners:
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        print("connection", flush=True)
        conn.settimeout(5)
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        print("received", len(data), flush=True)
        conn.close()
"""


def _victim_env(shared: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env.update(TMPDIR=str(shared), QT_QPA_PLATFORM="offscreen")
    return env


def _squat(user: LocalUser, folder: Path, mode: int, names: list[str]) -> subprocess.Popen:
    proc = user.popen(SQUAT, str(folder), f"{mode:o}", *names)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "ready\n", proc.stderr.read() if proc.stderr else line
    return proc


def _attacker_saw(proc: subprocess.Popen) -> str:
    proc.kill()
    out, _err = proc.communicate(timeout=10)
    return out


def _config(tmp_path: Path, folder: Path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[[folder]]\npath = "{folder}"\npoll_interval = 3600\n')
    return cfg


@pytest.mark.parametrize("mode", [0o777, 0o700], ids=["0777", "0700"])
def test_tray_refuses_a_runtime_folder_another_user_created(
        other_user: LocalUser, shared_tmp: Path, remote: Remote, tmp_path: Path,
        mode: int) -> None:
    folder = shared_tmp / f"autosync-{os.getuid()}"
    cfg = _config(tmp_path, remote.clone("a"))
    names = list(instance_names(cfg))  # the attacker knows the names: they are no secret
    attacker = _squat(other_user, folder, mode, names)
    victim = subprocess.run([sys.executable, "-m", "autosync_gui", "--config", str(cfg)],
                            env=_victim_env(shared_tmp), capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert victim.returncode == 2, victim.stderr
    last = victim.stderr.strip().splitlines()[-1]
    assert last.startswith(f"autosync: {folder} belongs to {other_user.name}"), last
    assert "XDG_RUNTIME_DIR" in last and "remove" in last, "the line names the fix"
    assert _attacker_saw(attacker) == "", "the attacker received nothing, not even a connection"
    assert sorted(os.listdir(folder)) == sorted(names)


def test_own_runtime_folder_open_to_others_is_refused(shared_tmp: Path, remote: Remote,
                                                       tmp_path: Path) -> None:
    folder = shared_tmp / f"autosync-{os.getuid()}"
    folder.mkdir()
    os.chmod(folder, 0o777)  # anybody could have put a socket in it meanwhile
    cfg = _config(tmp_path, remote.clone("a"))
    victim = subprocess.run([sys.executable, "-m", "autosync_gui", "--config", str(cfg)],
                            env=_victim_env(shared_tmp), capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert victim.returncode == 2, victim.stderr
    last = victim.stderr.strip().splitlines()[-1]
    assert f"{folder} is open to other users (mode 0777, must be 0700)" in last, last
    assert os.listdir(folder) == []


def test_missing_runtime_folder_is_created_private(shared_tmp: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from autosync_gui.control.runtime import runtime_dir

    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(shared_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    path = runtime_dir()
    st = os.lstat(path)
    assert path == shared_tmp / f"autosync-{os.getuid()}"
    assert st.st_uid == os.getuid() and st.st_mode & 0o777 == 0o700
    assert runtime_dir() == path, "found again, still accepted"
