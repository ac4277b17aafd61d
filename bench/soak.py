"""Soak: long randomized convergence runs under faults, random seeds.

Each run: three `autosync run --headless` processes, one bare remote, one Prosody on
127.0.0.1, thousands of random user operations and dozens of faults (kill -9, SIGSTOP/
SIGCONT, Prosody stop/start, remote renamed away, r1's own disk filled to the last byte,
a foreign .git/index.lock held while saving), then the oracle of
tests/torture/harness.py. Prints, per run and in total: operations, faults, contents checked,
contents lost (must be 0) and the time to converge. A failing seed replays with --seed.
The full-disk fault mounts a tmpfs for r1: it needs root (without, it is left out and
the run says so).

    .venv/bin/python bench/soak.py [--runs 3] [--ops 2000] [--duration 300] [--seed N]
                                   [--extra-faults disk,lock]
                                   [--backend hg]
"""

from __future__ import annotations

import argparse
import collections
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine

sys.path.insert(0, str(REPO))
from tests.fixtures.small_filesystem import MountRefused, mount_small_filesystem
from tests.torture.harness import TortureSettings, make_plan, torture


def can_mount() -> str | None:
    """None when a small file system can be mounted here, else why not."""
    where = Path(tempfile.mkdtemp(prefix="autosync-soak-probe-"))
    try:
        mount_small_filesystem(where / "fs", 1).unmount()
    except MountRefused as exc:
        return str(exc)
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--faults", type=int, default=0, help="default: one per 12 s")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of operations")
    parser.add_argument("--seed", type=int, action="append", help="replay these seeds")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--backend", choices=("git", "hg"), default="git",
                        help="the replicas' version control (default git)")
    parser.add_argument("--extra-faults", default="disk,lock",
                        help="besides kill, pause, prosody and remote: disk (r1's disk "
                        "filled), lock (a foreign index.lock); '' for none")
    args = parser.parse_args()
    extra = tuple(k for k in args.extra_faults.split(",") if k)
    if args.backend == "hg" and extra:  # both are written for git's files and messages
        print(f"no {', '.join(extra)} fault(s) with --backend hg (not adapted to hg yet)",
              flush=True)
        extra = ()
    if "disk" in extra and (why := can_mount()) is not None:
        print(f"no full-disk fault: {why}", flush=True)
        extra = tuple(k for k in extra if k != "disk")
    # SIGTERM/SIGINT (also in a background job) unwind so the replicas and Prosody stop
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(130))
    seeds = args.seed or [random.SystemRandom().randrange(10**9) for _ in range(args.runs)]
    print(f"soak ({args.backend}) on {machine()}: {len(seeds)} run(s) of {args.ops} "
          f"operations over "
          f"{args.duration:g} s", flush=True)
    totals = {"ops": 0, "faults": 0, "checked": 0, "final": 0, "lost": 0}
    converge: list[float] = []
    failed: list[int] = []
    fault_kinds: collections.Counter[str] = collections.Counter()
    for seed in seeds:
        faults = args.faults or max(4 + len(extra), int(args.duration / 12))
        settings = TortureSettings(seed=seed, ops=args.ops, faults=faults,
                                   duration=args.duration, converge_timeout=180.0,
                                   extra_faults=extra, backend=args.backend)
        kinds = collections.Counter(f.kind for f in make_plan(settings)[1])
        for kind, n in kinds.items():
            fault_kinds[kind] += n
        base = Path(tempfile.mkdtemp(prefix=f"autosync-soak-{seed}-"))
        started = time.monotonic()
        result, diagnostics = torture(settings, base, say=lambda line: None)
        print(f"{result.summary()} [{time.monotonic() - started:.0f} s wall]", flush=True)
        totals["ops"] += result.ops
        totals["faults"] += result.faults
        totals["checked"] += result.contents_checked
        totals["final"] += result.final_contents_checked
        totals["lost"] += result.contents_lost
        converge.append(result.converge_seconds)
        if result.ok:
            if not args.keep:
                shutil.rmtree(base, ignore_errors=True)
        else:
            failed.append(seed)
            print(f"FAILED seed {seed} (replay: bench/soak.py --seed {seed}):", flush=True)
            print("\n".join(result.failures), flush=True)
            (base / "diagnostics.txt").write_text(diagnostics)
            print(f"logs and plan in {base}", flush=True)
    by_kind = ", ".join(f"{n} {kind}" for kind, n in sorted(fault_kinds.items()))
    print(f"total: {len(seeds)} runs, {totals['ops']} operations, {totals['faults']} faults "
          f"({by_kind}), "
          f"{totals['checked']} held contents checked, {totals['final']} final contents "
          f"checked, {totals['lost']} lost, time to converge max "
          f"{max(converge):.1f} s (mean {sum(converge) / len(converge):.1f} s), "
          f"{len(failed)} failed run(s){': seeds ' + str(failed) if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
