"""The set-up from a terminal: `autosync add`, `remove`, `trust-host`, `ssh-key`,
`credential` and `xmpp set-password`.

Each validates with the same code and words as the wizard (engine/setup.py), changes
nothing on a bad input (one line on stderr, exit 2), and writes the configuration
atomically; a running instance notices the changed file and starts or stops the folder."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

# Only what `autosync credential` needs is loaded up front: git starts it at every https
# fetch and push. The set-up commands load the rest when they run.
from autosync_gui import credentials

if TYPE_CHECKING:
    from autosync_gui.config import Settings
    from autosync_gui.engine import setup
    from autosync_gui.engine.progress_run import Progress


EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


def _common(parser: argparse.ArgumentParser) -> None:
    """`--config` and `-v` after the subcommand too (as `run` takes them)."""
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                        help="configuration file (default: ~/.config/autosync/config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)


def add_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the set-up subcommands on the main parser's subparsers."""
    add = sub.add_parser("add", help="set up a folder and sync it (a running autosync "
                         "picks it up)")
    add.add_argument("path", type=Path, help="the folder")
    how = add.add_mutually_exclusive_group()
    how.add_argument("--clone", metavar="URL", help="clone this remote into the folder "
                     "(new or empty)")
    how.add_argument("--create-remote", metavar="URL", help="create a new bare remote at a "
                     "path or user@host:path, commit what is in the folder, push")
    add.add_argument("--hg", action="store_true", help="with --create-remote: a Mercurial "
                     "repository and remote (a path or ssh://host/path); a clone or an "
                     "existing folder is recognised as Mercurial by itself")
    add.add_argument("--commit-delay", type=float, metavar="SECONDS")
    add.add_argument("--push-delay", type=float, metavar="SECONDS")
    add.add_argument("--poll-interval", type=float, metavar="SECONDS")
    add.add_argument("--ignore", action="append", default=[], metavar="PATTERN",
                     help="a .gitignore pattern not to sync (repeatable)")
    _common(add)
    add.set_defaults(handler=_add)

    remove = sub.add_parser("remove", help="stop syncing a folder (its files and history "
                            "stay)")
    remove.add_argument("path", type=Path)
    _common(remove)
    remove.set_defaults(handler=_remove)

    xmpp = sub.add_parser("xmpp", help="the XMPP account")
    xmpp_sub = xmpp.add_subparsers(dest="xmpp_command", required=True)
    set_password = xmpp_sub.add_parser("set-password", help="store the account's password "
                                       "in the keyring (read from stdin, no echo)")
    set_password.add_argument("jid", help="the bare JID, e.g. alice@example.org")
    _common(set_password)
    set_password.set_defaults(handler=_xmpp_set_password)

    cred = sub.add_parser("credential", help="git credential helper on the system keyring "
                          "(git calls it; see README)")
    cred.add_argument("action", help="get, store or erase (git's credential protocol)")
    _common(cred)
    cred.set_defaults(handler=_credential)

    key = sub.add_parser("ssh-key", help="print the public ssh key git will use (to paste "
                         "into the server or forge)")
    key.add_argument("--create", action="store_true",
                     help="create an ed25519 key when there is none")
    key.add_argument("--host", default="autosync-key-check",
                     help="the server, when ~/.ssh/config picks a key per host")
    _common(key)
    key.set_defaults(handler=_ssh_key)

    trust = sub.add_parser("trust-host", help="show an ssh server's fingerprint and add it "
                           "to known_hosts")
    trust.add_argument("host", help="host name or ~/.ssh/config alias")
    trust.add_argument("--port", type=int, default=None, help="ssh port (default: as "
                       "~/.ssh/config says, else 22)")
    trust.add_argument("--yes", action="store_true", help="trust without asking (check "
                       "the fingerprint first)")
    _common(trust)
    trust.set_defaults(handler=_trust_host)


def _credential(args: argparse.Namespace) -> int:
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


# ---------------------------------------------------------------------------- add / remove

def _load(args: argparse.Namespace) -> tuple[Settings, Path]:
    """The current settings and the file they are written back to."""
    from autosync_gui.config import Settings, default_config_path, legacy_config_path, load_config

    explicit = _config_path(args)
    path = explicit or default_config_path()
    if explicit is None and not path.exists() and legacy_config_path().exists():
        return load_config(None), path  # a legacy file: migrated on write
    if not path.exists():
        return Settings(source=path), path
    return load_config(path), path


def _print_progress(progress: Progress) -> None:
    tty = sys.stderr.isatty()
    if tty:
        end = "\n" if progress.line.endswith("done.") else "\r"
        print(f"\x1b[2K{progress.line}", end=end, file=sys.stderr, flush=True)
    elif progress.line.endswith("done.") or progress.percent is None:
        print(progress.line, file=sys.stderr, flush=True)


def _ask_credentials(url: str) -> credentials.Credential | None:
    """On a terminal, ask for the user name and token the server wants."""
    if not sys.stdin.isatty():
        return None
    print(f"{url} asks for a user name and a password or token.", file=sys.stderr)
    user = input("User name: ").strip()
    token = getpass.getpass("Password or token: ")
    return credentials.Credential(user, token) if user and token else None


def _add(args: argparse.Namespace) -> int:
    from autosync_gui.config import (
        ConfigError,
        FolderSettings,
        check_settings,
        save_config,
        with_folder,
    )
    from autosync_gui.engine import setup
    from autosync_gui.engine.remote import RemoteError

    if args.hg and not args.create_remote:
        return fail("--hg: only with --create-remote URL (a clone or an existing folder is "
                    "recognised as Mercurial by itself)")
    try:
        settings, config_path = _load(args)
    except ConfigError as exc:
        return fail(str(exc))
    undo = setup.Undo()
    try:
        folder = setup.check_folder_choice(Path(args.path).absolute(),
                                           [f.path for f in settings.folders])
        defaults = FolderSettings(path=folder)
        folder_settings = replace(
            defaults,
            commit_delay=defaults.commit_delay if args.commit_delay is None
            else args.commit_delay,
            push_delay=defaults.push_delay if args.push_delay is None else args.push_delay,
            poll_interval=defaults.poll_interval if args.poll_interval is None
            else args.poll_interval,
            ignore=tuple(args.ignore))
        new = with_folder(settings, folder_settings)
        check_settings(new, config_path)  # a bad option fails here, before any git work
        _set_up(args, folder, undo)
        save_config(new, config_path)
    except KeyboardInterrupt:
        undo.run()
        print("autosync: cancelled; nothing was kept", file=sys.stderr)
        return 130
    except (setup.SetupError, RemoteError, ConfigError, credentials.CredentialError,
            OSError) as exc:
        undo.run()
        return fail(str(exc))
    undo.forget()
    print(f"autosync: {folder} is synced now ({config_path}); a running autosync picks it up",
          file=sys.stderr)
    return 0


def _set_up(args: argparse.Namespace, folder: Path, undo: setup.Undo) -> None:
    """The git work for `add`, asking for https credentials on a terminal when needed."""
    from autosync_gui.engine import setup
    from autosync_gui.engine.remote import RemoteError, RemoteProblem, Transport, parse_remote

    url = args.clone or args.create_remote
    for attempt in range(2):
        try:
            if args.clone:
                setup.clone_remote(url, folder, progress=_print_progress, undo=undo)
            elif args.create_remote:
                if (folder / ".git").exists() or (folder / ".hg").is_dir():
                    setup.add_remote(folder, url, progress=_print_progress, undo=undo)
                else:
                    setup.create_new(folder, url, progress=_print_progress, undo=undo,
                                     backend="hg" if args.hg else "git")
            else:
                try:
                    url = setup.check_existing(folder)
                except setup.NoRemoteError as exc:
                    raise setup.SetupError(f"{exc} (autosync add {folder} --create-remote "
                                           "URL)") from None
            return
        except RemoteError as exc:
            https = parse_remote(exc.url).transport is Transport.HTTPS
            if attempt or exc.problem is not RemoteProblem.AUTH or not https:
                raise
            given = _ask_credentials(exc.url)
            if given is None:
                raise
            credentials.save(exc.url, given)
            undo.add("forget the new credentials", partial(credentials.forget, exc.url))


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a == b or a.resolve() == b.resolve()
    except OSError:
        return False


def _remove(args: argparse.Namespace) -> int:
    from autosync_gui.config import ConfigError, save_config, without_folder

    try:
        settings, config_path = _load(args)
    except ConfigError as exc:
        return fail(str(exc))
    wanted = Path(os.path.normpath(Path(args.path).expanduser().absolute()))
    match = next((f for f in settings.folders if _same_folder(f.path, wanted)), None)
    if match is None:
        synced = ", ".join(str(f.path) for f in settings.folders) or "none"
        return fail(f"folder {wanted}: not synced (synced folders: {synced}); nothing changed")
    try:
        save_config(without_folder(settings, match.path), config_path)
    except (ConfigError, OSError) as exc:
        return fail(str(exc))
    print(f"autosync: {match.path} is no longer synced; its files and history stay",
          file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- xmpp

def _xmpp_set_password(args: argparse.Namespace) -> int:
    from autosync_gui import secrets

    jid = args.jid.strip().lower()
    local, _, domain = jid.partition("@")
    if not local or not domain or "/" in jid or "@" in domain or " " in jid:
        return fail(f"JID {args.jid!r}: must look like alice@example.org (no resource)")
    if sys.stdin.isatty():
        password = getpass.getpass(f"XMPP password for {jid}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        return fail("password: empty; type it, or pipe it on stdin")
    try:
        secrets.store_xmpp_password(jid, password)
    except secrets.SecretError as exc:
        return fail(str(exc))
    print(f"autosync: the password for {jid} is in the keyring; a running autosync logs in "
          "again with it", file=sys.stderr)
    return 0
