"""The push notice: the only thing autosync ever sends over XMPP.

    <push xmlns="urn:autosync:push:0" repo="ROOTSHA:BRANCH" commit="SHA" host="HOST"/>

It names the repository (root commit plus branch, the same on every replica and independent
of how the remote URL is spelled), the pushed commit and the sending host, and nothing else:
no file names, contents or remote URLs, so the server operator learns only that some
repository changed. Everything received is validated here before anyone looks at it; the
values are only ever used as dictionary keys, never as a path, command or URL.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

NAMESPACE = "urn:autosync:push:0"
ELEMENT = "push"
TAG = f"{{{NAMESPACE}}}{ELEMENT}"
ATTRIBUTES = frozenset({"repo", "commit", "host"})

MAX_BRANCH = 200
MAX_HOST = 64
_SHA = r"(?:[0-9a-f]{40}|[0-9a-f]{64})"
_SHA_RE = re.compile(rf"{_SHA}\Z")
# A branch name as git allows it, minus what git forbids anyway (space, ~^:?*[\, control
# characters); checked further in _valid_branch.
_BRANCH_RE = re.compile(r"[^\x00-\x20\x7f~^:?*\[\\]{1,200}\Z")  # 200 = MAX_BRANCH
_HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")  # 64 = MAX_HOST


class PayloadError(ValueError):
    """A notice that is not exactly what we send; the stanza is dropped."""


@dataclass(frozen=True)
class PushNotice:
    """A peer says: I pushed `commit` to the repository `identity`."""

    identity: str
    commit: str
    host: str

    def __post_init__(self) -> None:
        validate_identity(self.identity)
        validate_commit(self.commit)
        validate_host(self.host)


def validate_commit(commit: object) -> str:
    """A full lowercase hex object name (SHA-1 or SHA-256 repositories)."""
    if not isinstance(commit, str) or not _SHA_RE.match(commit):
        raise PayloadError("commit is not a 40 or 64 digit lowercase hex object name")
    return commit


def validate_identity(identity: object) -> str:
    """`ROOTSHA:BRANCH`, as the engine's repositories report it."""
    if not isinstance(identity, str) or len(identity) > 64 + 1 + MAX_BRANCH:
        raise PayloadError("repository identity missing or too long")
    root, sep, branch = identity.partition(":")
    if not sep or not _SHA_RE.match(root) or not _valid_branch(branch):
        raise PayloadError("repository identity is not ROOTCOMMIT:BRANCH")
    return identity


def validate_host(host: object) -> str:
    """A short host name: letters, digits, '.', '_', '-', at most 64 characters."""
    if not isinstance(host, str) or not _HOST_RE.match(host):
        raise PayloadError("host is not a short host name")
    return host


def _valid_branch(branch: str) -> bool:
    if not _BRANCH_RE.match(branch):
        return False
    if branch.startswith(("-", "/", ".")) or branch.endswith(("/", ".", ".lock")):
        return False
    return ".." not in branch and "//" not in branch and "@{" not in branch and branch != "@"


def to_element(notice: PushNotice) -> ET.Element:
    """The payload element for a notice (already valid: PushNotice checks itself)."""
    element = ET.Element(TAG)
    element.set("repo", notice.identity)
    element.set("commit", notice.commit)
    element.set("host", notice.host)
    return element


def from_element(element: ET.Element) -> PushNotice:
    """Parse and validate a received payload element; PayloadError when anything is off:
    wrong tag, missing or extra attributes, child elements or text, bad values."""
    if element.tag != TAG:
        raise PayloadError("not an autosync push element")
    if set(element.attrib) != ATTRIBUTES:
        raise PayloadError("push element must carry exactly repo, commit and host")
    if len(element) or (element.text or "").strip():
        raise PayloadError("push element must be empty")
    return PushNotice(identity=element.attrib["repo"], commit=element.attrib["commit"],
                      host=element.attrib["host"])
