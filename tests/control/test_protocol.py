"""The control protocol refuses anything but the named commands with well-typed fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from autosync_gui.control.protocol import (
    ProtocolError,
    Request,
    decode_request,
    encode_request,
)


def _line(**fields: object) -> bytes:
    return json.dumps({"v": 1, **fields}).encode() + b"\n"


def test_requests_round_trip() -> None:
    when = datetime(2025, 1, 31, 14, 30, tzinfo=UTC)
    assert decode_request(encode_request("restore", path="/home/me/Sync/a.txt", at=when)) == \
        Request(command="restore", path="/home/me/Sync/a.txt", at=when)
    assert decode_request(encode_request("pause", path=None, seconds=900)) == \
        Request(command="pause", seconds=900.0)
    assert decode_request(encode_request("keep", path="/x/f", side="mine")).side == "mine"
    assert decode_request(encode_request("large_file", path="/x/film.mkv",
                                         choice="dont_sync")) == \
        Request(command="large_file", path="/x/film.mkv", choice="dont_sync")


@pytest.mark.parametrize(("line", "message"), [
    (b"not json\n", "not a JSON object"),
    (b"[1, 2]\n", "not a JSON object"),
    (json.dumps({"command": "status"}).encode(), "protocol version None not understood"),
    (_line(command="shell", cmd="rm -rf ~"), "unknown command 'shell'"),
    (_line(command="status", extra=1), "status: unknown field 'extra'"),
    (_line(command="pause", path="relative/dir"), "path must be an absolute path"),
    (_line(command="pause", path="/a\u0000b"), "without NUL"),
    (_line(command="pause", seconds=-5), "seconds must be a number"),
    (_line(command="pause", seconds=True), "seconds must be a number"),
    (_line(command="pause", seconds=1e12), "seconds must be a number"),
    (_line(command="activity", limit=0), "limit must be a whole number"),
    (_line(command="activity", limit="5"), "limit must be a whole number"),
    (_line(command="activity", follow="yes"), "follow must be true or false"),
    (_line(command="versions"), "versions: field 'path' is required"),
    (_line(command="restore", path="/a", at="2025-01-31T14:30"), "with its UTC offset"),
    (_line(command="restore", path="/a", commit="HEAD~1"), "commit must be a commit id"),
    (_line(command="restore", path="/a", commit="abcd", at="2025-01-31T14:30+00:00"),
     "either at or commit"),
    (_line(command="deleted", since_days=0), "since_days must be a positive"),
    (_line(command="keep", path="/a", side="ours"), "side must be one of mine, theirs, both"),
    (_line(command="large_file", path="/a", choice="delete"),
     "choice must be one of dont_sync, sync_anyway"),
    (_line(command="large_file", path="/a"), "large_file: field 'choice' is required"),
    (b"{" * 100000, "longer than"),
])
def test_bad_requests_are_refused(line: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode_request(line)

