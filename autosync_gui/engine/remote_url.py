"""A remote URL fit to show (status, logs, the activity window): never its credentials."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_TOKEN_SCHEMES = {"http", "https", "ftp", "ftps"}  # where a user name is often a token


def without_credentials(url: str) -> str:
    """`url` without password or token: `https://user:secret@host/x?token=y` shows as
    `https://host/x`; ssh user names stay (`ssh://git@host/x`, `git@host:x`)."""
    if "://" not in url:
        return url  # a path, or scp-like user@host:path (no password possible)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    scheme = parts.scheme.lower()
    userinfo, at, host = parts.netloc.rpartition("@")
    if at:
        user = userinfo.split(":", 1)[0]
        netloc = host if scheme in _TOKEN_SCHEMES or not user else f"{user}@{host}"
    else:
        netloc = parts.netloc
    if scheme in _TOKEN_SCHEMES:
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
