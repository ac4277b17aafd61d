"""Real keyring set-ups for the wizard tests: a gnome-keyring Secret Service on the test's
D-Bus session (unlocked with a throw-away password), or keyring's own "fail" backend
chosen through its documented PYTHON_KEYRING_BACKEND setting (no backend at all).

A daemon started with `--unlock` alone does not always claim the Secret Service name on
the bus; the first client call then has D-Bus start a second daemon on demand (its
keyring locked, it tries to prompt and fails), racing the first. So the daemon gets a
private runtime folder, `--start` then initialises that very daemon (which claims the
name), and the set-up checks that the name's owner is our process before any test uses it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import pytest
from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection

SECRET_SERVICE = "org.freedesktop.secrets"
PASSWORD = "test-keyring-password"


def secret_service_owner() -> int | None:
    """The process id owning the Secret Service name on the session bus, None if unowned."""
    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                      interface="org.freedesktop.DBus")
    with open_dbus_connection(bus="SESSION") as connection:
        if not connection.send_and_get_reply(
                new_method_call(bus, "NameHasOwner", "s", (SECRET_SERVICE,))).body[0]:
            return None
        reply = connection.send_and_get_reply(
            new_method_call(bus, "GetConnectionUnixProcessID", "s", (SECRET_SERVICE,)))
        return int(reply.body[0])


@contextlib.contextmanager
def running_gnome_keyring(home: Path) -> Iterator[subprocess.Popen[str]]:
    """An unlocked gnome-keyring-daemon (secrets only) that owns the Secret Service name."""
    runtime = Path(tempfile.mkdtemp(prefix="keyring-runtime-"))
    runtime.chmod(0o700)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    proc = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets", "--replace"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(PASSWORD)
        proc.stdin.close()
        for line in proc.stdout:  # it prints its control socket once it is ready
            if line.startswith("GNOME_KEYRING_CONTROL="):
                break
        else:
            raise AssertionError(f"gnome-keyring-daemon did not start (exit {proc.wait()})")
        started = subprocess.run(["gnome-keyring-daemon", "--start", "--components=secrets"],
                                 env=env, capture_output=True, text=True, timeout=30, check=False)
        assert started.returncode == 0, started.stderr
        owner = secret_service_owner()
        assert owner == proc.pid, f"the Secret Service belongs to {owner}, not our daemon {proc.pid}"
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def gnome_keyring(isolated_home: Path) -> Iterator[None]:
    if shutil.which("gnome-keyring-daemon") is None:
        pytest.skip("gnome-keyring is not installed (scripts/install-deps installs it)")
    with running_gnome_keyring(isolated_home):
        keyring.core.init_backend()
        try:
            yield
        finally:
            keyring.core.init_backend()


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.init_backend()
    yield
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    keyring.core.init_backend()
