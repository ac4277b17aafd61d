"""Setting up Mercurial folders (engine/setup.py handing over to engine/hg/setup.py), on
real hg repositories: clone (a local path, `hg serve`, recognised by itself), use an
existing hg work tree, create a new repository and remote with `hg init` (a path, over
ssh), give a repository without a remote one; what a failed step made is removed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autosync_gui.engine import setup
from autosync_gui.engine.backends import open_repository
from autosync_gui.engine.remote import RemoteError, RemoteProblem
from tests.fixtures.hg_remotes import HgRemote, files_at, hg, served
from tests.fixtures.sshd import SshServer

pytestmark = pytest.mark.skipif(shutil.which("hg") is None, reason="Mercurial is not installed")


def test_clone_of_a_local_hg_remote_writes_the_files(hg_remote: HgRemote,
                                                     tmp_path: Path) -> None:
    assert setup.check_remote(hg_remote.url) == []
    folder = tmp_path / "HgSync"
    setup.clone_remote(hg_remote.url, folder)
    assert (folder / "README.txt").read_text() == "shared folder\n"
    assert hg(folder, "status") == "", "a clean work tree"
    assert hg(folder, "log", "-r", ".", "-T", "{node}") == hg_remote.head()
    assert setup.check_existing(folder) == hg_remote.url
    repo = open_repository(folder, "laptop")
    try:
        assert repo.kind == "hg"
    finally:
        repo.release()


def test_clone_over_hg_serve_is_recognised_as_mercurial(hg_remote: HgRemote,
                                                       tmp_path: Path) -> None:
    with served(hg_remote) as url:
        folder = tmp_path / "HgSync"
        setup.clone_remote(url, folder)  # git cannot read it; hg can
        assert (folder / "README.txt").read_text() == "shared folder\n"
        assert setup.check_existing(folder) == url


def test_a_clone_that_fails_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "HgSync"
    with pytest.raises(setup.SetupError, match="no such path"):
        setup.clone_remote(str(tmp_path / "nowhere"), folder)
    assert not folder.exists()


def test_create_new_with_a_new_local_hg_remote(tmp_path: Path) -> None:
    folder = tmp_path / "Papers"
    folder.mkdir()
    (folder / "thesis.txt").write_text("chapter 1\n")
    (folder / "draft.txt~").write_text("an editor's backup: never committed\n")
    remote = tmp_path / "server" / "papers-hg"
    setup.check_create(folder, str(remote), "hg")
    assert not remote.exists(), "a check writes nothing"
    setup.create_new(folder, str(remote), backend="hg")
    tip = hg(remote, "log", "-r", "tip", "-T", "{node}")
    assert files_at(remote, tip) == {"thesis.txt": b"chapter 1\n"}
    assert hg(folder, "log", "-r", ".", "-T", "{node}") == tip
    assert setup.check_existing(folder) == str(remote)


def test_create_new_refuses_a_non_empty_remote_and_undoes(tmp_path: Path,
                                                          hg_remote: HgRemote) -> None:
    folder = tmp_path / "Papers"
    folder.mkdir()
    (folder / "thesis.txt").write_text("chapter 1\n")
    with pytest.raises(setup.SetupError, match="already exists and is not empty"):
        setup.create_new(folder, hg_remote.url, backend="hg")
    assert not (folder / ".hg").exists() and (folder / "thesis.txt").exists()


def test_a_remote_that_cannot_be_made_changes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "Papers"
    folder.mkdir()
    (folder / "thesis.txt").write_text("chapter 1\n")
    (tmp_path / "server").write_text("a file where a folder must be\n")
    with pytest.raises(setup.SetupError, match="cannot create it"):
        setup.create_new(folder, str(tmp_path / "server" / "papers-hg"), backend="hg")
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.txt"]


def test_an_hg_repository_without_a_remote_gets_one(tmp_path: Path) -> None:
    notes = tmp_path / "Notes"
    hg(tmp_path, "init", str(notes))
    (notes / "a.txt").write_text("old\n")
    hg(notes, "add", "-q", "a.txt")
    hg(notes, "commit", "-q", "-u", "me <me@example.invalid>", "-m", "by hand")
    (notes / "b.txt").write_text("pending\n")
    with pytest.raises(setup.NoRemoteError, match="without a remote"):
        setup.check_existing(notes)
    remote = tmp_path / "server" / "notes-hg"
    setup.check_add_remote(notes, str(remote))
    setup.add_remote(notes, str(remote))
    tip = hg(remote, "log", "-r", "tip", "-T", "{node}")
    assert files_at(remote, tip) == {"a.txt": b"old\n", "b.txt": b"pending\n"}
    assert "by hand" in hg(remote, "log", "-T", "{desc}\\n")
    assert setup.check_existing(notes) == str(remote)
    with pytest.raises(setup.SetupError, match="already has a remote"):
        setup.check_add_remote(notes, str(tmp_path / "other"))


def test_existing_git_or_hg_folder_is_not_created_again(tmp_path: Path) -> None:
    folder = tmp_path / "Notes"
    hg(tmp_path, "init", str(folder))
    with pytest.raises(setup.SetupError, match="already a Mercurial repository"):
        setup.check_create(folder, str(tmp_path / "remote"), "hg")
    with pytest.raises(setup.SetupError, match="version control 'svn': unknown"):
        setup.check_create(tmp_path / "other", str(tmp_path / "remote"), "svn")


def test_create_new_over_ssh_runs_hg_init_on_the_server(sshd: SshServer,
                                                        tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    (home / ".hgrc").write_text(f"[ui]\nssh = ssh -F {sshd.client_config}\n")
    folder = tmp_path / "Papers"
    folder.mkdir()
    (folder / "thesis.txt").write_text("chapter 1\n")
    remote_path = tmp_path / "server" / "papers-hg"
    remote_path.parent.mkdir()
    url = f"ssh://{sshd.host_alias}/{remote_path}"
    setup.check_create(folder, url, "hg")
    setup.create_new(folder, url, backend="hg")
    tip = hg(remote_path, "log", "-r", "tip", "-T", "{node}")
    assert files_at(remote_path, tip) == {"thesis.txt": b"chapter 1\n"}
    # a second set-up against the same remote: it has changesets now
    other = tmp_path / "Other"
    with pytest.raises(setup.SetupError, match="already has changesets"):
        setup.check_create(other, url, "hg")


def test_an_unknown_ssh_host_is_one_remote_error(sshd: SshServer, tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    other_known = tmp_path / "known_hosts"
    other_known.write_text("")
    (home / ".hgrc").write_text(
        f"[ui]\nssh = {sshd.ssh_command(known_hosts=other_known)}\n")
    url = f"ssh://{sshd.host_alias}/{tmp_path / 'nothing'}"
    with pytest.raises(RemoteError) as info:
        setup.check_create(tmp_path / "Papers", url, "hg")
    assert info.value.problem is RemoteProblem.HOST_KEY_UNKNOWN
    assert "\n" not in str(info.value)
