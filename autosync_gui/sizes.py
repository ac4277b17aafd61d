"""File sizes as people write them ("50 MB", "1.5 GiB", 52428800) and as we show them."""

from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2,
          "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """Bytes in `text` ("50 MB", "1.5GiB", "0"); ValueError when it is not a size."""
    match = _SIZE.match(text)
    if match is None or match[2].lower() not in _UNITS:
        raise ValueError(text)
    return int(float(match[1]) * _UNITS[match[2].lower()])


def human_size(size: float) -> str:
    """1500000000 -> "1.5 GB" (decimal units, as file managers show them)."""
    for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= factor:
            value = size / factor
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(size)} bytes"
