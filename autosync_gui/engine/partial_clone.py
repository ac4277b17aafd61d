"""New machines do not download all history: clones autosync makes leave out blobs of
large_file_size or more (they are fetched when a checkout needs them, and old versions
when the history viewer or a restore asks), and the bare remotes autosync creates are
set up to serve such clones and to keep what they receive packed.

Used by the set-up code (engine/setup.py): `clone_options` for `git clone`,
`configure_bare_remote` / `bare_remote_config_commands` for a new bare repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

# What autosync sets on a bare remote it creates:
# - serve partial clones and fetches of single old objects;
# - keep every push as a pack (a 1 MB edit of a 300 MB file is otherwise exploded into
#   a new 300 MB loose object), and let git's own gc after a push fold the new pack into
#   the others, so the edit is stored as a delta: with more than one pack, repack all
#   (deltas are reused, so this is mostly a copy at disk speed, detached from the push).
BARE_REMOTE_CONFIG: tuple[tuple[str, str], ...] = (
    ("uploadpack.allowFilter", "true"),
    ("uploadpack.allowAnySHA1InWant", "true"),
    ("receive.unpackLimit", "1"),
    ("gc.autoPackLimit", "1"),
    ("gc.autoDetach", "true"),
    ("pack.windowMemory", "1g"),
)


def clone_options(large_file_size: int) -> list[str]:
    """Options for `git clone` by autosync: a partial clone without the large blobs
    (git falls back to a full clone, with a warning, when the server does not allow
    filters)."""
    if large_file_size <= 0:
        return []
    return [f"--filter=blob:limit={large_file_size}"]


def bare_remote_config_commands(git_dir: str) -> list[list[str]]:
    """The `git config` commands that set up the bare repository at `git_dir`."""
    return [["git", "--git-dir", git_dir, "config", key, value]
            for key, value in BARE_REMOTE_CONFIG]


def configure_bare_remote(git_dir: Path) -> None:
    """Set up a local bare repository autosync just created (see BARE_REMOTE_CONFIG)."""
    for command in bare_remote_config_commands(str(git_dir)):
        subprocess.run(command, check=True, capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
