"""A replica whose clock is hours off (issue 15, item 9): it still converges with the
others, no version is lost in a conflict, and every date shown says whose clock it is.

Replica b is a real `autosync run --headless` process under Debian's libfaketime (its
clocks and its git children's); replica a is an engine in this process on the true
clock. No XMPP: both poll. b's log must show nothing going wrong."""

from __future__ import annotations

import glob
import os
import time
from datetime import datetime
from pathlib import Path

import pytest

from autosync_gui.engine import conflict_rules as rules
from autosync_gui.engine.events import FolderState
from tests.control.cli_helpers import autosync, headless
from tests.engine.test_two_replicas import no_markers, work_tree
from tests.fixtures.git_remotes import Remote, commit, git

LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(LIBFAKETIME is None,
                                 reason="needs libfaketime (apt install faketime)")]

HOURS = 5
POLL = 1.0


def _config(path: Path, folder: Path) -> Path:
    path.write_text(f'[[folder]]\npath = "{folder}"\ncommit_delay = 0.2\npush_delay = 0.1\n'
                    f"poll_interval = {POLL}\n")
    return path


def _skewed_env(sign: str) -> dict[str, str]:
    """libfaketime preloaded into the process itself (the `faketime` program would run
    it as a child, out of reach of the test's terminate), inherited by its git children.
    The monotonic clock is faked as well, consistently, so the event loop's timers and
    Python's sleeps keep working: with libfaketime 0.9.10's DONT_FAKE_MONOTONIC=1,
    time.sleep() (clock_nanosleep on an absolute monotonic deadline) fails with EINVAL,
    which breaks every git run with a timeout. (A timed threading wait would hang under
    either setting; autosync's engine has none.)"""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DONT_FAKE_MONOTONIC", "FAKETIME_DONT_FAKE_MONOTONIC")}
    assert LIBFAKETIME is not None
    env["LD_PRELOAD"] = " ".join(filter(None, (LIBFAKETIME, env.get("LD_PRELOAD"))))
    env["FAKETIME"] = f"{sign}{HOURS}h"
    return env


@pytest.mark.parametrize("sign", ["+", "-"])
async def test_skewed_replica_converges_and_keeps_both_versions(
        remote: Remote, start_engine, tmp_path: Path, sign: str) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    (a / "report.txt").write_text("original\n")
    commit(a, "base", push=True)
    git(b, "pull", "-q")
    cfg = _config(tmp_path / "b.toml", b)
    env = _skewed_env(sign)
    log_path = tmp_path / "b.log"
    with headless(cfg, env=env, log_path=log_path):
        b_host = autosync("status", "--json", config=cfg).json["instance"]["host"]
        assert autosync("pause", config=cfg, cwd=b).code == 0
        engine, rec = await start_engine(a, hostname="alpha", poll_interval=POLL)
        await rec.until(lambda: engine.folder(a).state == FolderState.IDLE, what="a idle")
        (a / "report.txt").write_text("alpha's version\n")
        await rec.until(lambda: remote.tree_files().get("report.txt") == b"alpha's version\n",
                        what="a pushed")
        (b / "report.txt").write_text("beta's version\n")
        assert autosync("resume", config=cfg, cwd=b).code == 0

        def converged() -> bool:
            tree_a, tree_b = work_tree(a), work_tree(b)
            return (tree_a == tree_b == remote.tree_files() and len(tree_a) == 3
                    and remote.is_clean(a) and remote.is_clean(b))
        await rec.until(converged, timeout=60, what="a and b converged")
        tree = work_tree(a)
        assert no_markers(tree)
        (copy,) = [p for p in tree if rules.parse_copy_name(p)]
        assert {tree["report.txt"], tree[copy]} == {b"alpha's version\n", b"beta's version\n"}

        # b's commits carry b's clock (faketime reached its git children) ...
        now = time.time()
        stamped = git(b, "log", "--format=%ct %(trailers:key=Autosync-Host,valueonly)"
                      ).splitlines()
        b_times = [int(line.split()[0]) for line in stamped
                   if line.split()[1:] == [b_host]]
        assert b_times, "b committed its version"
        offset = b_times[0] - now
        assert abs(abs(offset) - HOURS * 3600) < 600 and (offset > 0) == (sign == "+")
        # ... so the rule (the newer commit stays at the path) put the skewed side's
        # version where its clock says: ahead, it looks newer; behind, older.
        stays, copied_host = ("beta's version\n", "alpha") if sign == "+" \
            else ("alpha's version\n", b_host)
        assert tree["report.txt"] == stays.encode()
        parsed = rules.parse_copy_name(copy)
        assert parsed is not None and parsed.host == copied_host
        # The copy's date is its machine's clock: b's skewed one when the copy is b's.
        stamp = datetime.strptime(parsed.stamp, "%Y-%m-%d %H.%M").astimezone()
        expected = now + (offset if copied_host == b_host else 0)
        assert abs(stamp.timestamp() - expected) < 600, (parsed.stamp, offset)

        # Each date shown says whose clock it is.
        listed = autosync("conflicts", config=cfg)
        assert listed.code == 0, listed.err
        assert "by alpha's clock" in listed.out and f"by {b_host}'s clock" in listed.out, \
            listed.out
        await rec.until(lambda: engine.folder(a).conflicts, what="a lists the conflict")
    log_text = log_path.read_text()
    assert "Traceback" not in log_text and "unexpected failure" not in log_text, log_text
