"""git over ssh to a real OpenSSH server on 127.0.0.1: works, and fails clearly, never hangs."""

from __future__ import annotations

import time

import pytest

from autosync_gui.engine.events import ActivityKind, FolderState
from autosync_gui.engine.gitrepo import GitRepository
from autosync_gui.engine.repository import RemoteError
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.sshd import SshServer, _keygen


@pytest.fixture
def ssh_clone(remote: Remote, sshd: SshServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command())
    dest = remote.base / "over-ssh"
    git(remote.base, "clone", "-q", sshd.url(remote.bare), str(dest))
    return dest


async def test_sync_over_ssh(remote: Remote, ssh_clone, start_engine) -> None:
    engine, rec = await start_engine(ssh_clone)
    (ssh_clone / "via-ssh.txt").write_text("over ssh\n")
    await rec.until(lambda: remote.tree_files().get("via-ssh.txt") == b"over ssh\n",
                    what="pushed over ssh")


def test_wrong_key_is_authentication_failed(remote, ssh_clone, sshd, monkeypatch, tmp_path) -> None:
    other = tmp_path / "other_key"
    _keygen(other)
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command(key=other))
    repo = GitRepository.open(ssh_clone, "h")
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        repo.fetch()
    assert time.monotonic() - started < 20, "must not hang on a prompt"
    assert "authentication failed" in str(info.value) and not info.value.offline
    repo.release()


def test_unknown_host_key_is_not_trusted(remote, ssh_clone, sshd, monkeypatch, tmp_path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command(known_hosts=empty))
    repo = GitRepository.open(ssh_clone, "h")
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        repo.fetch()
    assert time.monotonic() - started < 20
    assert "host key not trusted" in str(info.value) and not info.value.offline
    assert empty.read_text() == "", "an unknown host key is never accepted silently"
    repo.release()


async def test_auth_failure_is_error_state(remote, ssh_clone, sshd, monkeypatch, tmp_path,
                                           start_engine) -> None:
    other = tmp_path / "other_key"
    _keygen(other)
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command(key=other))
    engine, rec = await start_engine(ssh_clone)
    await rec.until(lambda: engine.folder(ssh_clone).state == FolderState.ERROR, what="error")
    assert "authentication failed" in engine.folder(ssh_clone).detail
    errors = rec.of(ActivityKind.ERROR)
    assert len(errors) == 1 and "authentication failed" in errors[0].summary
