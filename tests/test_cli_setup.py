"""The set-up from a terminal, run as a user runs it (`python -m autosync_gui ...` in a
child process): every `add` path, `remove`, `xmpp set-password`; every bad input is one
line, exit 2, nothing changed; a running headless instance picks up added and removed
folders without a restart."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keyring
import pytest

from autosync_gui.config import FolderSettings, Settings, load_config, save_config
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.hg_remotes import HgRemote, hg

AUTOSYNC = [sys.executable, "-m", "autosync_gui"]


def autosync(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUTOSYNC, *args], input=stdin, capture_output=True, text=True,
                          check=False, timeout=120,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_add_clone_then_remove(remote: Remote, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    folder = tmp_path / "Synced"
    result = autosync("add", str(folder), "--clone", remote.url, "--config", str(config),
                      "--commit-delay", "0.5", "--push-delay", "0", "--poll-interval", "30",
                      "--ignore", "*.tmp", "--ignore", "build/")
    assert result.returncode == 0, result.stderr
    assert (folder / "README.txt").read_text() == "shared folder\n"
    (entry,) = load_config(config).folders
    assert entry == FolderSettings(path=folder, commit_delay=0.5, push_delay=0.0,
                                   poll_interval=30.0, ignore=("*.tmp", "build/"))
    assert "Receiving objects" in result.stderr or "done." in result.stderr

    removed = autosync("remove", str(folder), "--config", str(config))
    assert removed.returncode == 0, removed.stderr
    assert load_config(config).folders == ()
    assert (folder / "README.txt").exists() and (folder / ".git").is_dir(), \
        "files and history stay"


def test_add_existing_work_tree_and_global_config_option(remote: Remote, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    clone = remote.clone("laptop")
    result = autosync("--config", str(config), "add", str(clone))
    assert result.returncode == 0, result.stderr
    assert [f.path for f in load_config(config).folders] == [clone]


def test_add_create_remote_for_new_and_for_remoteless_repositories(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    papers = tmp_path / "Papers"
    papers.mkdir()
    (papers / "thesis.txt").write_text("chapter 1\n")
    bare = tmp_path / "server" / "papers.git"
    result = autosync("add", str(papers), "--create-remote", str(bare), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert git(bare, "show", "main:thesis.txt") == "chapter 1"

    notes = tmp_path / "Notes"  # a local repository with history but no remote
    notes.mkdir()
    git(notes, "init", "-q", "-b", "master")
    (notes / "a.txt").write_text("old\n")
    git(notes, "add", "a.txt")
    git(notes, "-c", "user.name=n", "-c", "user.email=n@example.invalid", "commit", "-qm", "old")
    (notes / "b.txt").write_text("not committed yet\n")
    bare2 = tmp_path / "server" / "notes.git"
    result = autosync("add", str(notes), "--create-remote", str(bare2), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert git(bare2, "log", "--format=%s", "main").splitlines()[-1] == "old", "history kept"
    assert git(bare2, "show", "main:b.txt") == "not committed yet"
    assert git(notes, "rev-parse", "@{upstream}") == git(bare2, "rev-parse", "main")
    assert [f.path for f in load_config(config).folders] == [papers, notes]


def test_bad_inputs_are_one_line_and_change_nothing(remote: Remote, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    synced = remote.clone("synced")
    save_config(Settings(folders=(FolderSettings(path=synced),)), config)
    before = config.read_text()

    busy = tmp_path / "Busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep\n")
    cases = [
        (["add", str(busy), "--clone", remote.url], "not empty"),
        (["add", str(synced)], "already synced"),
        (["add", str(synced / "sub")], "overlaps the synced folder"),
        (["add", str(tmp_path / "New"), "--clone", str(tmp_path / "nowhere.git")],
         "no such path"),
        (["add", str(tmp_path / "New"), "--clone", "ssh://127.0.0.1:1/files.git"],
         "unreachable"),
        (["add", str(tmp_path / "New"), "--clone", remote.url, "--poll-interval", "0"],
         "poll_interval: must be at least 1"),
        (["add", str(busy)], "not a git work tree"),
        (["remove", str(tmp_path / "elsewhere")], "not synced"),
    ]
    for args, words in cases:
        line = one_line_failure(autosync(*args, "--config", str(config)))
        assert words in line, (args, line)
        assert config.read_text() == before, args
    assert sorted(p.name for p in busy.iterdir()) == ["mine.txt"]
    assert not (tmp_path / "New").exists(), "a failed clone leaves nothing behind"


def test_no_remote_names_the_fix(tmp_path: Path) -> None:
    notes = tmp_path / "Notes"
    notes.mkdir()
    git(notes, "init", "-q")
    line = one_line_failure(autosync("add", str(notes), "--config", str(tmp_path / "c.toml")))
    assert "without a remote" in line and "--create-remote" in line


@pytest.mark.skipif(shutil.which("hg") is None, reason="Mercurial is not installed")
def test_add_mercurial_folders(hg_remote: HgRemote, tmp_path: Path) -> None:
    """The three ways for hg: a clone (recognised by itself), an existing hg clone, a new
    repository and remote (`--create-remote URL --hg`)."""
    config = tmp_path / "config.toml"
    cloned = tmp_path / "HgSync"
    result = autosync("add", str(cloned), "--clone", hg_remote.url, "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert (cloned / "README.txt").read_text() == "shared folder\n"
    assert (cloned / ".hg").is_dir() and not (cloned / ".git").exists()

    existing = hg_remote.clone("laptop")
    result = autosync("add", str(existing), "--config", str(config))
    assert result.returncode == 0, result.stderr

    papers = tmp_path / "Papers"
    papers.mkdir()
    (papers / "thesis.txt").write_text("chapter 1\n")
    server = tmp_path / "server" / "papers-hg"
    result = autosync("add", str(papers), "--create-remote", str(server), "--hg",
                      "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert hg(server, "cat", "-r", "tip", "thesis.txt") == "chapter 1"
    assert [f.path for f in load_config(config).folders] == [cloned, existing, papers]

    before = config.read_text()
    line = one_line_failure(autosync("add", str(tmp_path / "New"), "--clone", hg_remote.url,
                                     "--hg", "--config", str(config)))
    assert "--hg: only with --create-remote" in line
    assert config.read_text() == before and not (tmp_path / "New").exists()


def test_xmpp_set_password(gnome_keyring, tmp_path: Path) -> None:
    result = autosync("xmpp", "set-password", "Alice@Example.org", stdin="s3cret pass\n")
    assert result.returncode == 0, result.stderr
    assert keyring.get_password("autosync", "alice@example.org") == "s3cret pass"
    assert "s3cret" not in result.stderr + result.stdout
    line = one_line_failure(autosync("xmpp", "set-password", "alice@example.org/phone",
                                     stdin="x\n"))
    assert "no resource" in line
    line = one_line_failure(autosync("xmpp", "set-password", "bob@example.org", stdin="\n"))
    assert "empty" in line


def test_xmpp_set_password_without_keyring(no_keyring) -> None:
    line = one_line_failure(autosync("xmpp", "set-password", "alice@example.org",
                                     stdin="pw\n"))
    assert "keyring" in line


# ---------------------------------------------------------------- a running instance

class Headless:
    """`autosync run --headless` in a child process; its log lines arrive in a queue."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen([*AUTOSYNC, "run", "--headless", "--config", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ})
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, words: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if words in line:
                return line
        raise AssertionError(f"no log line with {words!r}; saw: {''.join(self.seen[-20:])}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def test_running_headless_instance_follows_add_and_remove(remote: Remote,
                                                          tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    first = remote.clone("first")
    save_config(Settings(folders=(FolderSettings(path=first, commit_delay=0.2,
                                                 push_delay=0.0),)), config)
    headless = Headless(config)
    try:
        headless.wait_for("running: 1 folder")
        second = tmp_path / "Second"
        result = autosync("add", str(second), "--clone", remote.url, "--config", str(config),
                          "--commit-delay", "0.2", "--push-delay", "0")
        assert result.returncode == 0, result.stderr
        headless.wait_for(f"{second}: now synced")
        (second / "from-second.txt").write_text("picked up without a restart\n")
        deadline = time.monotonic() + 30
        while "from-second.txt" not in remote.tree_names():
            assert time.monotonic() < deadline, "the added folder syncs"
            time.sleep(0.1)
        result = autosync("remove", str(second), "--config", str(config))
        assert result.returncode == 0, result.stderr
        headless.wait_for(f"{second}: no longer synced")
    finally:
        headless.stop()
    assert headless.proc.returncode == 0
