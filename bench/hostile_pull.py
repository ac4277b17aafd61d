"""Memory of a pull shaped to blow it up: one blob under many names (the shape that drove
the old engine to 2.97 GB with a 10 MB blob under 150 names), pulled by a headless
autosync; its peak resident memory (VmHWM) beside plain git applying the same commit.

    .venv/bin/python bench/hostile_pull.py [--size-mb 10] [--names 150]

Target: the engine's own peak stays under 100 MB whatever the pull's size or shape."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common import Autosync, Sandbox, machine, memory_mb, print_table, verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=10)
    parser.add_argument("--names", type=int, default=150)
    args = parser.parse_args()
    sandbox = Sandbox()
    try:
        bare, victim = sandbox.remote_and_clone("shared")
        peer = sandbox.base / "peer"
        sandbox.git(sandbox.base, "clone", "-q", str(bare), str(peer))
        plain = sandbox.base / "plain"
        sandbox.git(sandbox.base, "clone", "-q", str(bare), str(plain))
        blob = os.urandom(args.size_mb << 20)
        (peer / "copies").mkdir()
        for i in range(args.names):
            (peer / "copies" / f"{i}.bin").write_bytes(blob)
        sandbox.git(peer, "add", "-A")
        sandbox.git(peer, "commit", "-q", "-m", "one blob, many names")
        proc = Autosync(sandbox, sandbox.config(victim, poll_interval=3600)).start()
        proc.wait_ready(60)
        sandbox.git(peer, "push", "-q")
        started = time.monotonic()
        # a save makes the victim commit and push; the push is refused (the peer pushed),
        # so it fetches and integrates the peer's commit
        (victim / "trigger.txt").write_text("go\n")
        proc.wait_for(r"pulled \d+ files? from", 600)
        took = time.monotonic() - started
        _rss, peak = memory_mb(proc.pid)
        proc.stop()
        git_started = time.monotonic()
        measured = subprocess.run(
            [sys.executable, "-c", "import resource, subprocess, sys; subprocess.run(['git', "
             "'pull', '-q'], check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN)"
             ".ru_maxrss)"], cwd=plain, env=sandbox.env, check=True, capture_output=True,
            text=True)
        git_took = time.monotonic() - git_started
        git_peak = int(measured.stdout.split()[-1]) / 1024
        print(f"machine: {machine()}")
        print_table([
            ("pull", f"{args.size_mb} MB blob under {args.names} names"),
            ("autosync peak RSS (VmHWM)", f"{peak:.1f} MB  {verdict(peak <= 100)} (<= 100 MB)"),
            ("autosync save -> pulled", f"{took:.2f} s"),
            ("plain git pull: its largest process's peak RSS", f"{git_peak:.1f} MB"),
            ("plain git pull", f"{git_took:.2f} s"),
        ])
        return 0 if peak <= 100 else 1
    finally:
        sandbox.close()


if __name__ == "__main__":
    raise SystemExit(main())
