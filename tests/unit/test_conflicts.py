"""The conflict rule (engine/conflict_rules.py): which side stays and what the copy is called.
Pure functions, so every case is a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from autosync_gui.engine.conflict_rules import (
    ParsedCopy,
    SideVersion,
    copy_name,
    kept_both_name,
    newer_first,
    parse_copy_name,
    safe_host,
)

PLUS_ONE = timezone(timedelta(hours=1))
WHEN = datetime(2026, 11, 25, 14, 32, 59, tzinfo=PLUS_ONE)


def side(host: str = "laptop", when: datetime = WHEN, commit: str = "c" * 40) -> SideVersion:
    return SideVersion(mode="100644", blob="b" * 40, commit=commit, commit_time=when, host=host)


@pytest.mark.parametrize(("path", "expected"), [
    ("report.odt", "report (conflict from laptop 2026-11-25 14.32).odt"),
    ("docs/a b/c d.txt", "docs/a b/c d (conflict from laptop 2026-11-25 14.32).txt"),
    ("dir/archive.tar.gz", "dir/archive.tar (conflict from laptop 2026-11-25 14.32).gz"),
    (".bashrc", ".bashrc (conflict from laptop 2026-11-25 14.32)"),
    ("Makefile", "Makefile (conflict from laptop 2026-11-25 14.32)"),
    ("dir.d/plain", "dir.d/plain (conflict from laptop 2026-11-25 14.32)"),
    ("été/naïve.md", "été/naïve (conflict from laptop 2026-11-25 14.32).md"),
])
def test_copy_name(path: str, expected: str) -> None:
    assert copy_name(path, side()) == expected


def test_copy_name_uses_the_commits_own_time_zone() -> None:
    utc = WHEN.astimezone(UTC)  # 13.32 in UTC: the same instant, written as committed
    assert copy_name("a.txt", side(when=utc)) == "a (conflict from laptop 2026-11-25 13.32).txt"


@pytest.mark.parametrize(("taken", "expected"), [
    (set(), "a (conflict from laptop 2026-11-25 14.32).txt"),
    ({"a (conflict from laptop 2026-11-25 14.32).txt"},
     "a (conflict from laptop 2026-11-25 14.32 2).txt"),
    ({"a (conflict from laptop 2026-11-25 14.32).txt",
      "a (conflict from laptop 2026-11-25 14.32 2).txt"},
     "a (conflict from laptop 2026-11-25 14.32 3).txt"),
    ({"other.txt"}, "a (conflict from laptop 2026-11-25 14.32).txt"),
])
def test_copy_name_avoids_taken_names(taken: set[str], expected: str) -> None:
    assert copy_name("a.txt", side(), taken) == expected


@pytest.mark.parametrize(("host", "expected"), [
    ("laptop", "laptop"),
    ("my laptop", "my-laptop"),
    ("Büro-PC (2)", "B-ro-PC-2"),
    ("../../etc", "etc"),
    ("a/b\\c", "a-b-c"),
    ("...", "unknown"),
    ("", "unknown"),
    ("x" * 80, "x" * 64),
])
def test_safe_host(host: str, expected: str) -> None:
    assert safe_host(host) == expected


@pytest.mark.parametrize(("a", "b", "kept"), [
    (side("a", WHEN), side("b", WHEN - timedelta(seconds=1)), "a"),  # newer edit stays
    (side("a", WHEN - timedelta(hours=1)), side("b", WHEN), "b"),
    # the same instant in two time zones is a tie: the larger commit id stays
    (side("a", WHEN, "1" * 40), side("b", WHEN.astimezone(UTC), "2" * 40), "b"),
    (side("a", WHEN, "f" * 40), side("b", WHEN, "e" * 40), "a"),
])
def test_newer_first_is_symmetric(a: SideVersion, b: SideVersion, kept: str) -> None:
    assert newer_first(a, b)[0].host == kept
    assert newer_first(b, a)[0].host == kept, "the order of the arguments must not matter"


@pytest.mark.parametrize("path", ["report.odt", "docs/a b/c d.txt", ".bashrc", "Makefile",
                                  "dir/archive.tar.gz"])
def test_copy_names_parse_back(path: str) -> None:
    copy = copy_name(path, side("host-1"))
    assert parse_copy_name(copy) == ParsedCopy(original=path, host="host-1",
                                               stamp="2026-11-25 14.32")


@pytest.mark.parametrize("path", [
    "report.odt",
    "report (conflict from laptop).odt",  # no date
    "report (conflict from lap top 2026-11-25 14.32).odt",  # a space in the host
    "report (conflict from laptop 2026-11-25 14:32).odt",  # wrong time separator
    "report (laptop 2026-11-25 14.32).odt",  # a kept-both name is no conflict any more
])
def test_ordinary_names_are_not_copies(path: str) -> None:
    assert parse_copy_name(path) is None


@pytest.mark.parametrize(("copy", "kept_both"), [
    ("d/r (conflict from laptop 2026-11-25 14.32).odt", "d/r (laptop 2026-11-25 14.32).odt"),
    ("r (conflict from laptop 2026-11-25 14.32 2).odt", "r (laptop 2026-11-25 14.32 2).odt"),
    (".bashrc (conflict from pc 2026-01-02 03.04)", ".bashrc (pc 2026-01-02 03.04)"),
    ("report.odt", None),
])
def test_kept_both_name(copy: str, kept_both: str | None) -> None:
    assert kept_both_name(copy) == kept_both
    if kept_both is not None:
        assert parse_copy_name(kept_both) is None
