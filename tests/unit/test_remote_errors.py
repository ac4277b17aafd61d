"""How git's and ssh's complaints about a remote are classified (engine/git_env.py) into
the one table of remote problems (engine/remote.py), with the messages git 2.39 and OpenSSH
really print."""

from __future__ import annotations

import pytest

from autosync_gui.engine.git_env import classify, first_line, noninteractive_env
from autosync_gui.engine.remote import OFFLINE_PROBLEMS, RemoteError, RemoteProblem


@pytest.mark.parametrize(("stderr", "problem"), [
    ("Host key verification failed.\nfatal: Could not read from remote repository.",
     RemoteProblem.HOST_KEY_UNKNOWN),
    ("@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n",
     RemoteProblem.HOST_KEY_CHANGED),
    ("fatal: unable to access 'https://x/': server certificate verification failed. "
     "CAfile: none CRLfile: none", RemoteProblem.TLS_UNTRUSTED),
    ("git@example.org: Permission denied (publickey).\nfatal: Could not read from remote "
     "repository.", RemoteProblem.AUTH),
    ("fatal: could not read Username for 'https://example.org': terminal prompts disabled",
     RemoteProblem.AUTH),
    ("remote: Invalid username or password.\nfatal: Authentication failed for 'https://x/'",
     RemoteProblem.AUTH),
    # who you are was accepted, this repository is refused
    ("fatal: unable to access 'https://x/r.git/': The requested URL returned error: 403",
     RemoteProblem.ACCESS_DENIED),
    ("ssh: Could not resolve hostname nowhere.invalid: Name or service not known",
     RemoteProblem.UNREACHABLE),
    ("ssh: connect to host 127.0.0.1 port 1: Connection refused", RemoteProblem.UNREACHABLE),
    ("ssh: connect to host 10.9.9.9 port 22: Connection timed out", RemoteProblem.UNREACHABLE),
    ("fatal: unable to access 'https://x/': Failed to connect to x port 443: No route to host",
     RemoteProblem.UNREACHABLE),
    ("fatal: unable to access 'https://x/': Could not resolve host: x", RemoteProblem.UNREACHABLE),
    ("Connection closed by 127.0.0.1 port 2222", RemoteProblem.UNREACHABLE),
    ("fatal: '/srv/none.git' does not appear to be a git repository\nfatal: Could not read "
     "from remote repository.", RemoteProblem.MISSING),
    ("remote: Repository not found.\nfatal: repository 'https://x/none.git/' not found",
     RemoteProblem.MISSING),
    ("fatal: unable to access 'https://x/': The requested URL returned error: 404 Not Found",
     RemoteProblem.MISSING),
    ("error: failed to push some refs to '/srv/r.git'", RemoteProblem.OTHER),
    ("", RemoteProblem.OTHER),
])
def test_classify(stderr: str, problem: RemoteProblem) -> None:
    assert classify(stderr) == problem


def test_the_first_matching_kind_wins() -> None:
    # ssh says both; the host key is what the user must act on
    both = "Host key verification failed.\nPermission denied (publickey)."
    assert classify(both) == RemoteProblem.HOST_KEY_UNKNOWN


@pytest.mark.parametrize("problem", list(RemoteProblem))
def test_only_network_and_missing_remotes_are_retried_by_themselves(problem: RemoteProblem) -> None:
    error = RemoteError(problem, "ssh://alice:secret@example.org/r.git", "detail")
    assert error.offline is (problem in {RemoteProblem.UNREACHABLE, RemoteProblem.MISSING})
    assert OFFLINE_PROBLEMS == {RemoteProblem.UNREACHABLE, RemoteProblem.MISSING}
    assert "secret" not in str(error) and "\n" not in str(error)


@pytest.mark.parametrize(("stderr", "line"), [
    ("fatal: repository 'x' not found\n", "repository 'x' not found"),
    ("hint: Updates were rejected\nerror: failed to push some refs to 'r'",
     "failed to push some refs to 'r'"),
    ("warning: redirecting to https://x/\n\nfatal: Authentication failed",
     "Authentication failed"),
    ("hint: only a hint", "hint: only a hint"),
    ("   ", "no answer"),
])
def test_first_line(stderr: str, line: str) -> None:
    assert first_line(stderr) == line


@pytest.mark.parametrize(("user_ssh", "environ", "starts"), [
    (None, {}, "ssh "),
    ("ssh -F /my/config", {}, "ssh -F /my/config "),
    ("ssh -F /my/config", {"GIT_SSH_COMMAND": "ssh -i key"}, "ssh -i key "),
    (None, {"GIT_SSH": "/usr/bin/myssh"}, "/usr/bin/myssh "),
])
def test_noninteractive_env_never_prompts(user_ssh: str | None, environ: dict[str, str],
                                          starts: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GIT_SSH_COMMAND", "GIT_SSH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    env = noninteractive_env(user_ssh)
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["SSH_ASKPASS_REQUIRE"] == "never"
    assert env["GIT_SSH_COMMAND"].startswith(starts)
    assert "-o BatchMode=yes" in env["GIT_SSH_COMMAND"]
