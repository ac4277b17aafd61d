"""Where the XMPP password lives: the system keyring, or an explicit fallback.

The password is never written to the configuration or the log. Lookup order:
1. `AUTOSYNC_XMPP_PASSWORD` (headless machines without a keyring; an explicit override),
2. the system keyring (service ``autosync``, user = the bare JID),
3. a password file the user explicitly agreed to (0600, under the XDG config dir),
4. the legacy dvcs-autosync INI password (the config loader already warns about it).
A keyring that does not work (no D-Bus session: keyring's ``fail`` backend) is never
replaced silently by plaintext: storing raises SecretError and the caller asks the user.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from urllib.parse import quote

import keyring
import keyring.errors
from keyring.backends import fail

from autosync_gui.atomic_file import write_atomically
from autosync_gui.log_safety import register_secret
from autosync_gui.text import one_line
from autosync_gui.xdg import config_home

log = logging.getLogger(__name__)

SERVICE = "autosync"
ENV_PASSWORD = "AUTOSYNC_XMPP_PASSWORD"  # noqa: S105 - a variable name, not a secret


class SecretError(Exception):
    """The password cannot be read or stored; str() is one line saying what to do."""


class KeyringUnavailable(SecretError):
    """The keyring itself cannot be used (none running, locked, unlock dismissed): not a
    wrong password, and not something the XMPP server said."""


def keyring_available() -> bool:
    """Whether a real keyring backend is usable (not keyring's `fail` placeholder)."""
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration must not crash the app
        log.debug("keyring backend could not be loaded", exc_info=True)
        return False
    if isinstance(backend, fail.Keyring):
        return False
    backends = getattr(backend, "backends", None)  # the chainer wraps the viable ones
    if backends is not None and not backends:
        return False
    try:
        if float(backend.priority) <= 0:
            return False
        # A Secret Service whose collection is locked and cannot prompt (no desktop) looks
        # usable until it is used: read once (writes nothing) to find out.
        backend.get_password(SERVICE, "autosync-probe")
    except Exception:
        log.debug("keyring backend is not usable", exc_info=True)
        return False
    return True


def password_file(jid: str) -> Path:
    """The opt-in fallback file for one account (its name is the quoted JID)."""
    return config_home() / "autosync" / "secrets" / quote(jid.lower(), safe="@.-_")


_environment_password: str | None = None


def take_environment_password() -> str | None:
    """`AUTOSYNC_XMPP_PASSWORD`, moved out of os.environ on first use so that no child
    process (git, its hooks, ssh, a file opener) ever inherits it."""
    global _environment_password
    value = os.environ.pop(ENV_PASSWORD, None)
    if value:
        _environment_password = value
        register_secret(value)
    return _environment_password


def get_xmpp_password(jid: str, legacy: str | None = None) -> str:
    """The password for `jid`, from the first source that has one (see module doc); it
    is registered with log_safety, so no log record ever shows it."""
    password = _find_xmpp_password(jid, legacy)
    register_secret(password)
    return password


def _find_xmpp_password(jid: str, legacy: str | None) -> str:
    env = take_environment_password()
    if env:
        return env
    keyring_problem = ""
    try:
        stored = keyring.get_password(SERVICE, jid)
    except keyring.errors.NoKeyringError:
        stored = None
        keyring_problem = "no system keyring is available"
    except keyring.errors.KeyringLocked:
        stored = None
        keyring_problem = "the keyring is locked (or its unlock prompt was dismissed)"
    except keyring.errors.KeyringError as exc:
        stored = None
        keyring_problem = f"the keyring failed ({one_line(exc)})"
    except Exception as exc:  # D-Bus errors surface as backend-specific exceptions
        stored = None
        keyring_problem = f"the keyring failed ({one_line(exc)})"
    if stored:
        return stored
    from_file = _read_password_file(jid)
    if from_file is not None:
        return from_file
    if legacy:
        log.warning("using the plaintext XMPP password from the legacy configuration; "
                    "store it in the keyring (service %r, user %r) instead", SERVICE, jid)
        return legacy
    if keyring_problem:
        raise KeyringUnavailable(
            f"cannot read the XMPP password for {jid}: {keyring_problem}; unlock or start "
            f"the keyring, or set {ENV_PASSWORD}")
    raise SecretError(
        f"no XMPP password for {jid}: store it in the keyring (service '{SERVICE}', "
        f"user '{jid}') or set {ENV_PASSWORD}"
    )


def store_xmpp_password(jid: str, password: str) -> None:
    """Store in the system keyring; raises SecretError instead of falling back to a file."""
    if not keyring_available():
        raise KeyringUnavailable(
            "no system keyring is available (no Secret Service on the D-Bus session); start "
            f"one such as gnome-keyring, set {ENV_PASSWORD}, or agree to a password file"
        )
    try:
        keyring.set_password(SERVICE, jid, password)
    except keyring.errors.NoKeyringError:
        raise KeyringUnavailable("no system keyring is available; start a Secret Service "
                                 "such as gnome-keyring, or agree to a password file") from None
    except keyring.errors.KeyringLocked:
        raise KeyringUnavailable("the keyring is locked (or its unlock prompt was "
                                 "dismissed); unlock it and save again") from None
    except Exception as exc:
        raise SecretError(f"could not store the password in the keyring: {one_line(exc)}"
                          ) from None


def store_password_file(jid: str, password: str) -> Path:
    """Write the explicit opt-in fallback: a 0600 file in a 0700 folder, atomically.

    Call only after the user agreed to keep the password unencrypted on disk."""
    path = password_file(jid)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        write_atomically(path, password.encode("utf-8"), private=True)
    except OSError as exc:
        raise SecretError(f"could not write {path}: {exc.strerror or exc}") from None
    log.warning("the XMPP password for %s is stored unencrypted in %s", jid, path)
    return path


def delete_password_file(jid: str) -> None:
    """Remove the fallback file (e.g. once the password moved to the keyring)."""
    password_file(jid).unlink(missing_ok=True)


def _read_password_file(jid: str) -> str | None:
    path = password_file(jid)
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SecretError(f"cannot read {path}: {exc.strerror or exc}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(f"{path} is readable by other users; run chmod 600 {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read {path}: {exc}") from None
    if not text:
        return None
    log.warning("using the unencrypted XMPP password file %s; a keyring is safer", path)
    return text
