"""Password lookup and storage: keyring first-class, fallbacks only when explicit."""

from __future__ import annotations

import logging
import os
import stat

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from autosync_gui import secrets

JID = "alice@example.org"


class MemoryKeyring(KeyringBackend):
    """A working keyring backend kept in memory (a real backend, just not persistent)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, broken: Exception | None = None) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}
        self.broken = broken

    def get_password(self, service, username):
        if self.broken:
            raise self.broken
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        if self.broken:
            raise self.broken
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        self.items.pop((service, username), None)


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(secrets.ENV_PASSWORD, raising=False)


@pytest.fixture
def use_keyring():
    """use_keyring(backend) for the test; the previous backend is restored after."""
    before = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(before)


def test_keyring_store_and_get(use_keyring):
    backend = MemoryKeyring()
    use_keyring(backend)
    assert secrets.keyring_available()
    secrets.store_xmpp_password(JID, "s3cret")
    assert backend.items == {("autosync", JID): "s3cret"}
    assert secrets.get_xmpp_password(JID) == "s3cret"


def test_no_keyring_never_falls_back_silently(use_keyring, isolated_home):
    use_keyring(fail.Keyring())  # what keyring picks with no D-Bus session
    assert not secrets.keyring_available()
    with pytest.raises(secrets.SecretError, match="no system keyring") as err:
        secrets.store_xmpp_password(JID, "s3cret")
    assert "\n" not in str(err.value)
    assert not secrets.password_file(JID).exists()
    assert not any(p.is_file() for p in isolated_home.rglob("*") if "secrets" in str(p))
    with pytest.raises(secrets.SecretError) as err:
        secrets.get_xmpp_password(JID)
    message = str(err.value)
    assert "\n" not in message and "AUTOSYNC_XMPP_PASSWORD" in message and JID in message


def test_broken_keyring_store_raises_one_line(use_keyring):
    """A locked Secret Service that cannot prompt (no desktop) is not "available": the
    wizard then offers the explicit file fallback instead of failing at Finish."""
    use_keyring(MemoryKeyring(broken=keyring.errors.InitError("Prompt dismissed.\nmore")))
    assert not secrets.keyring_available()
    with pytest.raises(secrets.SecretError, match="no system keyring") as err:
        secrets.store_xmpp_password(JID, "x")
    assert "\n" not in str(err.value)


def test_env_variable_for_headless_machines(use_keyring, monkeypatch):
    use_keyring(fail.Keyring())
    monkeypatch.setenv("AUTOSYNC_XMPP_PASSWORD", "from-env")
    assert secrets.get_xmpp_password(JID) == "from-env"


def test_env_variable_also_when_the_keyring_is_locked(use_keyring, monkeypatch):
    use_keyring(MemoryKeyring(broken=keyring.errors.KeyringLocked("locked")))
    with pytest.raises(secrets.KeyringUnavailable, match="keyring is locked"):
        secrets.get_xmpp_password(JID)
    monkeypatch.setenv("AUTOSYNC_XMPP_PASSWORD", "from-env")
    assert secrets.get_xmpp_password(JID) == "from-env"


def test_password_file_is_explicit_private_and_found(use_keyring, isolated_home, caplog):
    use_keyring(fail.Keyring())
    path = secrets.store_password_file(JID, "file-pw")
    assert path.is_relative_to(isolated_home / ".config" / "autosync")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == "file-pw"
    with caplog.at_level(logging.WARNING, logger="autosync_gui.secrets"):
        assert secrets.get_xmpp_password(JID) == "file-pw"
    assert any("unencrypted" in r.getMessage() for r in caplog.records)
    assert "file-pw" not in caplog.text
    secrets.delete_password_file(JID)
    with pytest.raises(secrets.SecretError):
        secrets.get_xmpp_password(JID)


def test_keyring_wins_over_password_file(use_keyring):
    backend = MemoryKeyring()
    use_keyring(backend)
    secrets.store_password_file(JID, "old")
    secrets.store_xmpp_password(JID, "new")
    assert secrets.get_xmpp_password(JID) == "new"


def test_password_file_readable_by_others_is_refused(use_keyring):
    use_keyring(fail.Keyring())
    path = secrets.store_password_file(JID, "pw-Kx7q2Lm")
    os.chmod(path, 0o644)
    with pytest.raises(secrets.SecretError, match="chmod 600"):
        secrets.get_xmpp_password(JID)


def test_legacy_password_last_with_warning(use_keyring, caplog):
    use_keyring(fail.Keyring())
    with caplog.at_level(logging.WARNING, logger="autosync_gui.secrets"):
        assert secrets.get_xmpp_password(JID, legacy="ini-pw") == "ini-pw"
    assert "legacy" in caplog.text and "ini-pw" not in caplog.text
