"""SSH without a terminal, against the real sshd fixture: `autosync trust-host` shows the
SHA256 fingerprint and writes known_hosts as ssh would (hashed when configured), a
changed host key is refused, and `autosync ssh-key [--create]` prints (or makes) the key
the user's ssh set-up will offer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autosync_gui.engine import setup, ssh_setup
from autosync_gui.engine.remote import RemoteError, RemoteProblem
from tests.fixtures.git_remotes import Remote
from tests.fixtures.sshd import SshServer, _keygen


def autosync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autosync_gui", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=False, timeout=60)


def user_config(sshd: SshServer, tmp_path: Path, *, known_hosts: Path,
                identity: Path | None = None, extra: str = "") -> str:
    """A user's ~/.ssh/config for the test server (as GIT_SSH_COMMAND "ssh -F FILE")."""
    text = sshd.client_config.read_text().replace(
        f"UserKnownHostsFile {sshd.known_hosts}", f"UserKnownHostsFile {known_hosts}")
    if identity is not None:
        text = text.replace(f"IdentityFile {sshd.client_key}", f"IdentityFile {identity}")
    path = tmp_path / "ssh_config"
    path.write_text(text + extra)
    return f"ssh -F {path}"


def host_fingerprint(sshd: SshServer) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(sshd.dir / "host_key.pub")],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


@pytest.mark.parametrize("hashed", [False, True])
def test_trust_unknown_host(remote: Remote, sshd: SshServer, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch, hashed: bool) -> None:
    known = tmp_path / "known_hosts"
    extra = "    HashKnownHosts yes\n" if hashed else ""
    monkeypatch.setenv("GIT_SSH_COMMAND", user_config(sshd, tmp_path, known_hosts=known,
                                                      extra=extra))
    url = sshd.url(remote.bare)
    with pytest.raises(RemoteError) as info:
        setup.check_remote(url)
    assert info.value.problem is RemoteProblem.HOST_KEY_UNKNOWN
    assert "autosync trust-host autosync-test" in str(info.value)
    assert not known.exists()

    refused = autosync("trust-host", "autosync-test")  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert not known.exists(), "nothing written without consent"

    done = autosync("trust-host", "autosync-test", "--yes")
    assert done.returncode == 0, done.stderr
    assert host_fingerprint(sshd) in done.stdout
    entry = known.read_text()
    assert entry.startswith("|1|") if hashed else entry.startswith(f"[127.0.0.1]:{sshd.port} ")
    assert setup.check_remote(url) == ["main"], "ssh itself now trusts the server"
    again = autosync("trust-host", "autosync-test", "--yes")
    assert again.returncode == 0 and known.read_text() == entry, "trusted once, not twice"


def test_changed_host_key_is_refused(remote: Remote, sshd: SshServer, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    impostor = tmp_path / "impostor"
    _keygen(impostor)
    key_type, blob = impostor.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {blob}\n")
    before = known.read_text()
    monkeypatch.setenv("GIT_SSH_COMMAND", user_config(sshd, tmp_path, known_hosts=known))
    with pytest.raises(RemoteError) as info:
        setup.check_remote(sshd.url(remote.bare))
    assert info.value.problem is RemoteProblem.HOST_KEY_CHANGED
    assert "trust-host" not in str(info.value), "never offered for one-click acceptance"
    result = autosync("trust-host", "autosync-test", "--yes")
    assert result.returncode == 2
    assert "host key CHANGED" in result.stderr and host_fingerprint(sshd) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert known.read_text() == before
    check = ssh_setup.check_host("autosync-test")
    with pytest.raises(ssh_setup.SshSetupError):
        ssh_setup.trust(check)


def test_ssh_key_create_and_use(remote: Remote, sshd: SshServer, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    identity = tmp_path / "keys" / "id_ed25519"
    monkeypatch.setenv("GIT_SSH_COMMAND", user_config(sshd, tmp_path, known_hosts=sshd.known_hosts,
                                                      identity=identity))
    missing = autosync("ssh-key", "--host", "autosync-test")
    assert missing.returncode == 2 and "--create" in missing.stderr
    assert not identity.exists()

    created = autosync("ssh-key", "--create", "--host", "autosync-test")
    assert created.returncode == 0, created.stderr
    public = identity.with_name("id_ed25519.pub").read_text().strip()
    assert created.stdout.strip() == public and public.startswith("ssh-ed25519 ")
    assert "authorized_keys" in created.stderr
    assert oct(identity.stat().st_mode & 0o777) == "0o600"

    again = autosync("ssh-key", "--create", "--host", "autosync-test")
    assert again.stdout.strip() == public, "an existing key is shown, never replaced"

    with pytest.raises(RemoteError) as info:
        setup.check_remote(sshd.url(remote.bare))
    assert info.value.problem is RemoteProblem.AUTH
    sshd.authorize(identity.with_name("id_ed25519.pub"))  # pasted on the server
    assert setup.check_remote(sshd.url(remote.bare)) == ["main"]
