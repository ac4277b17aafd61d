"""Real keyring set-ups for the wizard tests: a gnome-keyring Secret Service on the test's
D-Bus session (unlocked with a throw-away password), or keyring's own "fail" backend
chosen through its documented PYTHON_KEYRING_BACKEND setting (no backend at all)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import pytest


@pytest.fixture
def gnome_keyring(isolated_home: Path) -> Iterator[None]:
    if shutil.which("gnome-keyring-daemon") is None:
        pytest.skip("gnome-keyring is not installed (scripts/install-deps installs it)")
    proc = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets",
         "--replace"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "HOME": str(isolated_home)})
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("test-keyring-password")
    proc.stdin.close()
    for line in proc.stdout:  # it prints its control socket once it is ready
        if line.startswith("GNOME_KEYRING_CONTROL="):
            break
    else:
        pytest.fail(f"gnome-keyring-daemon did not start (exit {proc.wait()})")
    keyring.core.init_backend()
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        keyring.core.init_backend()


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.init_backend()
    yield
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    keyring.core.init_backend()
