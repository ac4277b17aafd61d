"""The set-up from a terminal: `autosync add`, `remove`, `trust-host`, `ssh-key`,
`credential` and `xmpp set-password`.

Each validates with the same code and words as the wizard (engine/setup.py), changes
nothing on a bad input (one line on stderr, exit 2), and writes the configuration
atomically; a running instance notices the changed file and starts or stops the folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


def add_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the set-up subcommands on the main parser's subparsers."""
    cred = sub.add_parser("credential", help="git credential helper on the system keyring "
                          "(git calls it; see README)")
    cred.add_argument("action", help="get, store or erase (git's credential protocol)")
    cred.set_defaults(handler=_credential)


def _credential(args: argparse.Namespace) -> int:
    from autosync_gui import credentials

    return credentials.run_helper(args.action, sys.stdin, sys.stdout, sys.stderr)


def fail(message: str) -> int:
    """One line on stderr; the exit code for a bad input."""
    one_line = str(message).replace("\r", "\\r").replace("\n", "\\n")
    print(f"autosync: {one_line}", file=sys.stderr)
    return EXIT_USAGE


def _config_path(args: argparse.Namespace) -> Path | None:
    value = getattr(args, "config", None)
    return Path(value) if value is not None else None
