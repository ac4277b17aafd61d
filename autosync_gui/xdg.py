"""Where the XDG base directories are (the one lookup every module uses)."""

from __future__ import annotations

import os
from pathlib import Path


def config_home() -> Path:
    """$XDG_CONFIG_HOME, else ~/.config."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def state_home() -> Path:
    """$XDG_STATE_HOME, else ~/.local/state."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
