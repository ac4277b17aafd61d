"""Configuration parsing (config.py): every accepted form gives the expected settings, and
every bad value gives one line naming the file, the key and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from autosync_gui.config import (
    ConfigError,
    FolderSettings,
    Settings,
    UiSettings,
    XmppSettings,
    load_config,
    parse_settings,
    render_config,
    with_folder,
)

SOURCE = Path("/home/u/.config/autosync/config.toml")


def parse(text: str, source: Path = SOURCE) -> Settings:
    return parse_settings(tomllib.loads(text), source)


@pytest.mark.parametrize(("text", "folders"), [
    ("", ()),
    ('[[folder]]\npath = "/data/a"',
     (FolderSettings(path=Path("/data/a")),)),
    ('[folder]\npath = "/data/a"',  # one table instead of an array of tables
     (FolderSettings(path=Path("/data/a")),)),
    ('[[folder]]\npath = "/data/a/../b/"\ncommit_delay = 0\npush_delay = 2\n'
     'poll_interval = 1\nignore = ["*.log"]\nnotify = false',
     (FolderSettings(path=Path("/data/b"), commit_delay=0.0, push_delay=2.0, poll_interval=1.0,
                     ignore=("*.log",), notify=False),)),
    ('[[folder]]\npath = "relative/dir"',  # relative to the configuration file
     (FolderSettings(path=Path("/home/u/.config/autosync/relative/dir")),)),
    ('[[folder]]\npath = "~/Sync"', (FolderSettings(path=Path("HOME/Sync")),)),
    ('[[folder]]\npath = "$DATA_ROOT/x"', (FolderSettings(path=Path("/mnt/data/x")),)),
    ('[[folder]]\npath = "/a"\n[[folder]]\npath = "/b"',
     (FolderSettings(path=Path("/a")), FolderSettings(path=Path("/b")))),
])
def test_folders(text: str, folders: tuple[FolderSettings, ...], isolated_home: Path,
                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_ROOT", "/mnt/data")
    expected = tuple(FolderSettings(**{**f.__dict__, "path": Path(str(f.path).replace(
        "HOME", str(isolated_home)))}) for f in folders)
    assert parse(text).folders == expected


@pytest.mark.parametrize(("text", "xmpp"), [
    ('[xmpp]\njid = "Alice@Example.org"', XmppSettings(jid="alice@example.org")),
    ('[xmpp]\njid = "a@b"\nhost = "xmpp.b"\nport = 5223\ntrusted = ["Bob@B"]',
     XmppSettings(jid="a@b", host="xmpp.b", port=5223, trusted=("bob@b",))),
])
def test_xmpp(text: str, xmpp: XmppSettings) -> None:
    assert parse(text).xmpp == xmpp


@pytest.mark.parametrize(("text", "level"), [("", "all"), ('[ui]\nnotifications = "none"', "none"),
                                             ('[ui]\nnotifications = "important"', "important")])
def test_ui(text: str, level: str) -> None:
    assert parse(text).ui == UiSettings(notifications=level)


@pytest.mark.parametrize(("text", "names"), [
    ("colour = 1", ["colour: unknown key", "known keys: folder, ui, xmpp"]),
    ("folder = 3", ["folder: must be [[folder]] tables"]),
    ("[[folder]]\ncommit_delay = 1", ["folder[0].path: missing", 'add path = "~/Autosync"']),
    ('[[folder]]\npath = ""', ["folder[0].path: must be a non-empty string"]),
    ("[[folder]]\npath = 3", ["folder[0].path: must be a non-empty string"]),
    ('[[folder]]\npath = "/a"\nspeed = 1', ["folder[0].speed: unknown key"]),
    ('[[folder]]\npath = "/a"\ncommit_delay = "1"', ["folder[0].commit_delay: must be a number"]),
    ('[[folder]]\npath = "/a"\ncommit_delay = true', ["folder[0].commit_delay: must be a number"]),
    ('[[folder]]\npath = "/a"\ncommit_delay = nan', ["folder[0].commit_delay: must be a number"]),
    ('[[folder]]\npath = "/a"\npush_delay = -1', ["folder[0].push_delay: must be at least 0"]),
    ('[[folder]]\npath = "/a"\npoll_interval = 0.5', ["folder[0].poll_interval: must be at least 1"]),
    ('[[folder]]\npath = "/a"\nignore = "*.log"', ["folder[0].ignore: must be a list of strings"]),
    ('[[folder]]\npath = "/a"\nnotify = "yes"', ["folder[0].notify: must be true or false"]),
    ('[[folder]]\npath = "/a"\n[[folder]]\npath = "/a/"', ["folder[1].path: /a is listed twice"]),
    ("xmpp = 1", ["xmpp: must be a table"]),
    ('[xmpp]\njid = "alice"', ["xmpp.jid: must be a bare JID"]),
    ('[xmpp]\njid = "a@b/res"', ["xmpp.jid: must be a bare JID"]),
    ('[xmpp]\njid = "a@b"\nport = 99999', ["xmpp.port: must be a port number 1-65535"]),
    ('[xmpp]\njid = "a@b"\nport = true', ["xmpp.port: must be a port number"]),
    ('[xmpp]\njid = "a@b"\nhost = ""', ["xmpp.host: must be a host name string"]),
    ('[xmpp]\njid = "a@b"\nca_file = "/nonexistent/ca.pem"', ["xmpp.ca_file:", "fix the path"]),
    ('[xmpp]\njid = "a@b"\ntrusted = ["bob"]', ["xmpp.trusted: 'bob' is not a bare JID"]),
    ('[xmpp]\njid = "a@b"\npassword = "x"', ["xmpp.password: unknown key"]),
    ('[ui]\nnotifications = "loud"', ["ui.notifications: 'loud' is not allowed", "'important'"]),
    ("[ui]\ntheme = 1", ["ui.theme: unknown key"]),
])
def test_bad_values_name_the_file_the_key_and_the_fix(text: str, names: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: ") and "\n" not in message
    for fragment in names:
        assert fragment in message, message


@pytest.mark.parametrize(("text", "problem"), [
    (None, "no such configuration file"),
    ("[[folder]\n", "not valid TOML"),
    ("a = " + "[" * 2000 + "]" * 2000, "not valid TOML"),
    (b"\xff\xfe", "cannot read"),
])
def test_unreadable_files(tmp_path: Path, text: str | bytes | None, problem: str) -> None:
    path = tmp_path / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


LEGACY = """[autosync]
path = ~/Autosync
ignorepath = .git /tmp/ build
readfrequency = 5
syncmethod = xmpp

[xmpp]
username = Alice@example.org/laptop
password = hunter2
alsonotify = bob@example.org, nobody
"""


def test_legacy_dvcs_autosync_file_is_mapped(isolated_home: Path) -> None:
    legacy = isolated_home / ".autosync"
    legacy.write_text(LEGACY)
    settings = load_config()  # no XDG file: the legacy one is read
    (folder,) = settings.folders
    assert folder == FolderSettings(path=isolated_home / "Autosync", push_delay=5.0,
                                    ignore=(".git/", "tmp/", "build/"))
    assert settings.xmpp == XmppSettings(jid="alice@example.org", trusted=("bob@example.org",),
                                         legacy_password="hunter2")
    assert "hunter2" not in repr(settings.xmpp)
    assert any("plaintext" in w for w in settings.warnings)


@pytest.mark.parametrize(("text", "problem"), [
    ("[autosync]\nsyncmethod = xmpp\n", "[autosync] path: missing"),
    ("[autosync]\npath = /a\nreadfrequency = soon\n", "[autosync] readfrequency: must be a number"),
    ("[autosync]\npath = /a\n[xmpp]\nusername = alice\n", "[xmpp] username: 'alice' is not a JID"),
])
def test_bad_legacy_files(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "autosync.ini"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert problem in str(caught.value)


@pytest.mark.parametrize("settings", [
    Settings(),
    Settings(folders=(FolderSettings(path=Path("/a b/c\"d")),
                      FolderSettings(path=Path("/e"), commit_delay=0.25, ignore=("x", "y\\z"),
                                     notify=False))),
    Settings(folders=(FolderSettings(path=Path("/a")),),
             xmpp=XmppSettings(jid="a@b", host="h", port=5222, trusted=("c@d",)),
             ui=UiSettings(notifications="none")),
])
def test_render_config_round_trips(settings: Settings) -> None:
    again = parse(render_config(settings))
    assert again.folders == settings.folders
    assert again.xmpp == settings.xmpp and again.ui == settings.ui


def test_with_folder_replaces_the_same_path_in_place_and_appends_a_new_one() -> None:
    first = Settings(folders=(FolderSettings(path=Path("/a")), FolderSettings(path=Path("/b"))))
    changed = with_folder(first, FolderSettings(path=Path("/a"), notify=False))
    assert [(f.path, f.notify) for f in changed.folders] == [(Path("/a"), False), (Path("/b"), True)]
    added = with_folder(first, FolderSettings(path=Path("/c")))
    assert [f.path for f in added.folders] == [Path("/a"), Path("/b"), Path("/c")]
