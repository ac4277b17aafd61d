"""HTTPS user names and tokens for git remotes, kept in the system keyring and handed to
git through its credential-helper protocol (`autosync credential get|store|erase`).

The helper is registered for one remote only (`credential.<url>.helper` in that
repository's config, after an empty entry that drops any other helper for that URL, so a
plaintext `store` helper of the user's never receives the token). The secret never
appears in a config file, a URL, an argument list, an environment or the log: git asks
the helper over a pipe, and the helper reads the keyring.

One keyring item per remote: service `autosync-git`, user = the remote's
`protocol://host/path`, secret = the user name and the password/token."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import keyring
import keyring.errors

from autosync_gui.engine.remote import KEYRING_MARK
from autosync_gui.text import one_line

log = logging.getLogger(__name__)

SERVICE = "autosync-git"


class CredentialError(Exception):
    """The keyring cannot be used; str() is one line naming it and the fix."""


class KeyringLockedError(CredentialError):
    """The keyring exists but is locked (or its unlock prompt was dismissed)."""


@dataclass(frozen=True)
class Credential:
    username: str
    password: str


def remote_key(url: str) -> str:
    """`protocol://host[:port]/path` of an http(s) URL: what git sends the helper for it
    with useHttpPath (user name, query and trailing slash left out)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme.lower()}://{host.lower()}/{parts.path.strip('/')}"


def _key_from_request(fields: dict[str, str]) -> str | None:
    if "url" in fields:
        return remote_key(fields["url"])
    if "protocol" not in fields or "host" not in fields:
        return None
    return f"{fields['protocol'].lower()}://{fields['host'].lower()}/" \
           f"{fields.get('path', '').strip('/')}"


def _keyring_failure(exc: BaseException) -> CredentialError:
    if isinstance(exc, keyring.errors.KeyringLocked):
        return KeyringLockedError("the keyring is locked (or its unlock prompt was "
                                  "dismissed); unlock it, e.g. by logging in to the desktop")
    if isinstance(exc, keyring.errors.NoKeyringError):
        return CredentialError("no system keyring is available (no Secret Service on the "
                               "D-Bus session); start one such as gnome-keyring")
    return CredentialError(f"the keyring failed ({one_line(exc)}); check that it runs and "
                           "is unlocked")


def load(url: str) -> Credential | None:
    """The stored credential for the remote at `url`, if any. Raises CredentialError."""
    return _load_key(remote_key(url))


def _load_key(key: str) -> Credential | None:
    try:
        raw = keyring.get_password(SERVICE, key)
    except Exception as exc:  # D-Bus errors surface as backend-specific exceptions
        raise _keyring_failure(exc) from None
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return Credential(str(data["username"]), str(data["password"]))
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring an unreadable keyring item for %s", key)
        return None


def save(url: str, credential: Credential) -> None:
    """Store the credential for the remote at `url`. Raises CredentialError."""
    _save_key(remote_key(url), credential)


def _save_key(key: str, credential: Credential) -> None:
    secret = json.dumps({"username": credential.username, "password": credential.password})
    try:
        keyring.set_password(SERVICE, key, secret)
    except Exception as exc:
        raise _keyring_failure(exc) from None


def forget(url: str) -> None:
    """Remove the stored credential for `url` (nothing stored is fine)."""
    _forget_key(remote_key(url))


def _forget_key(key: str) -> None:
    try:
        keyring.delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        return
    except Exception as exc:
        raise _keyring_failure(exc) from None


# ---------------------------------------------------------------------------- registration

def helper_command() -> str:
    """How git should start our helper: the installed `autosync` script when there is
    one (it survives a venv being moved), else this interpreter with -m."""
    script = shutil.which("autosync")
    if script is None:
        beside = Path(sys.executable).with_name("autosync")
        script = str(beside) if beside.exists() else None
    if script is not None and " " not in script:
        return f"{script} credential"
    # git runs a helper value with spaces through the shell: quote the paths.
    python = sys.executable.replace("'", "'\\''")
    return f"!'{python}' -m autosync_gui credential"


def config_args(url: str) -> list[str]:
    """git `-c` options that make `url` use only our helper (for a clone, these land in
    the new repository's config; for a check, they apply to that one command)."""
    entries = helper_config(url)
    return [arg for key, value in entries for arg in ("-c", f"{key}={value}")]


def helper_config(url: str) -> list[tuple[str, str]]:
    """The config entries registering our helper for `url` only, in order."""
    section = f"credential.{url.strip()}"
    return [(f"{section}.helper", ""), (f"{section}.helper", helper_command()),
            (f"{section}.useHttpPath", "true")]


# ---------------------------------------------------------------------------- the protocol

def read_request(stream: Iterable[str]) -> dict[str, str]:
    """git's `key=value` lines up to a blank line or the end."""
    fields: dict[str, str] = {}
    for line in stream:
        line = line.rstrip("\n")
        if not line:
            break
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value
    return fields


def run_helper(action: str, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """`autosync credential ACTION`: git's credential-helper protocol on the keyring.

    get: print username and password for the remote, or nothing; store: keep what git
    says worked; erase: drop it when git says it was refused (only if it is the stored
    one). Keyring problems go to stderr (git shows them) and never stop git."""
    if action not in ("get", "store", "erase"):
        print(f"autosync credential: unknown action {action!r}; git calls it with get, "
              "store or erase", file=stderr)
        return 2
    fields = read_request(stdin)
    key = _key_from_request(fields)
    if key is None or fields.get("protocol", "https").lower() not in ("http", "https"):
        return 0
    try:
        if action == "get":
            found = _load_key(key)
            if found is not None and fields.get("username") in (None, found.username):
                stdout.write(f"username={found.username}\npassword={found.password}\n")
        elif action == "store":
            if fields.get("username") and fields.get("password"):
                given = Credential(fields["username"], fields["password"])
                if _load_key(key) != given:  # git says so after every success
                    _save_key(key, given)
        else:
            found = _load_key(key)
            if found is not None and fields.get("password") in (None, found.password):
                _forget_key(key)
    except CredentialError as exc:
        print(f"{KEYRING_MARK}: {exc}", file=stderr)
    return 0
