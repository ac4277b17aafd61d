"""How every git call is run so that it can never wait for a prompt, and how git's and
ssh's complaints about a remote are told apart. Shared by the sync loop and the wizard's
set-up steps: a prompt in a worker thread would hang forever."""

from __future__ import annotations

import os
from dataclasses import dataclass

from autosync_gui.engine.remote import KEYRING_MARK, RemoteError, RemoteProblem


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


def first_line(stderr: str) -> str:
    """git's most telling line: the first that is not a hint or a warning."""
    for line in stderr.splitlines():
        line = line.strip()
        if line and not line.startswith(("hint:", "warning:")):
            for prefix in ("fatal: ", "error: ", "FATAL: ", "remote: "):
                line = line.removeprefix(prefix)
            return line
    return stderr.strip() or "no answer"
