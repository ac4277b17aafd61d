"""Remotes as the user names them: which transport an address uses, and the one table of
what can go wrong talking to a remote and what to do about it.

Every part that talks to a remote (the sync loop, the wizard's and the command line's
set-up) raises RemoteError with a RemoteProblem; callers branch on `problem`, never on the
text. The text says what to fix for the transport in use: an ssh key for ssh, a user name
and token for https, permissions for a path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path

from autosync_gui.engine.remote_url import without_credentials


class Transport(StrEnum):
    LOCAL = "local"  # a path or file:// URL
    SSH = "ssh"  # ssh://host/path or scp-like [user@]host:path
    HTTPS = "https"  # http:// or https://
    GIT = "git"  # git:// (read-only daemon)
    OTHER = "other"


@dataclass(frozen=True)
class RemoteAddress:
    url: str
    transport: Transport
    host: str | None = None
    port: int | None = None
    user: str | None = None
    path: str = ""

    def trust_host_args(self) -> str:
        """How `autosync trust-host` is called for this server."""
        port = f" --port {self.port}" if self.port else ""
        return f"{self.host}{port}"


_SCP_RE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\[[^\]]+\]|[^/:@]+):(?P<path>.*)$")
_URL_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<user>[^@/]*)@)?"
                     r"(?P<host>\[[^\]]+\]|[^/:]*)(?::(?P<port>\d*))?(?P<path>/.*)?$", re.I)


def parse_remote(url: str) -> RemoteAddress:
    """What kind of remote `url` is, and its host, port, user and path where it has them."""
    url = url.strip()
    m = _URL_RE.match(url)
    if m:
        scheme = m["scheme"].lower()
        transport = {"file": Transport.LOCAL, "ssh": Transport.SSH, "git+ssh": Transport.SSH,
                     "ssh+git": Transport.SSH, "http": Transport.HTTPS,
                     "https": Transport.HTTPS, "git": Transport.GIT}.get(scheme,
                                                                         Transport.OTHER)
        if transport is Transport.LOCAL:
            return RemoteAddress(url, transport, path=url.removeprefix("file://"))
        user = m["user"].split(":", 1)[0] if m["user"] else None
        return RemoteAddress(url, transport, host=(m["host"] or "").strip("[]") or None,
                             port=int(m["port"]) if m["port"] else None, user=user,
                             path=m["path"] or "/")
    colon, slash = url.find(":"), url.find("/")
    # scp-like user@host:path has a colon before any slash; anything else is a path
    if colon > 0 and (slash == -1 or colon < slash):
        s = _SCP_RE.match(url)
        if s:
            return RemoteAddress(url, Transport.SSH, host=s["host"].strip("[]"),
                                 user=s["user"], path=s["path"])
    return RemoteAddress(url, Transport.LOCAL, path=url)


def local_path(address: RemoteAddress) -> Path:
    return Path(address.path).expanduser()


# How our credential helper (credentials.py) starts its complaint about the keyring on
# git's stderr, so that a locked keyring is never taken for a wrong password.
KEYRING_MARK = "autosync credential: keyring"


class RemoteProblem(Enum):
    HOST_KEY_UNKNOWN = "host key not trusted"
    HOST_KEY_CHANGED = "host key changed"
    TLS_UNTRUSTED = "certificate not trusted"
    KEYRING = "keyring unavailable"  # our credential helper could not read the keyring
    AUTH = "authentication failed"  # who you are was not accepted
    ACCESS_DENIED = "access denied"  # who you are was accepted; this repository is refused
    UNREACHABLE = "unreachable"
    MISSING = "no repository there"
    SERVER_FULL = "server out of disk space"  # the remote's disk is full, not ours
    OTHER = "failed"


# Problems that go away by themselves (network back, disk plugged in): retried with
# back-off and shown as offline. Every other problem needs the user.
OFFLINE_PROBLEMS = frozenset({RemoteProblem.UNREACHABLE, RemoteProblem.MISSING})


def describe(problem: RemoteProblem, url: str, detail: str = "") -> str:
    """The one line for `problem` talking to `url`: what happened and what to fix (the
    URL shown without any password or token in it)."""
    url = without_credentials(url)
    address = parse_remote(url)
    transport = address.transport
    host = address.host or url
    why = f" ({detail})" if detail else ""
    if problem is RemoteProblem.HOST_KEY_UNKNOWN:
        return (f"host key not trusted for {url}: {host} is not in your known_hosts yet; "
                f"check its fingerprint and trust it (autosync trust-host "
                f"{address.trust_host_args()}, or the set-up wizard)")
    if problem is RemoteProblem.HOST_KEY_CHANGED:
        return (f"host key CHANGED for {url}: {host} presents a different key than the one "
                "you trusted, which may be an attack; sync stays stopped until its admin "
                f"confirms the new key and you remove the old one (ssh-keygen -R {host})")
    if problem is RemoteProblem.TLS_UNTRUSTED:
        return (f"TLS certificate not trusted for {url}{why}; install the server's CA "
                "certificate, or point git at it (git config http.sslCAInfo FILE)")
    if problem is RemoteProblem.KEYRING:
        return (f"cannot read the password for {url} from the keyring{why}; unlock the "
                "keyring or start one (e.g. gnome-keyring), then sync again")
    if problem is RemoteProblem.AUTH:
        if transport is Transport.HTTPS:
            return (f"authentication failed for {url}: the user name or password/token was "
                    "not accepted; enter them again in the set-up wizard, or store them with "
                    "`autosync credential store`")
        if transport is Transport.SSH:
            return (f"authentication failed for {url}: the server did not accept your ssh "
                    "key; add your public key (autosync ssh-key prints it) to the server "
                    "(authorized_keys, gitolite or the forge's SSH keys page)")
        return f"authentication failed for {url}{why}; check your credentials"
    if problem is RemoteProblem.ACCESS_DENIED:
        if transport is Transport.HTTPS:
            return (f"access denied for {url}: the server knows you but refuses this "
                    f"repository{why}; check that your account or token may read and write it")
        if transport is Transport.SSH:
            return (f"access denied for {url}: the server accepted your ssh key but refuses "
                    f"this repository{why}; ask its admin for read and write access")
        return (f"access denied for {url}{why}; check the repository's permissions "
                "(you need to write there)")
    if problem is RemoteProblem.UNREACHABLE:
        return (f"remote {url} unreachable: {detail or 'no answer'}; check the address and "
                "your network")
    if problem is RemoteProblem.SERVER_FULL:
        return (f"the server {url} is out of disk space{why}; nothing is lost, your "
                "changes wait here until its admin frees space (autosync retries by itself)")
    if problem is RemoteProblem.MISSING:
        return (f"no repository at {url}{why}; check the URL (a moved repository, or a "
                "disk that is not mounted?)")
    return f"remote {url}: {detail or 'failed'}"


class RemoteError(Exception):
    """Talking to the remote failed. `problem` says what; `offline` problems are retried
    with back-off, the others need the user. str() is one line with the fix."""

    def __init__(self, problem: RemoteProblem, url: str, detail: str = "") -> None:
        super().__init__(describe(problem, url, detail))
        self.problem = problem
        self.url = url
        self.detail = detail

    @property
    def offline(self) -> bool:
        return self.problem in OFFLINE_PROBLEMS
