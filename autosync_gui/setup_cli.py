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

    key = sub.add_parser("ssh-key", help="print the public ssh key git will use (to paste "
                         "into the server or forge)")
    key.add_argument("--create", action="store_true",
                     help="create an ed25519 key when there is none")
    key.add_argument("--host", default="autosync-key-check",
                     help="the server, when ~/.ssh/config picks a key per host")
    key.set_defaults(handler=_ssh_key)

    trust = sub.add_parser("trust-host", help="show an ssh server's fingerprint and add it "
                           "to known_hosts")
    trust.add_argument("host", help="host name or ~/.ssh/config alias")
    trust.add_argument("--port", type=int, default=None, help="ssh port (default: as "
                       "~/.ssh/config says, else 22)")
    trust.add_argument("--yes", action="store_true", help="trust without asking (check "
                       "the fingerprint first)")
    trust.set_defaults(handler=_trust_host)


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


def _ssh_key(args: argparse.Namespace) -> int:
    from autosync_gui.engine import ssh_setup

    try:
        target = ssh_setup.resolve(args.host)
        keys = ssh_setup.public_keys(target)
        if not keys:
            if not args.create:
                return fail("no ssh key found (no agent key, no identity file); create one "
                            "with `autosync ssh-key --create`")
            path = ssh_setup.key_to_create(target)
            keys = [ssh_setup.create_key(path)]
            print(f"created {path}", file=sys.stderr)
    except ssh_setup.SshSetupError as exc:
        return fail(str(exc))
    key = keys[0]
    where = f" ({key.path}.pub)" if key.path else " (from the ssh agent)"
    print(key.text)
    print(f"{key.fingerprint}{where}: add this line to the server's ~/.ssh/authorized_keys, "
          "to gitolite (keydir/NAME.pub), or to your account's SSH keys page on "
          "Gitea/Forgejo/GitLab/GitHub", file=sys.stderr)
    return 0


def _trust_host(args: argparse.Namespace) -> int:
    from autosync_gui.engine import ssh_setup

    try:
        check = ssh_setup.check_host(args.host, args.port)
    except (ssh_setup.SshSetupError, OSError) as exc:
        return fail(str(exc))
    target, key = check.target, check.offered
    print(f"{target.alias} ({target.hostname} port {target.port}) presents "
          f"{key.short_type} key {key.fingerprint}")
    if check.state is ssh_setup.HostKeyState.TRUSTED:
        print("already trusted; nothing to do", file=sys.stderr)
        return 0
    if check.state is ssh_setup.HostKeyState.CHANGED:
        return fail(ssh_setup.changed_warning(check))
    if not args.yes:
        if not sys.stdin.isatty():
            return fail(f"host {target.alias}: not trusted yet; compare the fingerprint with "
                        "what the server's admin tells you, then run again with --yes")
        answer = input("Trust this server? Compare the fingerprint first [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return fail(f"host {target.alias}: not trusted; nothing was changed")
    path = ssh_setup.trust(check)
    print(f"added to {path}", file=sys.stderr)
    return 0
