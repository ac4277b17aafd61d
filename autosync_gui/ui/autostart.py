"""*Start at login*: an XDG autostart entry in $XDG_CONFIG_HOME/autostart/autosync.desktop.

The desktop session starts whatever is there, so the checkbox is just this file's
existence; nothing else needs to remember the choice."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from autosync_gui.config import default_config_path
from autosync_gui.xdg import config_home


def autostart_path() -> Path:
    return config_home() / "autostart" / "autosync.desktop"


def launch_command(config: Path | None = None) -> list[str]:
    """How the session should start us: the installed gui-script when there is one, so
    the entry survives venv path changes; else this interpreter with -m."""
    script = shutil.which("autosync-gui")
    if script is None:
        beside = Path(sys.executable).with_name("autosync-gui")
        script = str(beside) if beside.exists() else None
    cmd = [script] if script else [sys.executable, "-m", "autosync_gui"]
    if config is not None and Path(config) != default_config_path():
        cmd += ["--config", str(config)]
    return cmd


def _exec_quote(arg: str) -> str:
    """Quote one argument as the Desktop Entry spec wants (double quotes, escapes)."""
    if arg and all(c.isalnum() or c in "/._-+=,:@" for c in arg):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg).replace("%", "%%")
    return f'"{escaped}"'


def desktop_entry(config: Path | None = None) -> str:
    cmd = " ".join(_exec_quote(a) for a in launch_command(config))
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=autosync",
        "Comment=Keep folders in sync between your machines through git",
        f"Exec={cmd}",
        "Icon=autosync",
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
        "",
    ])


def is_enabled() -> bool:
    return autostart_path().is_file()


def enable(config: Path | None = None) -> Path:
    """Write the autostart entry (atomically, so a session never reads half a file)."""
    path = autostart_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(desktop_entry(config), encoding="utf-8")
    os.replace(tmp, path)
    return path


def disable() -> None:
    autostart_path().unlink(missing_ok=True)


def set_enabled(on: bool, config: Path | None = None) -> None:
    if on:
        enable(config)
    else:
        disable()


__all__ = ["autostart_path", "desktop_entry", "disable", "enable", "is_enabled",
           "launch_command", "set_enabled"]
