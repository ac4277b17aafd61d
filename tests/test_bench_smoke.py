"""The benchmark scripts still run: each one, with tiny parameters, completes, exits 0 and
prints its figures. No timing thresholds here (those are the benchmarks' job)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each benchmark as a real multi-process run

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCH / script), *args, "--timeout", "60"],
                            capture_output=True, text=True, timeout=100, check=False)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    assert "machine: " in result.stdout
    assert re.search(r"autosync exit status\s+0$", result.stdout, re.M), result.stdout
    return result.stdout


def figure(out: str, label: str) -> float:
    """The first number printed after `label`."""
    match = re.search(re.escape(label) + r"\s+(-?[0-9.]+)", out)
    assert match, f"no figure for {label!r} in:\n{out}"
    return float(match.group(1))


@pytest.mark.timeout(110)
def test_burst_smoke() -> None:
    out = run("burst.py", "--files", "30", "--dirs", "3", "--commit-delay", "0.2",
              "--push-delay", "0.1")
    assert figure(out, "plain git (median)") > 0
    assert figure(out, "autosync raw (median)") > 0
    assert figure(out, "commits made (most in a round)") >= 1
    assert "ratio minus delays / plain" in out


@pytest.mark.timeout(110)
def test_large_tree_smoke() -> None:
    out = run("large_tree.py", "--files", "60", "--dirs", "12", "--status-runs", "1",
              "--idle-seconds", "1")
    assert figure(out, "git status") >= 0
    assert figure(out, "autosync spawn -> ready") > 0
    assert figure(out, "inotify watches held") == 13  # 12 folders and the top
    assert figure(out, "VmHWM (peak RSS, to the end)") > 0
    assert figure(out, "idle CPU after ready (incl. git children)") >= 0


@pytest.mark.timeout(110)
def test_idle_smoke() -> None:
    out = run("idle.py", "--seconds", "1", "--skip", "0", "--files", "10", "--dirs", "2")
    assert figure(out, "CPU, autosync process") >= 0
    assert figure(out, "CPU, incl. its git children") >= 0
    assert "voluntary context switches" in out


@pytest.mark.timeout(110)
def test_transfer_smoke() -> None:
    out = run("transfer.py", "--pull-files", "40", "--push-files", "30", "--dirs", "4")
    assert figure(out, "pull of 40 changed files: plain git pull") >= 0
    assert figure(out, "autosync, 'pulling' -> 'pulled' line") >= 0
    assert figure(out, "autosync, 'committed' -> 'pushed' line") >= 0
    assert figure(out, "autosync VmHWM, push phase") > 0


@pytest.mark.timeout(170)
def test_propagation_smoke() -> None:
    """Both autosync setups, plain git and (when installed) Syncthing's fastest setting."""
    result = subprocess.run([sys.executable, str(BENCH / "propagation.py"), "--saves", "2",
                             "--syncthing-saves", "1", "--syncthing-delays", "1"],
                            capture_output=True, text=True, timeout=160, check=False)
    out = result.stdout
    assert result.returncode == 0, f"{out}\n{result.stderr}"
    assert "machine: " in out
    for label in (r"autosync, defaults \(commit_delay 1, push_delay 0\)",
                  r"autosync, commit_delay 0\.2, push_delay 0",
                  r"plain git by hand \(add, commit, push on A; pull on B\)",
                  *([r"Syncthing [0-9.]+, fastest \(fsWatcherDelayS 1\)"]
                    if shutil.which("syncthing") else [])):
        assert re.search(label + r"\s+p50\s+\d+ ms", out), (label, out)
    assert "targets: defaults p50" in out


@pytest.mark.timeout(200)
def test_big_files_smoke() -> None:
    result = subprocess.run([sys.executable, str(BENCH / "big_files.py"), "--size", "4M"],
                            capture_output=True, text=True, timeout=190, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "machine: " in result.stdout
    assert re.search(r"B's file identical\s+yes", result.stdout)
    assert figure(result.stdout, "plain git by hand (add, commit, push; fetch, checkout)") > 0
    assert figure(result.stdout, "autosync peak RSS, A / B") > 0


needs_hg = pytest.mark.skipif(shutil.which("hg") is None, reason="Mercurial is not installed")


@needs_hg
@pytest.mark.timeout(110)
def test_burst_smoke_hg() -> None:
    out = run("burst.py", "--files", "30", "--dirs", "3", "--commit-delay", "0.2",
              "--push-delay", "0.1", "--backend", "hg")
    assert figure(out, "plain hg (median)") > 0
    assert figure(out, "autosync raw (median)") > 0
    assert figure(out, "commits made (most in a round)") >= 1


@needs_hg
@pytest.mark.timeout(110)
def test_large_tree_smoke_hg() -> None:
    out = run("large_tree.py", "--files", "60", "--dirs", "12", "--status-runs", "1",
              "--idle-seconds", "1", "--backend", "hg")
    assert figure(out, "hg status") >= 0
    assert figure(out, "autosync spawn -> ready") > 0
    assert figure(out, "inotify watches held") == 13


@needs_hg
@pytest.mark.timeout(170)
def test_propagation_smoke_hg() -> None:
    result = subprocess.run([sys.executable, str(BENCH / "propagation.py"), "--saves", "2",
                             "--backend", "hg"],
                            capture_output=True, text=True, timeout=160, check=False)
    out = result.stdout
    assert result.returncode == 0, f"{out}\n{result.stderr}"
    for label in (r"autosync, commit_delay 0\.2, push_delay 0",
                  r"plain hg by hand \(addremove, commit, push on A; pull on B\)"):
        assert re.search(label + r"\s+p50\s+\d+ ms", out), (label, out)
    assert re.search(r"hg overhead p50 .* -?\d+ ms <= 300 ms", out), out
