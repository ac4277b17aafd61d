"""The gnome-keyring set-up the wizard tests rely on is reliable: 25 set-ups in a row, each
one's daemon owns the Secret Service and stores and reads a password, and D-Bus never
starts a second daemon behind it."""

from __future__ import annotations

import shutil
from pathlib import Path

import keyring
import keyring.core
import pytest

from tests.ui.keyrings import running_gnome_keyring, secret_service_owner


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gnome-keyring-daemon") is None, reason="gnome-keyring")
def test_keyring_setup_is_reliable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)  # this test wants the real one
    for attempt in range(25):
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        with running_gnome_keyring(home) as daemon:
            keyring.core.init_backend()
            keyring.set_password("autosync", "alice@example.org", f"pw{attempt}")
            assert keyring.get_password("autosync", "alice@example.org") == f"pw{attempt}"
            assert secret_service_owner() == daemon.pid, f"set-up {attempt}: another daemon"
    keyring.core.init_backend()
