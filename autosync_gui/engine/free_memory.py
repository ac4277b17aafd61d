"""Giving memory back to the system after a big job (a pull of 20,000 files builds and
drops tens of MB of small objects). glibc keeps freed heap pages for reuse, so without
this the process stays at its peak after each big pull (tens of MB, for good, on a
machine that syncs once a day); malloc_trim(0) hands back what is free at the top of
each heap and in the middle of them (glibc >= 2.8). Where there is no glibc it does
nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def give_back_free_memory() -> None:
    """Return the C heap's free pages to the system (a few ms)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
