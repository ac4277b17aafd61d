"""Small text rules shared by every part: one line of an error for a message, and a host
name made safe for file names, commit trailers and the XMPP notice."""

from __future__ import annotations

import re

MAX_HOST = 64
_HOST_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def one_line(value: object) -> str:
    """The first non-empty line of str(value) (an exception's message), else its type's
    name: a message shown inline or logged stays one line."""
    for line in str(value).splitlines():
        if line.strip():
            return line.strip()
    return type(value).__name__


def safe_host(host: str, fallback: str = "unknown") -> str:
    """A host name of letters, digits, '.', '_' and '-' that starts and ends with a letter
    or digit, at most 64 characters (it may come from a remote commit or a peer)."""
    cleaned = _HOST_UNSAFE.sub("-", host).strip("._-")[:MAX_HOST].strip("._-")
    return cleaned or fallback
