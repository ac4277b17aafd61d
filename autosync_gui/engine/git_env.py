"""How every git call is run so that it can never wait for a prompt, and how git's and
ssh's complaints about a remote are told apart. Shared by the sync loop and the wizard's
set-up steps: a prompt in a worker thread would hang forever."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum


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


class RemoteProblem(Enum):
    HOST_KEY = "host key not trusted"
    AUTH = "authentication failed"
    UNREACHABLE = "unreachable"
    MISSING = "no repository there"
    OTHER = "failed"


_PATTERNS: tuple[tuple[RemoteProblem, tuple[str, ...]], ...] = (
    (RemoteProblem.HOST_KEY, ("host key verification failed",
                              "remote host identification has changed")),
    (RemoteProblem.AUTH, ("permission denied", "authentication failed", "could not read username",
                          "could not read password", "terminal prompts disabled",
                          "invalid username or password", "access denied", "error: 401",
                          "error: 403")),
    (RemoteProblem.UNREACHABLE, ("could not resolve host", "connection refused",
                                 "connection timed out", "no route to host",
                                 "network is unreachable", "could not connect", "failed to connect",
                                 "timed out", "name or service not known",
                                 "temporary failure in name resolution", "connection closed",
                                 "connection reset", "killed because it timed out")),
    (RemoteProblem.MISSING, ("does not appear to be a git repository", "repository not found",
                             "no such file or directory", "not a git repository", "not found")),
)


def classify(stderr: str) -> RemoteProblem:
    low = stderr.lower()
    for problem, patterns in _PATTERNS:
        if any(p in low for p in patterns):
            return problem
    return RemoteProblem.OTHER


def first_line(stderr: str) -> str:
    """git's most telling line: the first that is not a hint or a warning."""
    for line in stderr.splitlines():
        line = line.strip()
        if line and not line.startswith(("hint:", "warning:")):
            return line.removeprefix("fatal: ").removeprefix("error: ")
    return stderr.strip() or "no answer"
