"""Bad configuration: one line naming the file, the key and the fix; exit 2; nothing touched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autosync_gui.config import (
    ConfigError,
    FolderSettings,
    Settings,
    XmppSettings,
    load_config,
    save_config,
)
from tests.fixtures.git_remotes import Remote, git


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autosync_gui", *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def assert_one_line_exit_2(cfg: Path, *needles: str) -> None:
    before = {p: p.stat().st_mtime_ns for p in cfg.parent.rglob("*")}
    result = run_cli("run", "--headless", "--config", str(cfg))
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert str(cfg) in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    after = {p: p.stat().st_mtime_ns for p in cfg.parent.rglob("*")}
    assert before == after, "a bad configuration must change nothing"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def test_unknown_key(cfg: Path, remote: Remote) -> None:
    a = remote.clone("a")
    cfg.write_text(f'[[folder]]\npath = "{a}"\ncommit_dely = 1\n')
    assert_one_line_exit_2(cfg, "folder[0].commit_dely", "unknown key", "remove it")


def test_wrong_type(cfg: Path, remote: Remote) -> None:
    a = remote.clone("a")
    cfg.write_text(f'[[folder]]\npath = "{a}"\npush_delay = "soon"\n')
    assert_one_line_exit_2(cfg, "folder[0].push_delay", "number")


def test_not_toml(cfg: Path) -> None:
    cfg.write_text("[[folder]\npath = \n")
    assert_one_line_exit_2(cfg, "not valid TOML")


def test_missing_folder(cfg: Path, tmp_path: Path) -> None:
    cfg.write_text(f'[[folder]]\npath = "{tmp_path / "nope"}"\n')
    assert_one_line_exit_2(cfg, "folder[0].path", "does not exist")


def test_not_a_work_tree(cfg: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    cfg.write_text(f'[[folder]]\npath = "{plain}"\n')
    assert_one_line_exit_2(cfg, "folder[0].path", "not inside a git work tree", "git clone")
    assert not (plain / ".git").exists()


def test_no_remote(cfg: Path, tmp_path: Path) -> None:
    repo = tmp_path / "lonely"
    git(tmp_path, "init", "-q", str(repo))
    cfg.write_text(f'[[folder]]\npath = "{repo}"\n')
    assert_one_line_exit_2(cfg, "has no remote", "git remote add origin")


def test_no_upstream(cfg: Path, tmp_path: Path, remote: Remote) -> None:
    repo = tmp_path / "noup"
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "remote", "add", "origin", remote.url)
    cfg.write_text(f'[[folder]]\npath = "{repo}"\n')
    assert_one_line_exit_2(cfg, "no upstream branch", "git push -u origin")


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("run", "--headless", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert "no such configuration file" in result.stderr


def test_bad_xmpp_jid(cfg: Path, remote: Remote) -> None:
    a = remote.clone("a")
    cfg.write_text(f'[[folder]]\npath = "{a}"\n[xmpp]\njid = "not-a-jid"\n')
    assert_one_line_exit_2(cfg, "xmpp.jid")


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("autosync ")


def test_legacy_ini_is_mapped_with_warning(tmp_path: Path) -> None:
    legacy = tmp_path / ".autosync"
    legacy.write_text("[autosync]\npath = ~/Sync\nignorepath = .hg build\nreadfrequency = 5\n"
                      "syncmethod = xmpp\npulllock = conflict_only\n\n"
                      "[xmpp]\nusername = alice@example.org\npassword = secret\n")
    settings = load_config(legacy)
    folder = settings.folders[0]
    assert folder.path == Path.home() / "Sync"
    assert folder.push_delay == 5.0 and folder.ignore == (".hg/", "build/")
    assert settings.xmpp is not None and settings.xmpp.jid == "alice@example.org"
    assert any("plaintext" in w and "keyring" in w for w in settings.warnings)


def test_save_is_atomic_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    settings = Settings(
        folders=(FolderSettings(path=tmp_path / "my folder", commit_delay=2.5,
                                ignore=("*.log", 'we"ird')),),
        xmpp=XmppSettings(jid="alice@example.org", host="xmpp.example.org", port=5222,
                          trusted=("bob@example.org",)))
    save_config(settings, path)
    loaded = load_config(path)
    assert loaded.folders == settings.folders
    assert loaded.xmpp == settings.xmpp
    assert "password" not in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


@pytest.mark.parametrize("text", ["folder = 3", "[[folder]]\npath = 3", "[xmpp]\nport = 99999",
                                  "[[folder]]\npath = ''", "[ui]\nnotifications = 'loud'",
                                  "[[folder]]\npath='/x'\npoll_interval = 0"])
def test_bad_values_raise_config_error(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert "\n" not in str(info.value) and str(cfg) in str(info.value)


def test_tray_app_without_display_says_use_headless(monkeypatch) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    result = run_cli()
    assert result.returncode == 2
    assert "autosync run --headless" in result.stderr and "Traceback" not in result.stderr


def test_bad_folder_notifications(cfg: Path, remote: Remote) -> None:
    a = remote.clone("a")
    cfg.write_text(f'[[folder]]\npath = "{a}"\nnotifications = "loud"\n')
    assert_one_line_exit_2(cfg, "folder[0].notifications", "'loud'", "'important'")


def test_folder_notifications_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    settings = Settings(folders=(FolderSettings(path=tmp_path, notifications="none"),
                                 FolderSettings(path=tmp_path / "b")))
    save_config(settings, path)
    loaded = load_config(path).folders
    assert [f.notifications for f in loaded] == ["none", None]


def test_large_file_size_bad_value_is_one_line_exit_2(cfg: Path, remote: Remote) -> None:
    a = remote.clone("a")
    cfg.write_text(f'[[folder]]\npath = "{a}"\nlarge_file_size = "huge"\n')
    assert_one_line_exit_2(cfg, "folder[0].large_file_size", '"50 MB"', "0 turns it off")


@pytest.mark.parametrize(("value", "expected"), [('"50 MB"', 50_000_000), ('"1.5GiB"', 3 << 29),
                                                 ("0", 0), ("1048576", 1 << 20),
                                                 ('"200 kb"', 200_000)])
def test_large_file_size_is_parsed(tmp_path: Path, value: str, expected: int) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[[folder]]\npath = '/x'\nlarge_file_size = {value}\n")
    assert load_config(cfg).folders[0].large_file_size == expected


@pytest.mark.parametrize("value", ["-1", "true", '"12 parsecs"', "[1]", "nan"])
def test_large_file_size_rejects_nonsense(tmp_path: Path, value: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[[folder]]\npath = '/x'\nlarge_file_size = {value}\n")
    with pytest.raises(ConfigError, match=r"folder\[0\]\.large_file_size: must be a size"):
        load_config(cfg)


def test_large_file_size_default_and_round_trip(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[[folder]]\npath = '/x'\n")
    assert load_config(cfg).folders[0].large_file_size == 50_000_000
    save_config(Settings(folders=(FolderSettings(path=Path("/x"), large_file_size=0),)), cfg)
    assert load_config(cfg).folders[0].large_file_size == 0
