"""The `autosync` command's entry point. `autosync credential ACTION` (git starts it at
every https fetch and push) is answered here, before the engine, Qt and the control
code are loaded; everything else goes to cli.main."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "credential":
        from autosync_gui import credentials

        return credentials.run_helper(args[1], sys.stdin, sys.stdout, sys.stderr)
    from autosync_gui.cli import main as cli_main

    return cli_main(argv)
