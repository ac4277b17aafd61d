"""The command-line side of controlling a running instance: `autosync status`, `pause`,
`resume`, `sync-now`, `activity`, `versions`, `restore`, `deleted`, `conflicts`, `keep`,
`large-file`.

Each command sends one request to the instance of the configuration (`--config FILE`, else
the default one) and prints the answer. Exit codes: 0 done, 2 bad input (one line naming
the thing and the fix), 3 no instance runs; `status` exits 1 when a folder is not idle."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from autosync_gui.control.client import CommandFailedError, ControlClient, NoInstanceError
from autosync_gui.control.instance import InstancePaths, instance_paths
from autosync_gui.control.protocol import EXIT_BAD_INPUT, MAX_ACTIVITY
from autosync_gui.control.runtime import UnsafeRuntimeError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
Handler = Callable[[argparse.Namespace, InstancePaths], int]


class BadInputError(Exception):
    """A bad argument; str() is the one line shown (exit 2)."""


# ---------------------------------------------------------------------------- parsing

def parse_duration(text: str) -> float:
    """"30s", "15m", "1h", "2d" -> seconds."""
    match = _DURATION.match(text)
    if match is None or float(match[1]) <= 0:
        raise BadInputError(f"{text!r} is not a duration; use a number and a unit, e.g. 30s, "
                            "15m, 1h or 2d")
    return float(match[1]) * _UNITS[match[2]]


def parse_when(text: str) -> datetime:
    """A moment: a duration ago ("2h", "3d") or a date/time ("2025-01-31",
    "2025-01-31 14:30", ISO 8601 with or without offset; local time if none)."""
    if _DURATION.match(text):
        return datetime.now().astimezone() - timedelta(seconds=parse_duration(text))
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInputError(f"{text!r} is not a time; use e.g. 2025-01-31, \"2025-01-31 "
                            "14:30\" or a time ago like 2h or 3d") from None
    return when if when.tzinfo is not None else when.astimezone()


def _path(text: str | None) -> str | None:
    if text is None:
        return None
    if "\0" in text or not text:
        raise BadInputError(f"{text!r} is not a path")
    return os.path.abspath(text)


# ---------------------------------------------------------------------------- printing

def _local(iso: str | None, seconds: bool = True) -> str:
    if not iso:
        return "never"
    when = datetime.fromisoformat(iso).astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------- commands

def _status(args: argparse.Namespace, paths: InstancePaths) -> int:
    with ControlClient(paths) as client:
        status = client.call("status")
    if args.json:
        _say(json.dumps(status, indent=2))
    else:
        inst = status["instance"]
        _say(f"autosync {inst['version']} ({inst['mode']}, pid {inst['pid']}, host "
             f"{inst['host']}), configuration {inst['config']}")
        if not status["folders"]:
            _say("no folder synced")
        for folder in status["folders"]:
            _print_folder(folder)
    return 0 if status["idle"] else 1


def _print_folder(folder: dict[str, Any]) -> None:
    state = folder["state"]
    if folder["paused_until"]:
        state += f" until {_local(folder['paused_until'], seconds=False)}"
    _say(f"{folder['path']}: {state}")
    if folder["remote"] is not None:
        _say(f"  last sync {_local(folder['last_sync'])}; "
             f"{_plural(folder['pending_changes'] or 0, 'pending change')}, "
             f"{_plural(folder['unpushed_commits'] or 0, 'commit')} not pushed; remote "
             f"{folder['remote']}")
    transfer = folder.get("transfer")
    if transfer:
        _say(f"  {transfer['description']} ({transfer['what']})")
    for conflict in folder["conflicts"]:
        _say(f"  conflict: {conflict['path']} (other version: {conflict['copy']})")
    for waiting in folder.get("large_files_waiting") or []:
        quoted = shlex.quote(waiting["absolute"])
        _say(f"  large file waiting: {waiting['path']} ({_size(waiting['size'])}), not in "
             f"history until you choose: autosync large-file {quoted} --dont-sync (or "
             "--sync-anyway)")
    if folder["error"]:
        _say(f"  error: {folder['error']}")


def _pause(args: argparse.Namespace, paths: InstancePaths) -> int:
    seconds = parse_duration(args.duration) if args.duration is not None else None
    with ControlClient(paths) as client:
        done = client.call("pause", path=_path(args.path), seconds=seconds)
    for folder in done["folders"]:
        until = folder["paused_until"]
        _say(f"paused {folder['path']} " + (f"until {_local(until)}" if until
                                            else "until resumed (autosync resume)"))
    return 0


def _resume(args: argparse.Namespace, paths: InstancePaths) -> int:
    with ControlClient(paths) as client:
        done = client.call("resume", path=_path(args.path))
    for folder in done["folders"]:
        _say(f"resumed {folder['path']}" if folder["was_paused"]
             else f"{folder['path']} was not paused; it keeps syncing")
    return 0


def _sync_now(args: argparse.Namespace, paths: InstancePaths) -> int:
    with ControlClient(paths) as client:
        done = client.call("sync_now", path=_path(args.path))
    for folder in done["folders"]:
        if folder["resumed"]:
            _say(f"{folder['path']} was paused: resumed it, syncing now")
        else:
            _say(f"syncing {folder['path']} now")
    return 0


def _print_event(event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _say(json.dumps(event))
    else:
        _say(f"{_local(event['time'])}  {event['folder']}: {event['summary']}")


def _activity(args: argparse.Namespace, paths: InstancePaths) -> int:
    if not 1 <= args.n <= MAX_ACTIVITY:
        raise BadInputError(f"-n {args.n}: give a number from 1 to {MAX_ACTIVITY}")
    if args.follow:
        with ControlClient(paths, timeout=None) as client:
            for event in client.follow(args.n):
                _print_event(event, args.json)
        return 0
    with ControlClient(paths) as client:
        answer = client.call("activity", limit=args.n)
    for event in answer["events"]:
        _print_event(event, args.json)
    return 0


def _versions(args: argparse.Namespace, paths: InstancePaths) -> int:
    with ControlClient(paths) as client:
        answer = client.call("versions", path=_path(args.file))
    if args.json:
        _say(json.dumps(answer, indent=2))
        return 0
    _say(f"versions of {answer['path']} in {answer['folder']}, newest first:")
    for v in answer["versions"]:
        change = v["change"]
        if v["previous_path"]:
            change += f" from {v['previous_path']}"
        elif v["path"] != answer["path"]:
            change += f" (as {v['path']})"
        _say(f"  {v['commit'][:10]}  {_local(v['time'])}  {v['host']:<16} "
             f"{_size(v['size']):>9}  {change}")
    return 0


def _restore(args: argparse.Namespace, paths: InstancePaths) -> int:
    at = parse_when(args.at) if args.at is not None else None
    commit = args.commit.lower() if args.commit is not None else None
    if commit is not None and not re.fullmatch(r"[0-9a-f]{4,64}", commit):
        raise BadInputError(f"--commit {args.commit!r}: give a version id as listed by "
                            "`autosync versions FILE` (hex digits)")
    with ControlClient(paths) as client:
        answer = client.call("restore", path=_path(args.file), at=at, commit=commit)
    version = answer["version"]
    what = (f"{answer['path']} as of {_local(version['time'], seconds=False)} from "
            f"{version['host']} (version {version['commit'][:10]})")
    if answer["changed"]:
        _say(f"restored {what}; committed as {answer['commit'][:10]}")
    else:
        _say(f"{answer['path']} already is the version of {_local(version['time'])} from "
             f"{version['host']}; nothing to restore")
    return 0


def _deleted(args: argparse.Namespace, paths: InstancePaths) -> int:
    if not 0 < args.since <= 36500:
        raise BadInputError(f"--since {args.since:g}: give a positive number of days")
    with ControlClient(paths) as client:
        answer = client.call("deleted", path=_path(args.path), since_days=args.since)
    if args.json:
        _say(json.dumps(answer, indent=2))
        return 0
    if not answer["files"]:
        _say(f"no file deleted in the last {args.since:g} days")
    for gone in answer["files"]:
        _say(f"{_local(gone['time'])}  {gone['host']:<16} {_size(gone['size']):>9}  "
             f"{gone['absolute']}  (autosync restore {shlex.quote(gone['absolute'])})")
    return 0


def _conflicts(args: argparse.Namespace, paths: InstancePaths) -> int:
    with ControlClient(paths) as client:
        answer = client.call("conflicts")
    if args.json:
        _say(json.dumps(answer, indent=2))
        return 0
    if not answer["conflicts"]:
        _say("no open conflicts")
    for c in answer["conflicts"]:
        mine = c["mine"]
        _say(c["absolute"])
        _say(f"  at the path: {_version_of(c['kept_host'], c['kept_time'])}"
             + (" (this machine)" if mine == "path" else ""))
        _say(f"  in the copy: {_version_of(c['copy_host'], c['copy_time'])}"
             + (" (this machine)" if mine == "copy" else "") + f": {c['copy_absolute']}")
    return 0


def _version_of(host: str | None, when: str | None) -> str:
    """"laptop's version of 2026-11-26 14:03 by laptop's clock": the time is that
    machine's clock (the one in a conflict copy's name too), which may be off."""
    host = host or "unknown"
    clock = f"{host}'s clock" if host != "unknown" else "its machine's clock"
    return f"{host}'s version of {_local(when, seconds=False)} by {clock}"


def _keep(args: argparse.Namespace, paths: InstancePaths) -> int:
    side = "mine" if args.mine else "theirs" if args.theirs else "both"
    with ControlClient(paths) as client:
        answer = client.call("keep", path=_path(args.file), side=side)
    conflict = answer["conflict"]
    if answer["kept"] == "both":
        _say(f"kept both versions of {answer['path']}; the copy keeps its name without "
             "\"conflict from\"")
    else:
        host = conflict["kept_host"] if answer["kept"] == "original" else conflict["copy_host"]
        _say(f"kept {host or 'the'}'s version of {answer['path']}; the other one is removed "
             f"(it stays in the history: autosync versions {shlex.quote(answer['path'])})")
    return 0


def _large_file(args: argparse.Namespace, paths: InstancePaths) -> int:
    choice = "dont_sync" if args.dont_sync else "sync_anyway"
    with ControlClient(paths) as client:
        answer = client.call("large_file", path=_path(args.file), choice=choice)
    if answer["choice"] == "dont_sync":
        _say(f"{answer['path']} is not synced: {answer['pattern']} added to the ignore "
             f"patterns of {answer['folder']}")
    else:
        _say(f"syncing {answer['path']}: it enters history")
    return 0


# ---------------------------------------------------------------------------- registration

def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """Argument errors as one line (not argparse's usage block), exit 2."""

    def error(message: str) -> NoReturn:
        parser.exit(EXIT_BAD_INPUT, f"{parser.prog}: {message}; see `{parser.prog} --help`\n")

    parser.error = error  # type: ignore[method-assign]


def add_control_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the commands that control a running instance on `autosync`'s parser."""

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text[0].upper()
                                + help_text[1:] + ".")
        parser.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                            help="talk to the instance of this configuration file")
        parser.set_defaults(control=handler)
        _one_line_errors(parser)
        return parser

    p = command("status", _status, "show every folder of the running instance; exit 0 when "
                "all are idle, 1 otherwise, 3 when none runs")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command("pause", _pause, "pause syncing one folder (or all)")
    p.add_argument("path", nargs="?", help="the folder (default: all)")
    p.add_argument("--for", dest="duration", metavar="DURATION",
                   help="resume after this long: 30s, 15m, 1h, 2d (default: until resumed)")
    p = command("resume", _resume, "resume syncing one folder (or all)")
    p.add_argument("path", nargs="?", help="the folder (default: all)")
    p = command("sync-now", _sync_now, "commit and sync now (a paused folder is resumed)")
    p.add_argument("path", nargs="?", help="the folder (default: all)")
    p = command("activity", _activity, "show what happened lately")
    p.add_argument("-n", type=int, default=20, help="how many events (default 20)")
    p.add_argument("--follow", action="store_true", help="keep showing new events")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p = command("versions", _versions, "list every version of a file, following renames")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command("restore", _restore, "bring back a version of a file (a deleted one too) as a "
                "new commit")
    p.add_argument("file")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--at", metavar="WHEN", help="the version current at this time "
                       "(2025-01-31, \"2025-01-31 14:30\", or a time ago: 2h, 3d)")
    which.add_argument("--commit", metavar="ID", help="the version with this id "
                       "(from `autosync versions`)")
    p = command("deleted", _deleted, "list files deleted lately")
    p.add_argument("path", nargs="?", help="a folder or a folder inside one (default: all)")
    p.add_argument("--since", type=float, default=30.0, metavar="DAYS",
                   help="how many days back (default 30)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command("conflicts", _conflicts, "list open conflicts")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command("keep", _keep, "settle a conflict")
    p.add_argument("file", help="the conflicted file (or its copy)")
    side = p.add_mutually_exclusive_group(required=True)
    side.add_argument("--mine", action="store_true", help="keep this machine's version")
    side.add_argument("--theirs", action="store_true", help="keep the other machine's version")
    side.add_argument("--both", action="store_true", help="keep both, under plain names")
    p = command("large-file", _large_file, "answer a new large file's notice (the tray app "
                "keeps it out of history until you do)")
    p.add_argument("file", help="the large file (listed by `autosync status`)")
    choice = p.add_mutually_exclusive_group(required=True)
    choice.add_argument("--dont-sync", action="store_true",
                        help="don't sync this file: add it to the folder's ignore")
    choice.add_argument("--sync-anyway", action="store_true",
                        help="sync it anyway: every saved version stays in history")


def run_control(args: argparse.Namespace, unknown: list[str] | None = None) -> int:
    """Run the control command parsed into `args` (`unknown`: arguments nobody took);
    returns the exit code."""
    handler: Handler = args.control
    if unknown:
        print(f"autosync {args.command}: unrecognized arguments: {' '.join(unknown)}; see "
              f"`autosync {args.command} --help`", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return handler(args, instance_paths(getattr(args, "config", None)))
    except (BadInputError, UnsafeRuntimeError) as exc:
        print(f"autosync: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NoInstanceError as exc:
        print(f"autosync: {exc}", file=sys.stderr)
        return exc.code
    except CommandFailedError as exc:
        print(f"autosync: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"autosync: lost the connection to the instance ({exc}); see its log",
              file=sys.stderr)
        return 1
