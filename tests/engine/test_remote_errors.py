"""Remote problems are told apart by class, and each message says what to fix for the
transport in use: the table of git's and ssh's words, then real servers (sshd with a
gitolite-style refusal, an HTTP server answering 403) through the set-up and the sync
loop."""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autosync_gui.engine import setup
from autosync_gui.engine.events import ActivityKind, FolderState
from autosync_gui.engine.git_env import classify, remote_error
from autosync_gui.engine.headless_log import HeadlessLog
from autosync_gui.engine.remote import (
    RemoteError,
    RemoteProblem,
    Transport,
    describe,
    parse_remote,
)
from autosync_gui.log_levels import set_library_levels
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.sshd import SshServer, _keygen

P = RemoteProblem

# What git and ssh really print (collected from git 2.39, OpenSSH 9.2, gitolite 3.6,
# lighttpd + git http-backend), and the class each must get.
STDERR_TABLE = [
    ("Host key verification failed.\nfatal: Could not read from remote repository.",
     P.HOST_KEY_UNKNOWN),
    ("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict "
     "checking.\nHost key verification failed.", P.HOST_KEY_UNKNOWN),
    ("@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
     "Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.\n"
     "Host key verification failed.", P.HOST_KEY_CHANGED),
    ("git@127.0.0.1: Permission denied (publickey).\nfatal: Could not read from remote "
     "repository.", P.AUTH),
    ("FATAL: R any files alice DENIED by fallthru\n(or you mis-spelled the reponame)\n"
     "fatal: Could not read from remote repository.", P.ACCESS_DENIED),
    ("remote: FATAL: W any files alice DENIED by fallthru", P.ACCESS_DENIED),
    ("fatal: unable to access 'https://h/x.git/': The requested URL returned error: 403",
     P.ACCESS_DENIED),
    ("fatal: could not read Username for 'https://h': terminal prompts disabled", P.AUTH),
    ("remote: Invalid username or password.\nfatal: Authentication failed for "
     "'https://h/x.git/'", P.AUTH),
    ("fatal: unable to access 'https://h/x.git/': SSL certificate problem: self-signed "
     "certificate", P.TLS_UNTRUSTED),
    ("fatal: unable to access 'https://h/x.git/': Could not resolve host: h", P.UNREACHABLE),
    ("ssh: connect to host 127.0.0.1 port 1: Connection refused", P.UNREACHABLE),
    ("fatal: '/gone.git' does not appear to be a git repository", P.MISSING),
    ("fatal: repository 'https://h/x.git/' not found", P.MISSING),
    ("error: insufficient permission for adding an object to repository database "
     "./objects", P.ACCESS_DENIED),
    ("fatal: Unable to create temporary file '/srv/x.git/objects/pack/tmp_pack_X': "
     "Permission denied", P.ACCESS_DENIED),
    ("fatal: the remote end hung up unexpectedly, for no stated reason", P.OTHER),
]


@pytest.mark.parametrize(("stderr", "problem"), STDERR_TABLE)
def test_classification_table(stderr: str, problem: RemoteProblem) -> None:
    assert classify(stderr) is problem


ADDRESSES = [
    ("/srv/files.git", Transport.LOCAL, None, None, None),
    ("file:///srv/files.git", Transport.LOCAL, None, None, None),
    ("~/remote/files.git", Transport.LOCAL, None, None, None),
    ("./a:b/files.git", Transport.LOCAL, None, None, None),
    ("alice@server:files.git", Transport.SSH, "server", None, "alice"),
    ("server:files.git", Transport.SSH, "server", None, None),
    ("ssh://git@server:2222/srv/files.git", Transport.SSH, "server", 2222, "git"),
    ("https://alice@forge.example/alice/files.git", Transport.HTTPS, "forge.example", None,
     "alice"),
    ("http://127.0.0.1:8080/files.git", Transport.HTTPS, "127.0.0.1", 8080, None),
    ("git://server/files.git", Transport.GIT, "server", None, None),
]


@pytest.mark.parametrize(("url", "transport", "host", "port", "user"), ADDRESSES)
def test_parse_remote(url: str, transport: Transport, host: str | None, port: int | None,
                      user: str | None) -> None:
    address = parse_remote(url)
    assert (address.transport, address.host, address.port, address.user) == \
        (transport, host, port, user)


def test_messages_name_the_fix_for_the_transport() -> None:
    https, ssh, path = "https://h/x.git", "alice@h:x.git", "/srv/x.git"
    assert "ssh" not in describe(P.AUTH, https).lower()
    assert "token" in describe(P.AUTH, https)
    assert "ssh key" in describe(P.AUTH, ssh)
    assert describe(P.ACCESS_DENIED, https).startswith(f"access denied for {https}")
    assert "ssh" not in describe(P.ACCESS_DENIED, https).lower()
    assert "permissions" in describe(P.ACCESS_DENIED, path)
    assert "autosync trust-host h" in describe(P.HOST_KEY_UNKNOWN, ssh)
    assert "--port 2222" in describe(P.HOST_KEY_UNKNOWN, "ssh://h:2222/x.git")
    assert "trust-host" not in describe(P.HOST_KEY_CHANGED, ssh)
    for problem in P:
        for url in (https, ssh, path):
            text = describe(problem, url, "detail")
            assert "\n" not in text and url in text


def test_offline_only_for_problems_that_pass_by_themselves() -> None:
    offline = {p for p in P if RemoteError(p, "/x").offline}
    assert offline == {P.UNREACHABLE, P.MISSING}


# ---------------------------------------------------------------- a real HTTP 403

@pytest.fixture
def http_forbidden() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that refuses everyone with 403 Forbidden."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/files.git"
    server.shutdown()
    server.server_close()


def test_http_403_is_access_denied_in_setup(http_forbidden: str) -> None:
    with pytest.raises(RemoteError) as info:
        setup.check_remote(http_forbidden)
    assert info.value.problem is P.ACCESS_DENIED
    assert str(info.value).startswith(f"access denied for {http_forbidden}")
    assert "ssh" not in str(info.value).lower()


async def test_http_403_is_an_error_not_offline(remote: Remote, http_forbidden: str,
                                                start_engine) -> None:
    a = remote.clone("a")
    git(a, "remote", "set-url", "origin", http_forbidden)
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).state == FolderState.ERROR, what="error state")
    assert engine.folder(a).detail.startswith(f"access denied for {http_forbidden}")


# ---------------------------------------------------------------- gitolite-style DENIED

@pytest.fixture
def denied_key(sshd: SshServer, tmp_path: Path) -> Path:
    """A key the server knows, bound (like a gitolite user) to a command that refuses."""
    script = tmp_path / "gitolite-denied"
    script.write_text("#!/bin/sh\necho 'FATAL: R any files alice DENIED by fallthru' >&2\n"
                      "echo '(or you mis-spelled the reponame)' >&2\nexit 1\n")
    script.chmod(0o755)
    key = tmp_path / "alice_key"
    _keygen(key)
    sshd.authorize(key.with_suffix(".pub"), forced_command=str(script))
    return key


def test_gitolite_denied_is_access_denied(remote: Remote, sshd: SshServer, denied_key: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command(key=denied_key))
    url = sshd.url(remote.bare)
    with pytest.raises(RemoteError) as info:
        setup.check_remote(url)
    assert info.value.problem is P.ACCESS_DENIED
    assert str(info.value).startswith(f"access denied for {url}")
    assert "DENIED by fallthru" in str(info.value)


async def test_gitolite_denied_in_the_sync_loop_is_logged_once(
        remote: Remote, sshd: SshServer, denied_key: Path, monkeypatch: pytest.MonkeyPatch,
        start_engine, caplog: pytest.LogCaptureFixture) -> None:
    a = remote.clone("a")
    git(a, "remote", "set-url", "origin", sshd.url(remote.bare))
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command(key=denied_key))
    caplog.set_level(logging.INFO, logger="autosync")
    engine, rec = await start_engine(a)
    engine.subscribe(HeadlessLog())
    (a / "new.txt").write_text("x\n")
    await rec.until(lambda: engine.folder(a).state == FolderState.ERROR
                    and rec.of(ActivityKind.ERROR), what="access denied")
    assert engine.folder(a).state is FolderState.ERROR, "not offline: the user must act"
    lines = [r for r in caplog.records if "access denied" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]


# ---------------------------------------------------------------- recovery after a fix

async def test_fixed_key_syncs_at_the_next_contact(remote: Remote, sshd: SshServer,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path, start_engine) -> None:
    """Once the server accepts the key, the next successful contact (a poll) syncs the
    waiting commit at once: the 60 s retry for user-fixable problems is not waited out."""
    a = remote.clone("a")
    git(a, "remote", "set-url", "origin", sshd.url(remote.bare))
    key = tmp_path / "new_key"
    _keygen(key)
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command(key=key))
    engine, rec = await start_engine(a, poll_interval=1.0)
    (a / "waiting.txt").write_text("waits for the key\n")
    await rec.until(lambda: engine.folder(a).state == FolderState.ERROR
                    and "authentication failed" in engine.folder(a).detail, what="auth error")
    await rec.until(lambda: rec.of(ActivityKind.COMMITTED), what="committed locally")
    sshd.authorize(key.with_suffix(".pub"))  # the user adds the key on the server
    await rec.until(lambda: "waiting.txt" in remote.tree_files(), timeout=30,
                    what="pushed at the first successful poll")
    await rec.until(lambda: engine.folder(a).state == FolderState.IDLE, what="idle")


# ---------------------------------------------------------------- quiet period

async def test_reconnect_catch_up_waits_for_the_quiet_period(remote: Remote,
                                                             start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a, commit_delay=1.5)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    # an editor still holding the file open for writing (a closed lone save commits after
    # a short settle by design: the adaptive quiet period of issue 13)
    with open(a / "typing.txt", "w") as editor:
        editor.write("half a sentence")
        editor.flush()
        written = datetime.now(UTC)
        await rec.until(lambda: engine.folder(a).state == FolderState.PENDING, what="seen")
        engine.fetch_all()  # what an XMPP reconnect does
        await rec.until(lambda: rec.of(ActivityKind.COMMITTED), what="committed")
    committed = rec.of(ActivityKind.COMMITTED)[0].when
    assert (committed - written).total_seconds() >= 1.4, "committed before the quiet period"


def test_slixmpp_info_lines_only_when_verbose() -> None:
    bind = logging.getLogger("slixmpp.features.feature_bind.bind")
    try:
        set_library_levels(False)
        assert not bind.isEnabledFor(logging.INFO)
        set_library_levels(True)
        assert bind.isEnabledFor(logging.DEBUG)
    finally:
        set_library_levels(False)


def test_remote_error_from_stderr_keeps_gits_line() -> None:
    exc = remote_error("/srv/x.git", "hint: foo\nfatal: '/srv/x.git' does not appear to be a "
                                     "git repository\n")
    assert exc.problem is P.MISSING and "does not appear" in exc.detail
