"""The control protocol: one JSON object per line each way over the owner-only socket.

A request names one command of a fixed set, with typed fields; anything else (unknown
command or field, wrong type, a line too long) is refused with one line. Nothing in a
request is executed or handed to a shell: the server maps each command to one engine call.

    -> {"v": 1, "command": "pause", "path": "/home/me/Sync", "seconds": 900}
    <- {"ok": true, "result": {...}}
    <- {"ok": false, "error": "one line naming the thing and the fix", "code": 2}

`activity` with `follow` answers once, then sends {"event": {...}} lines until the client
hangs up."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

VERSION = 1
MAX_LINE = 64 * 1024
MAX_PATH = 4096
MAX_ACTIVITY = 1000  # the engine's ring buffer holds no more
MAX_PAUSE_SECONDS = 366 * 24 * 3600.0
MAX_DAYS = 36500.0
SIDES = ("mine", "theirs", "both")
LARGE_FILE_CHOICES = ("dont_sync", "sync_anyway")
EXIT_BAD_INPUT = 2
EXIT_NO_INSTANCE = 3
_COMMIT = re.compile(r"^[0-9a-f]{4,64}$")


class ProtocolError(Exception):
    """A malformed or refused request; str() is one line."""


@dataclass(frozen=True)
class Request:
    command: str
    path: str | None = None  # absolute, as the client resolved it against its cwd
    seconds: float | None = None  # pause: for how long (None: until resumed)
    limit: int = 20  # activity: how many recent events
    follow: bool = False  # activity: keep sending new events
    at: datetime | None = None  # restore: the version current at this time (aware)
    commit: str | None = None  # restore: the version of this commit (hex prefix)
    since_days: float = 30.0  # deleted: how far back
    side: str | None = None  # keep: one of SIDES
    choice: str | None = None  # large_file: one of LARGE_FILE_CHOICES


def _path(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value \
            or len(value) > MAX_PATH:
        raise ProtocolError("path must be an absolute path without NUL bytes")
    return value


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not 0 < value <= MAX_PAUSE_SECONDS:
        raise ProtocolError("seconds must be a number between 0 and one year")
    return float(value)


def _limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ACTIVITY:
        raise ProtocolError(f"limit must be a whole number from 1 to {MAX_ACTIVITY}")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError("follow must be true or false")
    return value


def _moment(value: object) -> datetime:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) and len(value) < 64 \
            else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ProtocolError("at must be an ISO 8601 time with its UTC offset")
    return when


def _commit(value: object) -> str:
    if not isinstance(value, str) or not _COMMIT.match(value):
        raise ProtocolError("commit must be a commit id (4 to 64 lowercase hex digits)")
    return value


def _days(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not 0 < value <= MAX_DAYS:
        raise ProtocolError("since_days must be a positive number of days")
    return float(value)


def _side(value: object) -> str:
    if value not in SIDES:
        raise ProtocolError(f"side must be one of {', '.join(SIDES)}")
    return str(value)


def _choice(value: object) -> str:
    if value not in LARGE_FILE_CHOICES:
        raise ProtocolError(f"choice must be one of {', '.join(LARGE_FILE_CHOICES)}")
    return str(value)


_Check = Callable[[object], object]
# command -> {field: (check, required)}
COMMANDS: dict[str, dict[str, tuple[_Check, bool]]] = {
    "activate": {},
    "status": {},
    "pause": {"path": (_path, False), "seconds": (_seconds, False)},
    "resume": {"path": (_path, False)},
    "sync_now": {"path": (_path, False)},
    "activity": {"limit": (_limit, False), "follow": (_flag, False)},
    "versions": {"path": (_path, True)},
    "restore": {"path": (_path, True), "at": (_moment, False), "commit": (_commit, False)},
    "deleted": {"path": (_path, False), "since_days": (_days, False)},
    "conflicts": {},
    "keep": {"path": (_path, True), "side": (_side, True)},
    "large_file": {"path": (_path, True), "choice": (_choice, True)},
}
_KNOWN = {f.name for f in fields(Request)}


def decode_request(line: bytes) -> Request:
    """Parse and validate one request line; ProtocolError (one line) on anything off."""
    if len(line) > MAX_LINE:
        raise ProtocolError(f"request longer than {MAX_LINE} bytes")
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        raise ProtocolError("request is not a JSON object") from None
    if not isinstance(data, dict):
        raise ProtocolError("request is not a JSON object")
    if data.get("v") != VERSION:
        raise ProtocolError(f"protocol version {data.get('v')!r} not understood (this "
                            f"instance speaks {VERSION}); use the same autosync for both")
    command = data.get("command")
    if not isinstance(command, str) or command not in COMMANDS:
        raise ProtocolError(f"unknown command {str(command)[:40]!r}")
    spec = COMMANDS[command]
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("v", "command"):
            continue
        if key not in spec or key not in _KNOWN:
            raise ProtocolError(f"{command}: unknown field {key[:40]!r}")
        if value is not None:
            values[key] = spec[key][0](value)
    for key, (_check, required) in spec.items():
        if required and key not in values:
            raise ProtocolError(f"{command}: field {key!r} is required")
    if command == "restore" and "at" in values and "commit" in values:
        raise ProtocolError("restore: give either at or commit, not both")
    return Request(command=command, **values)


def encode_request(command: str, **values: object) -> bytes:
    """The request line for `command` (None values are left out)."""
    data: dict[str, object] = {"v": VERSION, "command": command}
    for key, value in values.items():
        if value is not None:
            data[key] = value.isoformat() if isinstance(value, datetime) else value
    return json.dumps(data).encode() + b"\n"


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=True).encode() + b"\n"


def ok(result: object) -> bytes:
    return encode({"ok": True, "result": result})


def failure(message: str, code: int = EXIT_BAD_INPUT) -> bytes:
    return encode({"ok": False, "error": message, "code": code})
