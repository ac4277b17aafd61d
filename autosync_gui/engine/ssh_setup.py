"""SSH without a terminal: the key git will use (and creating one when asked), and a
server's host key shown as its SHA256 fingerprint and trusted the way `ssh` would trust
it (hashed when the user's configuration hashes known_hosts). A *changed* host key is
never replaced here: that is the one case ssh itself refuses, and so do we.

Everything follows the user's own ssh set-up: `ssh -G` tells the effective configuration
(~/.ssh/config, or the file of GIT_SSH_COMMAND / core.sshCommand), so an alias, a port,
an IdentityFile or a UserKnownHostsFile set there is honoured. Blocking; for a worker
thread or the command line."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
import shlex
import socket
import subprocess
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

SCAN_TIMEOUT = 15
# The order ssh prefers host keys in, and in which we show and trust them.
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "rsa-sha2-512", "ssh-rsa")
_KEYSCAN_TYPES = "ed25519,ecdsa,rsa"


class SshSetupError(Exception):
    """str() is one line naming the thing and the fix."""


def _home() -> Path:
    """ssh's ~: the passwd entry's home (it does not read $HOME)."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def _expand(path: str) -> Path:
    if path == "~" or path.startswith("~/"):
        return _home() / path[2:]
    return Path(path)


def ssh_base_command() -> list[str]:
    """The ssh command git would run, without our batch options: GIT_SSH_COMMAND, else
    core.sshCommand from the user's git configuration, else GIT_SSH, else ssh."""
    command = os.environ.get("GIT_SSH_COMMAND")
    if not command:
        found = subprocess.run(["git", "config", "--get", "core.sshCommand"],
                               capture_output=True, text=True, check=False)
        command = found.stdout.strip() or os.environ.get("GIT_SSH") or "ssh"
    return shlex.split(command)


@dataclass(frozen=True)
class SshTarget:
    """A server as the user's ssh configuration sees it."""

    alias: str  # what the user typed (a Host alias or a host name)
    hostname: str
    port: int
    user: str
    host_key_alias: str | None
    identity_files: tuple[Path, ...]
    known_hosts_files: tuple[Path, ...]
    global_known_hosts_files: tuple[Path, ...]
    hash_known_hosts: bool

    @property
    def known_hosts_name(self) -> str:
        """The name ssh looks up in known_hosts for this server."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def resolve(host: str, port: int | None = None) -> SshTarget:
    """Ask `ssh -G` what it would do for `host` (nothing is sent to the network)."""
    host = host.strip()
    if not host or host.startswith("-") or any(c.isspace() for c in host):
        raise SshSetupError(f"host {host!r}: not a host name; give a name such as "
                            "server.example.org or an alias from ~/.ssh/config")
    command = [*ssh_base_command(), "-G"]
    if port is not None:
        command += ["-p", str(port)]
    result = subprocess.run([*command, "--", host], capture_output=True, text=True,
                            check=False, timeout=SCAN_TIMEOUT)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise SshSetupError(f"host {host}: ssh cannot read its configuration ({first}); "
                            "fix ~/.ssh/config")
    values: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        values.setdefault(key.lower(), []).append(value)

    def one(key: str, default: str = "") -> str:
        return values.get(key, [default])[0]

    def paths(key: str) -> tuple[Path, ...]:
        return tuple(_expand(p) for v in values.get(key, []) for p in v.split())

    alias = one("hostkeyalias")
    return SshTarget(alias=host, hostname=one("hostname", host), port=int(one("port", "22")),
                     user=one("user"), host_key_alias=alias or None,
                     identity_files=paths("identityfile"),
                     known_hosts_files=paths("userknownhostsfile"),
                     global_known_hosts_files=paths("globalknownhostsfile"),
                     hash_known_hosts=one("hashknownhosts") == "yes")


# ---------------------------------------------------------------------------- keys

@dataclass(frozen=True)
class PublicKey:
    path: Path | None  # None: held by the ssh agent only
    text: str  # one line: "ssh-ed25519 AAAA... comment"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.text.split()[1])


def fingerprint(blob_base64: str) -> str:
    """SHA256:… as ssh prints it."""
    digest = hashlib.sha256(base64.b64decode(blob_base64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def public_keys(target: SshTarget) -> list[PublicKey]:
    """The keys ssh offers this server: the agent's, then the identity files that exist."""
    keys: list[PublicKey] = []
    if os.environ.get("SSH_AUTH_SOCK"):
        agent = subprocess.run(["ssh-add", "-L"], capture_output=True, text=True, check=False,
                               timeout=SCAN_TIMEOUT)
        if agent.returncode == 0:
            keys += [PublicKey(None, line.strip()) for line in agent.stdout.splitlines()
                     if line.strip().startswith(("ssh-", "ecdsa-", "sk-"))]
    for identity in target.identity_files:
        pub = identity.with_name(identity.name + ".pub")
        if identity.is_file() and pub.is_file():
            text = pub.read_text(encoding="utf-8", errors="replace").strip()
            if text and all(k.text.split()[:2] != text.split()[:2] for k in keys):
                keys.append(PublicKey(identity, text))
    return keys


def key_to_create(target: SshTarget) -> Path:
    """Where a new key goes: the configured ed25519 identity file (or the first one)."""
    files = target.identity_files or (_home() / ".ssh" / "id_ed25519",)
    return next((f for f in files if f.name == "id_ed25519"),
                next((f for f in files if "ed25519" in f.name and "_sk" not in f.name),
                     files[0]))


def create_key(path: Path) -> PublicKey:
    """Create an ed25519 key without a passphrase at `path` (never over an existing one)."""
    if path.exists() or path.with_name(path.name + ".pub").exists():
        raise SshSetupError(f"{path}: a key is already there; use it, or remove it first")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    comment = f"autosync@{socket.gethostname().split('.')[0] or 'localhost'}"
    result = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                             "-f", str(path)], capture_output=True, text=True, check=False,
                            stdin=subprocess.DEVNULL, timeout=SCAN_TIMEOUT)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise SshSetupError(f"{path}: ssh-keygen failed ({first}); check the folder's "
                            "permissions")
    text = path.with_name(path.name + ".pub").read_text(encoding="utf-8").strip()
    return PublicKey(path, text)


# ---------------------------------------------------------------------------- host keys

@dataclass(frozen=True)
class HostKey:
    key_type: str
    blob: str  # base64

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)

    @property
    def short_type(self) -> str:
        return self.key_type.removeprefix("ssh-").split("-")[0].upper()


class HostKeyState(StrEnum):
    TRUSTED = "trusted"
    UNKNOWN = "unknown"
    CHANGED = "changed"


@dataclass(frozen=True)
class HostCheck:
    target: SshTarget
    offered: HostKey  # the key ssh will be shown (the preferred type the server has)
    state: HostKeyState
    known_as: list[HostKey] = field(default_factory=list)  # what known_hosts has instead


def scan(target: SshTarget) -> list[HostKey]:
    """The server's host keys, by asking it (ssh-keyscan: no login, nothing written)."""
    result = subprocess.run(["ssh-keyscan", "-T", str(SCAN_TIMEOUT), "-p", str(target.port),
                             "-t", _KEYSCAN_TYPES, "--", target.hostname],
                            capture_output=True, text=True, check=False,
                            timeout=SCAN_TIMEOUT * 3)
    keys = []
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            keys.append(HostKey(parts[1], parts[2]))
    if not keys:
        raise SshSetupError(f"host {target.alias}: no ssh server answered at "
                            f"{target.hostname} port {target.port}; check the address and "
                            "your network")
    return sorted(keys, key=lambda k: KEY_TYPES.index(k.key_type)
                  if k.key_type in KEY_TYPES else len(KEY_TYPES))


def _known(target: SshTarget) -> list[HostKey]:
    """What the known_hosts files say about this server (hashed entries included)."""
    found: list[HostKey] = []
    for path in (*target.known_hosts_files, *target.global_known_hosts_files):
        if not path.is_file():
            continue
        result = subprocess.run(["ssh-keygen", "-F", target.known_hosts_name, "-f", str(path)],
                                capture_output=True, text=True, check=False,
                                timeout=SCAN_TIMEOUT)
        for line in result.stdout.splitlines():
            parts = line.split()
            if line.startswith("#") or len(parts) < 3:
                continue
            if parts[0].startswith("@"):  # @revoked / @cert-authority: treat as not ours
                continue
            found.append(HostKey(parts[1], parts[2]))
    return found


def check_host(host: str, port: int | None = None) -> HostCheck:
    """Scan the server and compare with known_hosts: trusted, unknown or CHANGED."""
    target = resolve(host, port)
    offered = scan(target)
    known = _known(target)
    blobs = {(k.key_type, k.blob) for k in known}
    for key in offered:
        if (key.key_type, key.blob) in blobs:
            return HostCheck(target, key, HostKeyState.TRUSTED)
    if known:
        return HostCheck(target, offered[0], HostKeyState.CHANGED, known)
    return HostCheck(target, offered[0], HostKeyState.UNKNOWN)


def _hashed_name(name: str) -> str:
    salt = secrets.token_bytes(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def trust(check: HostCheck) -> Path:
    """Add the offered key to the user's known_hosts as ssh would; returns the file.
    Refuses a changed key (the old one must be removed by the user, knowingly)."""
    if check.state is HostKeyState.CHANGED:
        raise SshSetupError(changed_warning(check))
    target = check.target
    if check.state is HostKeyState.TRUSTED:
        return target.known_hosts_files[0] if target.known_hosts_files else \
            _home() / ".ssh" / "known_hosts"
    path = target.known_hosts_files[0] if target.known_hosts_files else \
        _home() / ".ssh" / "known_hosts"
    name = target.known_hosts_name
    entry = _hashed_name(name) if target.hash_known_hosts else name
    line = f"{entry} {check.offered.key_type} {check.offered.blob}\n"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = path.read_bytes() if path.exists() else b""
    with path.open("a", encoding="utf-8") as fh:
        if existing and not existing.endswith(b"\n"):
            fh.write("\n")
        fh.write(line)
    return path


def changed_warning(check: HostCheck) -> str:
    target = check.target
    return (f"host key CHANGED for {target.alias}: it now presents {check.offered.short_type} "
            f"{check.offered.fingerprint}, not the key you trusted before; this may be an "
            "attack, so nothing was changed. Ask the server's admin whether its key really "
            f"changed; only then remove the old one (ssh-keygen -R '{target.known_hosts_name}')")
