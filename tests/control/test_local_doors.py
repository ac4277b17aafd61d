"""Another local user must not take autosync's place on a shared machine.

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

from autosync_gui.control.instance import instance_names, instance_paths
from tests.control.local_users import LocalUser
from tests.fixtures.git_remotes import Remote

pytestmark = pytest.mark.slow  # a second local user and real processes on both sides

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


@pytest.mark.parametrize("command", [["run", "--headless"], ["status"], ["pause"]],
                         ids=["run-headless", "status", "pause"])
def test_headless_and_commands_refuse_a_squatted_folder(
        other_user: LocalUser, shared_tmp: Path, remote: Remote, tmp_path: Path,
        command: list[str]) -> None:
    folder = shared_tmp / f"autosync-{os.getuid()}"
    cfg = _config(tmp_path, remote.clone("a"))
    attacker = _squat(other_user, folder, 0o777, list(instance_names(cfg)))
    victim = subprocess.run([sys.executable, "-m", "autosync_gui", *command, "--config",
                             str(cfg)], env=_victim_env(shared_tmp), capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert victim.returncode == 2, victim.stderr
    assert victim.stderr.strip().splitlines()[-1].startswith(
        f"autosync: {folder} belongs to {other_user.name}")
    assert _attacker_saw(attacker) == "", "the attacker received nothing, not even a connection"


# Started as root: bind the socket where only we may (our private folder), then become the
# other user and serve it, as a process of another user that got hold of it would.
SERVE_AS_OTHER = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.setgroups([])
os.setgid(int(os.environ["ATTACKER_GID"]))
os.setuid(int(os.environ["ATTACKER_UID"]))
s.listen()
print("ready", flush=True)
while True:
    conn, _ = s.accept()
    print("connection", flush=True)
    conn.settimeout(5)
    try:
        data = conn.recv(65536)
    except OSError:
        data = b""
    print("received", len(data), flush=True)
    conn.close()
"""


def test_a_socket_served_by_another_user_gets_no_request(
        other_user: LocalUser, remote: Remote, tmp_path: Path) -> None:
    cfg = _config(tmp_path, remote.clone("a"))
    paths = instance_paths(cfg)
    attacker = other_user.popen(SERVE_AS_OTHER, str(paths.socket), as_root_first=True)
    assert attacker.stdout is not None and attacker.stdout.readline() == "ready\n"
    ran = subprocess.run([sys.executable, "-m", "autosync_gui", "pause", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.strip() == (f"autosync: {paths.socket} is served by {other_user.name} "
                                  f"(uid {other_user.uid}), not by you; refusing to talk to it; "
                                  "stop that process and start autosync again")
    assert _attacker_saw(attacker) == "connection\nreceived 0\n", "not one byte of a request"


# Connect as the other user, send a request, print whatever comes back.
ASK = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
answer = b""
try:
    s.sendall(b'{"v": 1, "command": "pause"}\n')
    while chunk := s.recv(65536):
        answer += chunk
except (BrokenPipeError, ConnectionResetError):
    pass  # dropped by the server
print(repr(answer), flush=True)
"""


async def test_the_server_answers_only_its_own_user(
        other_user: LocalUser, shared_tmp: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the folder and socket were made reachable (a careless chmod), a request
    of another user is dropped unanswered and does nothing."""
    import asyncio

    from autosync_gui.config import Settings
    from autosync_gui.control.client import ControlClient
    from autosync_gui.control.instance import InstanceLock
    from autosync_gui.control.server import ControlServer
    from autosync_gui.control.service import ControlService
    from autosync_gui.engine.engine import Engine

    runtime = shared_tmp / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    cfg = tmp_path / "config.toml"
    paths = instance_paths(cfg)
    lock = InstanceLock(paths)
    assert lock.acquire()
    engine = Engine(Settings())
    paused: list[object] = []
    engine.pause = lambda *a, **k: paused.append(a)  # type: ignore[method-assign]
    server = ControlServer(ControlService(engine, mode="headless", config=cfg), paths)
    await server.start()
    try:
        for folder in (runtime, paths.socket.parent):
            os.chmod(folder, 0o711)
        os.chmod(paths.socket, 0o666)
        attacker = other_user.popen(ASK, str(paths.socket))
        out, err = await asyncio.to_thread(attacker.communicate, None, 30)
        assert out == "b''\n", err
        assert paused == []
        status = await asyncio.to_thread(lambda: ControlClient(paths).call("status"))
        assert status["instance"]["pid"] == os.getpid(), "our own user is still served"
    finally:
        await server.stop()
        lock.release()
