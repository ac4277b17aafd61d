"""TOML (and legacy dvcs-autosync INI) configuration -> typed settings.

Every problem becomes one ConfigError line naming the file, the key and the fix, so the
CLI can print it and exit 2 without touching anything."""

from __future__ import annotations

import configparser
import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from autosync_gui.atomic_file import write_atomically
from autosync_gui.disk_space import is_disk_full_error, space_at
from autosync_gui.sizes import parse_size
from autosync_gui.xdg import config_home

NOTIFICATION_LEVELS = ("all", "important", "none")
DEFAULT_LARGE_FILE_SIZE = 50_000_000  # 50 MB


class ConfigError(Exception):
    """A bad configuration; str() is the one line shown to the user."""


@dataclass(frozen=True)
class FolderSettings:
    path: Path
    commit_delay: float = 1.0
    push_delay: float = 0.0
    poll_interval: float = 60.0
    ignore: tuple[str, ...] = ()
    notify: bool = True
    # Trusted XMPP accounts (xmpp.trusted) that sync this folder too: they get its push
    # notices, and their notices make it pull. The own account's instances always do.
    share_with: tuple[str, ...] = ()
    # Files at or above this many bytes are large: stored with Git LFS where the remote
    # offers it, left out of partial clones, announced before they enter history. 0: off.
    large_file_size: int = DEFAULT_LARGE_FILE_SIZE
    # desktop notifications for this folder (one of NOTIFICATION_LEVELS); None follows
    # [ui] notifications
    notifications: str | None = None


@dataclass(frozen=True)
class XmppSettings:
    jid: str
    host: str | None = None
    port: int | None = None
    ca_file: Path | None = None
    trusted: tuple[str, ...] = ()
    # Only ever set from a legacy INI file; never written back.
    legacy_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class UiSettings:
    notifications: str = "all"  # one of NOTIFICATION_LEVELS


@dataclass(frozen=True)
class Settings:
    folders: tuple[FolderSettings, ...] = ()
    xmpp: XmppSettings | None = None
    ui: UiSettings = UiSettings()
    source: Path | None = None
    warnings: tuple[str, ...] = ()


def default_config_path() -> Path:
    return config_home() / "autosync" / "config.toml"


def legacy_config_path() -> Path:
    return Path.home() / ".autosync"


def choose_config_path(path: Path | None = None) -> Path:
    """The file an instance started with `--config path` reads: the given file, else the
    XDG TOML file, else a legacy ~/.autosync (when only that exists)."""
    if path is not None:
        return path
    chosen = default_config_path()
    if not chosen.exists() and legacy_config_path().exists():
        return legacy_config_path()
    return chosen


def load_config(path: Path | None = None) -> Settings:
    """Load the given file, else the XDG TOML file, else a legacy ~/.autosync."""
    path = choose_config_path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such configuration file; create it (see README) or pass --config")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc}); fix the file's permissions or encoding") from exc
    if path.suffix != ".toml" and _looks_like_ini(text):
        return _parse_legacy(path, text)
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # deep nesting: RecursionError
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from exc
    return parse_settings(data, path)


def _looks_like_ini(text: str) -> bool:
    return any(line.strip().lower() == "[autosync]" for line in text.splitlines())


def parse_settings(data: dict[str, Any], source: Path) -> Settings:
    _reject_unknown(data, {"folder", "xmpp", "ui"}, source, "")
    raw_folders = data.get("folder", [])
    if isinstance(raw_folders, dict):
        raw_folders = [raw_folders]
    if not isinstance(raw_folders, list) or not all(isinstance(f, dict) for f in raw_folders):
        raise ConfigError(f"{source}: folder: must be [[folder]] tables; write [[folder]] then path = ...")
    folders = tuple(_parse_folder(f, source, f"folder[{i}]") for i, f in enumerate(raw_folders))
    seen: set[Path] = set()
    for i, folder in enumerate(folders):
        if folder.path in seen:
            raise ConfigError(f"{source}: folder[{i}].path: {folder.path} is listed twice; remove one")
        seen.add(folder.path)
    xmpp = None
    if "xmpp" in data:
        if not isinstance(data["xmpp"], dict):
            raise ConfigError(f"{source}: xmpp: must be a table; write [xmpp] then jid = ...")
        xmpp = _parse_xmpp(data["xmpp"], source)
    trusted = {t.lower() for t in xmpp.trusted} if xmpp is not None else set()
    for i, folder in enumerate(folders):
        for jid in folder.share_with:
            if jid not in trusted:
                raise ConfigError(f"{source}: folder[{i}].share_with: {jid!r} is not in "
                                  "xmpp.trusted; add it there too (or remove it here)")
    ui = UiSettings()
    if "ui" in data:
        raw_ui = data["ui"]
        if not isinstance(raw_ui, dict):
            raise ConfigError(f"{source}: ui: must be a table; write [ui]")
        _reject_unknown(raw_ui, {"notifications"}, source, "ui.")
        level = raw_ui.get("notifications", "all")
        if level not in NOTIFICATION_LEVELS:
            raise ConfigError(
                f"{source}: ui.notifications: {level!r} is not allowed; use one of "
                + ", ".join(repr(v) for v in NOTIFICATION_LEVELS)
            )
        ui = UiSettings(notifications=level)
    return Settings(folders=folders, xmpp=xmpp, ui=ui, source=source)


def _reject_unknown(table: dict[str, Any], allowed: set[str], source: Path, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{source}: {prefix}{key}: unknown key; remove it (known keys: {', '.join(sorted(allowed))})"
            )


def _number(table: dict[str, Any], key: str, default: float, source: Path, where: str,
            minimum: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{source}: {where}.{key}: must be a number of seconds, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{source}: {where}.{key}: must be at least {minimum:g}, got {value!r}")
    return float(value)


def _string_list(table: dict[str, Any], key: str, source: Path, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{source}: {where}.{key}: must be a list of strings, e.g. ["*.log"]')
    return tuple(value)


def _size(table: dict[str, Any], key: str, default: int, source: Path, where: str) -> int:
    value = table.get(key, default)
    problem = f'{source}: {where}.{key}: must be a size like "50 MB" or a number of bytes ' \
              f"(0 turns it off), got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(problem)
    if isinstance(value, str):
        try:
            return parse_size(value)
        except ValueError:
            raise ConfigError(problem) from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(problem)
    return int(value)


def _parse_folder(raw: dict[str, Any], source: Path, where: str) -> FolderSettings:
    _reject_unknown(raw, {"path", "commit_delay", "push_delay", "poll_interval", "ignore", "notify",
                          "share_with", "notifications", "large_file_size"}, source,
                    where + ".")
    if "path" not in raw:
        raise ConfigError(f'{source}: {where}.path: missing; add path = "~/Autosync"')
    path_value = raw["path"]
    if not isinstance(path_value, str) or not path_value.strip():
        raise ConfigError(f'{source}: {where}.path: must be a non-empty string, e.g. "~/Autosync"')
    path = Path(os.path.expandvars(path_value)).expanduser()
    if not path.is_absolute():
        path = (source.parent / path).resolve()
    notify = raw.get("notify", True)
    if not isinstance(notify, bool):
        raise ConfigError(f"{source}: {where}.notify: must be true or false, got {notify!r}")
    level = raw.get("notifications")
    if level is not None and level not in NOTIFICATION_LEVELS:
        raise ConfigError(f"{source}: {where}.notifications: {level!r} is not allowed; use one "
                          "of " + ", ".join(repr(v) for v in NOTIFICATION_LEVELS))
    return FolderSettings(
        path=Path(os.path.normpath(path)),
        commit_delay=_number(raw, "commit_delay", 1.0, source, where, 0.0),
        push_delay=_number(raw, "push_delay", 0.0, source, where, 0.0),
        poll_interval=_number(raw, "poll_interval", 60.0, source, where, 1.0),
        ignore=_string_list(raw, "ignore", source, where),
        notify=notify,
        share_with=tuple(j.lower() for j in _string_list(raw, "share_with", source, where)),
        notifications=level,
        large_file_size=_size(raw, "large_file_size", DEFAULT_LARGE_FILE_SIZE, source, where),
    )


def _parse_xmpp(raw: dict[str, Any], source: Path) -> XmppSettings:
    _reject_unknown(raw, {"jid", "host", "port", "ca_file", "trusted"}, source, "xmpp.")
    jid = raw.get("jid")
    if not isinstance(jid, str) or "@" not in jid or "/" in jid or jid.startswith("@") \
            or jid.endswith("@"):
        raise ConfigError(f'{source}: xmpp.jid: must be a bare JID like "alice@example.org", got {jid!r}')
    host = raw.get("host")
    if host is not None and (not isinstance(host, str) or not host):
        raise ConfigError(f"{source}: xmpp.host: must be a host name string, got {host!r}")
    port = raw.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or
                             not 0 < port < 65536):
        raise ConfigError(f"{source}: xmpp.port: must be a port number 1-65535, got {port!r}")
    ca_file = raw.get("ca_file")
    ca_path = None
    if ca_file is not None:
        if not isinstance(ca_file, str):
            raise ConfigError(f"{source}: xmpp.ca_file: must be a path string, got {ca_file!r}")
        ca_path = Path(ca_file).expanduser()
        if not ca_path.is_file():
            raise ConfigError(f"{source}: xmpp.ca_file: {ca_path} does not exist; fix the path")
    trusted = _string_list(raw, "trusted", source, "xmpp")
    for t in trusted:
        if "@" not in t or "/" in t:
            raise ConfigError(f'{source}: xmpp.trusted: {t!r} is not a bare JID like "bob@example.org"')
    return XmppSettings(jid=jid.lower(), host=host, port=port, ca_file=ca_path,
                        trusted=tuple(t.lower() for t in trusted))


def _parse_legacy(source: Path, text: str) -> Settings:
    """Map dvcs-autosync's ~/.autosync onto our settings."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(source))
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{source}: not a valid legacy INI file ({first}); fix the syntax") from exc
    section = parser["autosync"]
    if "path" not in section:
        raise ConfigError(f"{source}: [autosync] path: missing; add path = ~/Autosync")
    path = Path(os.path.expandvars(section["path"])).expanduser()
    ignore = tuple(p.strip("/") + "/" for p in section.get("ignorepath", "").split() if p.strip("/"))
    push_delay = FolderSettings.push_delay
    if "readfrequency" in section:
        try:
            push_delay = float(section["readfrequency"])
        except ValueError:
            raise ConfigError(
                f"{source}: [autosync] readfrequency: must be a number of seconds, got "
                f"{section['readfrequency']!r}"
            ) from None
    warnings: list[str] = [f"{source}: legacy dvcs-autosync file; consider moving to "
                           f"{default_config_path()}"]
    xmpp = None
    syncmethod = section.get("syncmethod", "xmpp").strip().lower()
    if parser.has_section("xmpp") and syncmethod in ("xmpp", "all"):
        x = parser["xmpp"]
        jid = x.get("username", "").strip()
        if jid:
            if "@" not in jid:
                raise ConfigError(f"{source}: [xmpp] username: {jid!r} is not a JID like alice@example.org")
            password = x.get("password") or None
            if password:
                warnings.append(
                    f"{source}: [xmpp] password is stored in plaintext; store it in the keyring "
                    f"(service 'autosync', user '{jid}') and remove it from the file"
                )
            trusted = tuple(t.strip().lower() for t in x.get("alsonotify", "").split(",")
                            if "@" in t)
            xmpp = XmppSettings(jid=jid.split("/")[0].lower(), trusted=trusted,
                                legacy_password=password)
    folder = FolderSettings(path=Path(os.path.normpath(path)), push_delay=push_delay, ignore=ignore)
    return Settings(folders=(folder,), xmpp=xmpp, source=source, warnings=tuple(warnings))


# ---------------------------------------------------------------------------- writing

def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def render_config(settings: Settings) -> str:
    lines: list[str] = ["# autosync configuration (see README)", ""]
    defaults = FolderSettings(path=Path())
    for folder in settings.folders:
        lines.append("[[folder]]")
        lines.append(f"path = {_toml_value(folder.path)}")
        for key in ("commit_delay", "push_delay", "poll_interval", "ignore", "notify",
                    "share_with", "notifications", "large_file_size"):
            value = getattr(folder, key)
            if value != getattr(defaults, key):
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    if settings.xmpp is not None:
        x = settings.xmpp
        lines.append("[xmpp]")
        lines.append(f"jid = {_toml_value(x.jid)}")
        if x.host:
            lines.append(f"host = {_toml_value(x.host)}")
        if x.port:
            lines.append(f"port = {x.port}")
        if x.ca_file:
            lines.append(f"ca_file = {_toml_value(x.ca_file)}")
        if x.trusted:
            lines.append(f"trusted = {_toml_value(x.trusted)}")
        lines.append("")
    if settings.ui != UiSettings():
        lines.append("[ui]")
        lines.append(f"notifications = {_toml_value(settings.ui.notifications)}")
        lines.append("")
    return "\n".join(lines)


def check_settings(settings: Settings, path: Path) -> str:
    """The file text for `settings`, checked by reading it back as the loader would:
    raises ConfigError (one line) for anything the loader would refuse."""
    text = render_config(settings)
    parse_settings(tomllib.loads(text), path)  # never write what we could not read back
    return text


def save_config(settings: Settings, path: Path) -> None:
    """Write atomically (temp file + fsync + rename): a crash leaves the old or the new file."""
    text = check_settings(settings, path)
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
        write_atomically(path, text.encode("utf-8"), private=True)  # 0600: it names accounts
    except OSError as exc:
        if not is_disk_full_error(exc):
            raise
        try:
            space = space_at(path.parent)
            where = f"disk full on {space.device}: {space.free_mb} MB free"
        except OSError:
            where = "disk full"
        raise ConfigError(f"{path}: not saved, {where}; the previous settings are kept: "
                          "free some space and save again") from None


def with_folder(settings: Settings, folder: FolderSettings) -> Settings:
    """Settings with one more folder (replacing an entry with the same path, in place)."""
    if any(f.path == folder.path for f in settings.folders):
        return replace(settings, folders=tuple(folder if f.path == folder.path else f
                                               for f in settings.folders))
    return replace(settings, folders=(*settings.folders, folder))


def without_folder(settings: Settings, path: Path) -> Settings:
    """Settings with the folder at `path` no longer synced."""
    return replace(settings, folders=tuple(f for f in settings.folders if f.path != path))


def remember_ignored(path: Path, folder: Path, pattern: str) -> Settings:
    """Add `pattern` to the `ignore` of `folder` in the configuration file at `path` (read
    afresh, written atomically); returns the settings written. ConfigError when the file
    cannot be read or no longer has the folder."""
    settings = load_config(path)
    entry = next((f for f in settings.folders if Path(f.path) == Path(folder)), None)
    if entry is None:
        raise ConfigError(f"{path}: no [[folder]] with path {folder} any more; add the "
                          f"pattern {pattern} to that folder's ignore by hand")
    if pattern in entry.ignore:
        return settings
    updated = with_folder(settings, replace(entry, ignore=(*entry.ignore, pattern)))
    save_config(updated, path)
    return updated
