"""HTTPS remotes with a user name and token, end to end: a real lighttpd serving `git
http-backend` over TLS with basic authentication, the real keyring (gnome-keyring on the
test's D-Bus session) and git calling `autosync credential` as its credential helper."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

from autosync_gui import credentials
from autosync_gui.credentials import Credential
from autosync_gui.engine import setup
from autosync_gui.engine.events import ActivityKind, FolderState
from autosync_gui.engine.remote import RemoteError, RemoteProblem
from tests.fixtures.git_remotes import git
from tests.fixtures.https_git import HttpsGitServer

AUTOSYNC = [sys.executable, "-m", "autosync_gui"]


def helper(action: str, request: str) -> str:
    """Run `autosync credential ACTION` as git would: request on stdin, answer on stdout."""
    result = subprocess.run([*AUTOSYNC, "credential", action], input=request, text=True,
                            capture_output=True, check=True)
    return result.stdout


def test_helper_protocol_on_the_real_keyring(gnome_keyring) -> None:
    request = "protocol=https\nhost=forge.example:8443\npath=alice/files.git\n"
    assert helper("get", request + "\n") == ""
    helper("store", request + "username=alice\npassword=tok-1\n\n")
    assert helper("get", request) == "username=alice\npassword=tok-1\n"
    assert helper("get", request + "username=bob\n") == "", "another user: not ours to give"
    assert helper("get", "protocol=https\nhost=forge.example:8443\npath=other.git\n") == "", \
        "registered per remote: another path gets nothing"
    helper("erase", request + "username=alice\npassword=an-older-token\n")
    assert helper("get", request) != "", "erase of a token we do not hold keeps ours"
    helper("erase", request + "username=alice\npassword=tok-1\n")
    assert helper("get", request) == ""
    assert credentials.load("https://forge.example:8443/alice/files.git/") is None
    # a script stores a token by URL, as README shows
    helper("store", "url=https://forge.example/alice/notes.git\nusername=alice\n"
                    "password=tok-2\n\n")
    assert credentials.load("https://forge.example/alice/notes.git") == \
        Credential("alice", "tok-2")


def test_server_asking_for_credentials_is_https_worded(https_git: HttpsGitServer,
                                                       gnome_keyring) -> None:
    _bare, url = https_git.new_repository()
    with pytest.raises(RemoteError) as info:
        setup.check_remote(url)
    assert info.value.problem is RemoteProblem.AUTH
    assert str(info.value).startswith(f"authentication failed for {url}")
    assert "ssh" not in str(info.value).lower()


async def test_clone_and_sync_with_a_token(https_git: HttpsGitServer, gnome_keyring,
                                           tmp_path: Path, start_engine,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bare, url = https_git.new_repository()
    credentials.save(url, Credential(https_git.user, https_git.password))
    folder = tmp_path / "Synced"
    setup.clone_remote(url, folder)
    assert (folder / "README.txt").read_text() == "shared over https\n"
    config = (folder / ".git" / "config").read_text()
    assert https_git.password not in config and "credential" in config
    assert git(folder, "remote", "get-url", "origin") == url, "no secret in the URL"
    helpers = subprocess.run(["git", "config", "--get-all", f"credential.{url}.helper"],
                             cwd=folder, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert helpers[0] == "" and helpers[1].endswith("credential"), \
        "only our helper for this remote (the user's others are reset)"
    engine, rec = await start_engine(folder)
    (folder / "over-https.txt").write_text("pushed with a token\n")
    await rec.until(lambda: "over-https.txt" in git(bare, "ls-tree", "--name-only", "main"),
                    what="pushed over https")
    assert https_git.password not in caplog.text


async def test_wrong_token_fails_once_without_retrying_it(https_git: HttpsGitServer,
                                                          gnome_keyring, tmp_path: Path,
                                                          start_engine) -> None:
    bare, url = https_git.new_repository()
    credentials.save(url, Credential(https_git.user, https_git.password))
    folder = tmp_path / "Synced"
    setup.clone_remote(url, folder)
    credentials.save(url, Credential(https_git.user, "a revoked token"))
    engine, rec = await start_engine(folder, poll_interval=1.0)
    (folder / "a.txt").write_text("a\n")
    await rec.until(lambda: engine.folder(folder).state == FolderState.ERROR, what="error")
    assert engine.folder(folder).detail.startswith(f"authentication failed for {url}")
    assert "ssh" not in engine.folder(folder).detail
    assert credentials.load(url) is None, \
        "git said the token was refused: it is dropped, never sent again"
    for _ in range(2):  # the user presses Sync now: the same problem, no new line
        seen = len(rec.states)
        engine.sync_now(folder)
        await rec.until(lambda seen=seen: any(s[1] == FolderState.PULLING
                                              for s in rec.states[seen:])
                        and engine.folder(folder).state == FolderState.ERROR,
                        what="tried again")
    errors = rec.of(ActivityKind.ERROR)
    assert len(errors) == 1, [e.summary for e in errors]


def test_wrong_token_in_setup_is_one_line(https_git: HttpsGitServer, gnome_keyring) -> None:
    _bare, url = https_git.new_repository()
    credentials.save(url, Credential(https_git.user, "wrong"))
    with pytest.raises(RemoteError) as info:
        setup.check_remote(url)
    assert info.value.problem is RemoteProblem.AUTH
    assert "\n" not in str(info.value)


def test_lighttpd_403_is_access_denied(https_git: HttpsGitServer) -> None:
    url = https_git.forbidden_url()
    with pytest.raises(RemoteError) as info:
        setup.check_remote(url)
    assert info.value.problem is RemoteProblem.ACCESS_DENIED
    assert str(info.value).startswith(f"access denied for {url}")


async def test_keyring_gone_is_named_not_authentication(https_git: HttpsGitServer,
                                                        gnome_keyring, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        start_engine) -> None:
    bare, url = https_git.new_repository()
    credentials.save(url, Credential(https_git.user, https_git.password))
    folder = tmp_path / "Synced"
    setup.clone_remote(url, folder)
    # From now on the helper (a child of git) finds no keyring at all.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    engine, rec = await start_engine(folder)
    await rec.until(lambda: engine.folder(folder).state == FolderState.ERROR, what="error")
    detail = engine.folder(folder).detail
    assert detail.startswith(f"cannot read the password for {url} from the keyring"), detail
    assert "authentication failed" not in detail
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    keyring.core.init_backend()
