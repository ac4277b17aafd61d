"""Every control command against a real `autosync run --headless` process on real git
repositories with a bare remote, exit codes included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.control.cli_helpers import autosync, commit_at, headless, wait_for, write_config
from tests.fixtures.git_remotes import BOTH_BACKENDS, Remote, git

pytestmark = pytest.mark.slow  # a headless process and a command process per step


def _idle(cfg: Path) -> bool:
    return autosync("status", config=cfg).code == 0


def test_status_exit_codes_and_fields(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    cfg = write_config(tmp_path / "config.toml", a)
    gone = autosync("status", config=cfg)
    assert gone.code == 3
    assert gone.error_line == (f"autosync: no autosync instance runs for {cfg}; start it with "
                               "`autosync` (tray app) or `autosync run --headless`")
    with headless(cfg):
        wait_for(lambda: _idle(cfg), what="idle")
        shown = autosync("status", config=cfg)
        assert shown.code == 0, shown.err
        assert f"{a}: idle" in shown.out and f"remote {remote.bare}" in shown.out
        status = autosync("status", "--json", config=cfg).json
        assert status["idle"] is True
        assert status["instance"]["mode"] == "headless"
        assert status["instance"]["config"] == str(cfg)
        (folder,) = status["folders"]
        assert folder["path"] == str(a) and folder["state"] == "idle"
        assert folder["last_sync"] and folder["pending_changes"] == 0
        assert folder["unpushed_commits"] == 0 and folder["conflicts"] == []
        assert folder["error"] is None
        assert folder["transfer"] is None, "no transfer under way"
        assert folder["large_files_waiting"] == [], "headless mode holds no large file back"
        paused = autosync("pause", config=cfg, cwd=a)
        assert paused.code == 0 and f"paused {a} until resumed" in paused.out
        (a / "waiting.txt").write_text("pending while paused\n")
        status = autosync("status", "--json", config=cfg)
        assert status.code == 1, "a paused folder is not idle"
        assert status.json["folders"][0]["state"] == "paused"
        wait_for(lambda: autosync("status", "--json", config=cfg).json["folders"][0][
            "pending_changes"] == 1, what="the pending change counted")
        for_an_hour = autosync("pause", "--for", "1h", config=cfg, cwd=a)
        assert for_an_hour.code == 0
        shown = autosync("status", config=cfg)
        assert shown.code == 1 and f"{a}: paused until " in shown.out
        assert autosync("status", "--json", config=cfg).json["folders"][0]["paused_until"]
        resumed = autosync("resume", ".", config=cfg, cwd=a)
        assert resumed.code == 0 and f"resumed {a}" in resumed.out
        wait_for(lambda: _idle(cfg) and "waiting.txt" in remote.tree_names(), what="synced")
    assert autosync("status", config=cfg).code == 3, "gone again after it stopped"


def test_status_shows_errors_and_never_credentials(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    git(a, "remote", "set-url", "origin", "https://alice:s3cret-pw@127.0.0.1:9/sync.git")
    cfg = write_config(tmp_path / "config.toml", a)
    with headless(cfg):
        status = wait_for(lambda: (r := autosync("status", "--json", config=cfg)).json[
            "folders"][0]["error"] and r, what="the remote's error")
        assert status.code == 1
        folder = status.json["folders"][0]
        assert folder["state"] in ("offline", "error")
        assert folder["remote"] == "https://127.0.0.1:9/sync.git"
        assert "s3cret" not in status.out and "alice" not in status.out
        human = autosync("status", config=cfg)
        assert human.code == 1 and "  error: " in human.out and "s3cret" not in human.out


def test_timed_pause_resumes_on_time(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    cfg = write_config(tmp_path / "config.toml", a)
    with headless(cfg):
        paused = autosync("pause", str(a), "--for", "2s", config=cfg)
        assert paused.code == 0 and "until" in paused.out, paused.err
        (a / "later.txt").write_text("synced once the pause ends\n")
        wait_for(lambda: "later.txt" in remote.tree_names(), timeout=30,
                 what="resumed on time and synced")
        events = [json.loads(line) for line in autosync("activity", "--json", config=cfg)
                  .out.splitlines()]
        began = next(e for e in events if e["summary"].startswith("paused until "))
        ended = next(e for e in events if e["summary"] == "resumed")
        waited = (datetime.fromisoformat(ended["time"])
                  - datetime.fromisoformat(began["time"])).total_seconds()
        assert 1.9 <= waited < 20, waited
        committed = next(e for e in events if e["kind"] == "committed")
        assert datetime.fromisoformat(committed["time"]) >= datetime.fromisoformat(
            ended["time"]), "nothing committed while paused"
        status = autosync("status", "--json", config=cfg).json["folders"][0]
        assert status["state"] != "paused" and status["paused_until"] is None


def test_sync_now_resumes_a_paused_folder_and_says_so(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    cfg = write_config(tmp_path / "config.toml", a)
    with headless(cfg):
        assert autosync("pause", config=cfg).code == 0
        (a / "now.txt").write_text("sync me now\n")
        ran = autosync("sync-now", config=cfg, cwd=a)
        assert ran.code == 0
        assert ran.out.strip() == f"{a} was paused: resumed it, syncing now"
        wait_for(lambda: "now.txt" in remote.tree_names(), what="synced")
        again = autosync("sync-now", "now.txt", config=cfg, cwd=a)
        assert again.out.strip() == f"syncing {a} now"


def test_activity_lists_and_follows(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    cfg = write_config(tmp_path / "config.toml", a)
    with headless(cfg):
        recent = autosync("activity", "--json", "-n", "5", config=cfg)
        assert recent.code == 0
        events = [json.loads(line) for line in recent.out.splitlines()]
        assert events and events[-1]["summary"].startswith("ready:")
        assert autosync("activity", config=cfg).out.strip().endswith("start-up catch-up done")
        follow = subprocess.Popen(
            [sys.executable, "-m", "autosync_gui", "activity", "--follow", "--json", "-n", "1",
             "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert follow.stdout is not None
            first = json.loads(follow.stdout.readline())
            assert first["summary"].startswith("ready:"), "the last event comes first"
            (a / "followed.txt").write_text("x\n")
            kinds = []
            while "pushed" not in kinds:
                event = json.loads(follow.stdout.readline())
                kinds.append(event["kind"])
                if event["kind"] == "committed":
                    assert event["files"] == ["followed.txt"]
            assert kinds[0] == "committed"
        finally:
            follow.terminate()
            follow.communicate(timeout=10)


@BOTH_BACKENDS
def test_versions_restore_and_deleted(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    (a / "docs").mkdir()
    cfg = write_config(tmp_path / "config.toml", a)
    with headless(cfg):
        host = autosync("status", "--json", config=cfg).json["instance"]["host"]
        (a / "docs" / "notes.txt").write_text("first\n")
        wait_for(lambda: "docs/notes.txt" in remote.tree_names(), what="first version")
        (a / "docs" / "notes.txt").write_text("second version\n")
        wait_for(lambda: remote.tree_files().get("docs/notes.txt") == b"second version\n",
                 what="second version")
        listed = autosync("versions", "notes.txt", config=cfg, cwd=a / "docs")
        assert listed.code == 0, listed.err
        lines = listed.out.splitlines()
        assert lines[0] == f"versions of docs/notes.txt in {a}, newest first:"
        assert len(lines) == 3 and "15 B  modified" in lines[1] and "6 B  added" in lines[2]
        assert host in lines[1]
        versions = autosync("versions", "docs/notes.txt", "--json", config=cfg, cwd=a).json
        first = versions["versions"][-1]["commit"]
        restored = autosync("restore", "docs/notes.txt", "--commit", first[:8], config=cfg,
                            cwd=a)
        assert restored.code == 0, restored.err
        assert restored.out.startswith("restored docs/notes.txt as of ")
        assert (a / "docs" / "notes.txt").read_text() == "first\n"
        title = remote.subjects(a)[0]
        assert title.startswith("restored docs/notes.txt as of ") and title.endswith(
            f" from {host}")
        (a / "docs" / "notes.txt").unlink()
        wait_for(lambda: "docs/notes.txt" not in remote.tree_names(), what="deletion synced")
        deleted = autosync("deleted", config=cfg, cwd=a)
        assert deleted.code == 0
        assert str(a / "docs" / "notes.txt") in deleted.out and host in deleted.out
        assert autosync("deleted", "docs", "--since", "1", "--json", config=cfg,
                        cwd=a).json["files"][0]["path"] == "docs/notes.txt"
        back = autosync("restore", "docs/notes.txt", config=cfg, cwd=a)
        assert back.code == 0, back.err
        assert (a / "docs" / "notes.txt").read_text() == "first\n", "its last content"
        wait_for(lambda: remote.tree_files().get("docs/notes.txt") == b"first\n",
                 what="restore pushed")
        too_old = autosync("restore", "docs/notes.txt", "--at", "2001-01-01", config=cfg,
                           cwd=a)
        assert too_old.code == 2 and "has no version as old as 2001-01-01" in too_old.error_line
        at_time = autosync("restore", "docs/notes.txt", "--at", "2100-01-01", config=cfg,
                           cwd=a)
        assert at_time.code == 0 and "nothing to restore" in at_time.out


def test_conflicts_and_keep(remote: Remote, tmp_path: Path) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    (b / "README.txt").write_text("b's edit\n")
    commit_at(b, "b edits", "2020-01-01T12:00:00+00:00")  # older: it becomes the copy
    (a / "README.txt").write_text("a's edit\n")
    cfg = write_config(tmp_path / "config.toml", a)
    with headless(cfg):
        host = autosync("status", "--json", config=cfg).json["instance"]["host"]
        listed = wait_for(lambda: (r := autosync("conflicts", "--json", config=cfg)).json[
            "conflicts"] and r, what="the conflict")
        (conflict,) = listed.json["conflicts"]
        assert conflict["path"] == "README.txt" and conflict["kept_host"] == host
        assert conflict["copy_host"] == "Test-b" and conflict["mine"] == "path"
        copy = a / conflict["copy"]
        assert copy.read_text() == "b's edit\n"
        human = autosync("conflicts", config=cfg)
        assert f"{host}'s version" in human.out and "(this machine)" in human.out
        assert autosync("status", config=cfg).code == 1, "an open conflict is not idle"
        not_one = autosync("keep", "other.txt", "--mine", config=cfg, cwd=a)
        assert not_one.code == 2 and "has no open conflict" in not_one.error_line
        kept = autosync("keep", "README.txt", "--theirs", config=cfg, cwd=a)
        assert kept.code == 0, kept.err
        assert (a / "README.txt").read_text() == "b's edit\n" and not copy.exists()
        wait_for(lambda: autosync("conflicts", config=cfg).out.strip() == "no open conflicts",
                 what="settled")
        wait_for(lambda: remote.tree_files().get("README.txt") == b"b's edit\n"
                 and conflict["copy"] not in remote.tree_names(), what="settled remotely")


def test_bad_inputs_are_one_line_and_exit_2(remote: Remote, tmp_path: Path) -> None:
    a = remote.clone("a")
    (a / "kept.txt").write_text("x\n")
    cfg = write_config(tmp_path / "config.toml", a)
    outside = tmp_path / "elsewhere.txt"
    cases = [
        (("pause", "--for", "5x"), "'5x' is not a duration"),
        (("pause", str(tmp_path)), "is not inside a synced folder"),
        (("resume", "/nonexistent"), "is not inside a synced folder"),
        (("sync-now", str(outside)), "is not inside a synced folder"),
        (("activity", "-n", "0"), "-n 0: give a number from 1 to 1000"),
        (("versions", "nope.txt"), "has no version in the history"),
        (("versions", "."), "is a synced folder; give a file inside it"),
        (("restore", "kept.txt", "--commit", "abcdef12"), "no version abcdef12 of kept.txt"),
        (("restore", "kept.txt", "--commit", "zz"), "--commit 'zz': give a version id"),
        (("restore", "kept.txt", "--at", "soon"), "'soon' is not a time"),
        (("restore", "kept.txt"), "kept.txt has no older version to restore"),
        (("deleted", "--since", "-1"), "--since -1: give a positive number of days"),
        (("keep", "kept.txt", "--both"), "has no open conflict"),
        (("keep", "kept.txt"), "one of the arguments --mine --theirs --both is required"),
        (("conflicts", "--bogus"), "unrecognized arguments: --bogus"),
    ]
    with headless(cfg):
        wait_for(lambda: "kept.txt" in remote.tree_names(), what="committed")
        for args, expected in cases:
            ran = autosync(*args, config=cfg, cwd=a)
            assert ran.code == 2, (args, ran.out, ran.err)
            assert expected in ran.error_line, (args, ran.err)
            assert ran.out == ""
    assert autosync("pause", config=cfg).code == 3, "no instance: 3"


def test_two_instances_side_by_side(remote: Remote, tmp_path: Path) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    cfg_a = write_config(tmp_path / "config-a" / "config.toml", a)
    cfg_b = write_config(tmp_path / "config-b" / "config.toml", b)
    with headless(cfg_a), headless(cfg_b):
        status_a = autosync("status", "--json", config=cfg_a).json
        status_b = autosync("status", "--json", config=cfg_b).json
        assert [f["path"] for f in status_a["folders"]] == [str(a)]
        assert [f["path"] for f in status_b["folders"]] == [str(b)]
        assert status_a["instance"]["pid"] != status_b["instance"]["pid"]
        assert autosync("pause", config=cfg_a).code == 0
        assert autosync("status", config=cfg_a).code == 1
        assert autosync("status", config=cfg_b).code == 0, "only a's instance paused"
        again = autosync("run", "--headless", config=cfg_a, timeout=30)
        assert again.code == 2
        assert again.error_line == (f"autosync: an instance for {cfg_a} already runs; see it "
                                    "with `autosync status`, or stop it first")


def test_instances_of_different_homes_side_by_side(remote: Remote, tmp_path: Path) -> None:
    """No --config: each HOME's default configuration is its own instance."""
    envs = {}
    for name in ("one", "two"):
        home = tmp_path / f"home-{name}"
        write_config(home / ".config" / "autosync" / "config.toml", remote.clone(name))
        envs[name] = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    with headless(None, log_path=tmp_path / "one.log", env=envs["one"]), \
            headless(None, log_path=tmp_path / "two.log", env=envs["two"]):
        for name in ("one", "two"):
            status = autosync("status", "--json", config=None, env=envs[name])
            assert status.code == 0, status.err
            assert [Path(f["path"]).name for f in status.json["folders"]] == [name]
