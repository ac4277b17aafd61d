"""How every git call is run so that it can never wait for a prompt, and how git's and
ssh's complaints about a remote are told apart. Shared by the sync loop and the wizard's
set-up steps: a prompt in a worker thread would hang forever."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from autosync_gui.disk_space import mentions_disk_full
from autosync_gui.engine.remote import KEYRING_MARK, RemoteError, RemoteProblem
from autosync_gui.engine.repository import DiskFull


@dataclass(frozen=True)
class GitResult:
    """One git run: exit status, raw stdout (file names are bytes), stderr text."""

    status: int
    out: bytes
    err: str

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def text(self) -> str:
        return os.fsdecode(self.out).strip()


SSH_OPTIONS = "-o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=15 " \
              "-o ServerAliveCountMax=3"


def noninteractive_env(ssh_command: str | None = None) -> dict[str, str]:
    """Environment for git: no terminal or askpass prompt, ssh in batch mode.

    `ssh_command` is the user's own ssh command (core.sshCommand); GIT_SSH_COMMAND from the
    environment wins, as it does for git itself. Our options are appended to it."""
    base = os.environ.get("GIT_SSH_COMMAND") or ssh_command or os.environ.get("GIT_SSH") or "ssh"
    return {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "SSH_ASKPASS_REQUIRE": "never",
        "GCM_INTERACTIVE": "never",
        "GIT_SSH_COMMAND": f"{base} {SSH_OPTIONS}",
    }


# git's and ssh's words for each problem, checked in this order (the first match wins:
# e.g. ssh's "Permission denied (publickey)" is an authentication failure, a plain
# "Permission denied" on a path is a refused write).
_PATTERNS: tuple[tuple[RemoteProblem, tuple[str, ...]], ...] = (
    (RemoteProblem.KEYRING, (KEYRING_MARK,)),
    (RemoteProblem.SERVER_FULL, ("no space left on device", "out of diskspace",
                                 "disk quota exceeded")),
    (RemoteProblem.HOST_KEY_CHANGED, ("remote host identification has changed",
                                      "host key for", "has changed and you have requested")),
    (RemoteProblem.HOST_KEY_UNKNOWN, ("host key verification failed",
                                      "host key is known for")),
    (RemoteProblem.TLS_UNTRUSTED, ("ssl certificate problem", "certificate verify failed",
                                   "server certificate verification failed")),
    (RemoteProblem.AUTH, ("permission denied (", "permission denied, please try again",
                          "authentication failed", "could not read username",
                          "could not read password", "terminal prompts disabled",
                          "invalid username or password", "too many authentication failures",
                          "returned error: 401", "error: 401")),
    (RemoteProblem.ACCESS_DENIED, (" denied by ",  # gitolite: "R any repo user DENIED by"
                                   "returned error: 403", "error: 403", "403 forbidden",
                                   "permission denied", "insufficient permission",
                                   "access denied", "read-only file system")),
    (RemoteProblem.UNREACHABLE, ("could not resolve host", "connection refused",
                                 "connection timed out", "no route to host",
                                 "network is unreachable", "could not connect", "failed to connect",
                                 "timed out", "name or service not known",
                                 "temporary failure in name resolution", "connection closed",
                                 "connection reset", "killed because it timed out",
                                 "stalled: no data")),
    (RemoteProblem.MISSING, ("does not appear to be a git repository", "repository not found",
                             "no such file or directory", "not a git repository", "not found",
                             "returned error: 404")),
)


def classify(stderr: str) -> RemoteProblem:
    low = stderr.lower()
    for problem, patterns in _PATTERNS:
        if any(p in low for p in patterns):
            return problem
    return RemoteProblem.OTHER


def remote_error(url: str, stderr: str) -> RemoteError:
    """git's complaint about `url` as a RemoteError: its class, git's most telling line."""
    problem = classify(stderr)
    detail = first_line(stderr)
    if problem is RemoteProblem.KEYRING:
        detail = next(line for line in stderr.splitlines() if KEYRING_MARK in line)
        detail = detail.split(KEYRING_MARK, 1)[1].lstrip(": ")
    return RemoteError(problem, url, detail)


# What git prints when the receiving side of a push failed to store what it was sent.
_SERVER_SIDE = ("unpack failed", "unpacker error", "remote rejected", "index-pack abnormal",
                "unpack-objects abnormal")


def disk_full_on_server(stderr: str, *, pushing: bool) -> bool:
    """Whether a transfer's complaint of a full disk comes from the remote's side. A
    fetch writes only here, so its full disk is ours unless the remote's own lines
    ("remote: ...") say it; a push writes only on the server, so its full disk is the
    server's whenever git says the other side failed to store what it was sent."""
    for line in stderr.splitlines():
        if mentions_disk_full(line) and line.lstrip().lower().startswith("remote:"):
            return True
    low = stderr.lower()
    return pushing and any(marker in low for marker in _SERVER_SIDE)


def transfer_error(url: str, stderr: str, local: Path, *, pushing: bool = False,
                   report: str = "") -> RemoteError | DiskFull:
    """A failed fetch or push: DiskFull when our own disk filled up (measured at
    `local`), else the remote's problem (a full disk there is SERVER_FULL). `report`
    is more of git's output to tell them apart (a push's porcelain status lines)."""
    text = f"{stderr}\n{report}" if report else stderr
    if not mentions_disk_full(text):
        return remote_error(url, stderr)
    if not disk_full_on_server(text, pushing=pushing):
        return DiskFull.measure(local, failed=True)
    return RemoteError(RemoteProblem.SERVER_FULL, url, first_line(stderr))


def first_line(stderr: str) -> str:
    """git's most telling line: the first that is not a hint or a warning."""
    for line in stderr.splitlines():
        line = line.strip()
        if line and not line.startswith(("hint:", "warning:")):
            for prefix in ("fatal: ", "error: ", "FATAL: ", "remote: "):
                line = line.removeprefix(prefix)
            return line
    return stderr.strip() or "no answer"
