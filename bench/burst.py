"""Burst benchmark: N new small files created at once in a folder watched by the headless
autosync (a separate process, local bare remote) -> how many commits, and how long until
everything is on the remote; versus plain `git add -A && git commit && git push` of an
identical tree to an identical remote, in the same run.

    .venv/bin/python bench/burst.py [--files 10000] [--dirs 100] [--rounds 3] [--backend hg]

Each round puts its burst in a new top folder (burstN/) of both clones. Timing:
autosync's clock starts when the last file has been written (the burst is over) and stops
when the bare remote's tip holds every file (polled with `git rev-parse`, the tree listed
only when the tip moves). A single burst must wait commit_delay of quiet, then push_delay,
by design; the "minus delays" figure subtracts those once. Plain git's clock
covers its three commands on an already written tree."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import (
    DEFAULTS,
    Autosync,
    Sandbox,
    add_backend_argument,
    commit_count,
    machine,
    plain_add_commit_push,
    print_table,
    remote_file_count,
    remote_head,
    verdict,
    wait_for_remote_files,
    write_files,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--dirs", type=int, default=100,
                        help="new sub-folders the files are spread over (0: all in one)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat both measurements (alternating); medians are compared")
    parser.add_argument("--commit-delay", type=float, default=DEFAULTS.commit_delay)
    parser.add_argument("--push-delay", type=float, default=DEFAULTS.push_delay)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    add_backend_argument(parser)
    args = parser.parse_args(argv)
    plain_name = f"plain {args.backend}"

    sandbox = Sandbox(keep=args.keep)
    daemon: Autosync | None = None
    rounds: list[Round] = []
    try:
        bare_a, clone_a = sandbox.remote_and_clone("autosync", args.backend)
        bare_b, clone_b = sandbox.remote_and_clone("plain", args.backend)
        config = sandbox.config(clone_a, commit_delay=args.commit_delay,
                                push_delay=args.push_delay)
        daemon = Autosync(sandbox, config).start()
        daemon.wait_ready(args.timeout)
        for r in range(max(1, args.rounds)):
            rounds.append(one_round(sandbox, daemon, r, args, bare_a, clone_a, bare_b, clone_b))
        status = daemon.stop()
        daemon = None
    finally:
        if daemon is not None:
            daemon.stop()
        sandbox.close()

    delays = args.commit_delay + args.push_delay
    print(f"burst ({args.backend}): {args.files} new files in {args.dirs} new folders, "
          f"{len(rounds)} round(s); "
          f"commit_delay={args.commit_delay:g} s, push_delay={args.push_delay:g} s")
    print(f"machine: {machine()}")
    rows: list[tuple[str, str]] = []
    for i, r in enumerate(rounds):
        rows += [
            (f"round {i + 1}: {plain_name} add/commit/push",
             f"{r.plain:.2f} s (add {r.steps['add']:.2f}, commit {r.steps['commit']:.2f}, "
             f"push {r.steps['push']:.2f})"),
            (f"round {i + 1}: writing the burst", f"{r.writing:.2f} s"),
            (f"round {i + 1}: autosync burst end -> on remote",
             f"{r.raw:.2f} s raw, {r.raw - delays:.2f} s minus delays ({r.raw / r.plain:.2f}x, "
             f"{(r.raw - delays) / r.plain:.2f}x plain); {r.commits} commit(s)"),
        ]
        if r.to_commit is not None:
            rows.append(("    burst end -> 'committed' line",
                         f"{r.to_commit:.2f} s (includes commit_delay {args.commit_delay:g} s)"))
        if r.to_push is not None:
            rows.append(("    'committed' -> 'pushed' line",
                         f"{r.to_push:.2f} s (includes push_delay {args.push_delay:g} s)"))
    plain = statistics.median(r.plain for r in rounds)
    raw = statistics.median(r.raw for r in rounds)
    net = raw - delays
    commits = max(r.commits for r in rounds)
    rows += [
        (f"{plain_name} (median)", f"{plain:.2f} s"),
        ("autosync raw (median)", f"{raw:.2f} s"),
        ("autosync minus delays", f"{net:.2f} s (raw - commit_delay - push_delay)"),
        ("commits made (most in a round)", f"{commits} (target <= 3: {verdict(commits <= 3)})"),
        ("ratio raw / plain", f"{raw / plain:.2f}x (target <= 1.5x: {verdict(raw <= 1.5 * plain)})"),
        ("ratio minus delays / plain",
         f"{net / plain:.2f}x (target <= 1.5x: {verdict(net <= 1.5 * plain)})"),
        ("autosync exit status", str(status)),
    ]
    print_table(rows)
    return 0


@dataclass
class Round:
    plain: float
    steps: dict[str, float]
    writing: float
    raw: float
    commits: int
    to_commit: float | None
    to_push: float | None


def one_round(sandbox: Sandbox, daemon: Autosync, r: int, args: argparse.Namespace,
              bare_a: Path, clone_a: Path, bare_b: Path, clone_b: Path) -> Round:
    expected = 1 + (r + 1) * args.files
    top = f"burst{r}"

    # Plain git (or hg) on an identical tree (autosync is idle meanwhile).
    write_files(clone_b / top, args.files, args.dirs)
    t = time.monotonic()
    steps = plain_add_commit_push(sandbox, args.backend, clone_b, "burst")
    plain = time.monotonic() - t
    assert remote_file_count(sandbox, bare_b) == expected

    # The same burst in the watched clone.
    base = remote_head(sandbox, bare_a)
    assert base is not None
    daemon.drain()
    seen_lines = len(daemon.lines)
    t0 = time.monotonic()
    write_files(clone_a / top, args.files, args.dirs)
    t1 = time.monotonic()
    done = wait_for_remote_files(sandbox, bare_a, expected, args.timeout)
    commits = commit_count(sandbox, bare_a, base)
    daemon.wait_for(r": pushed to ", args.timeout)  # the log line of that push
    daemon.drain()
    lines = daemon.lines[seen_lines:]
    committed = [at for at, line in lines if ": committed " in line]
    pushed = [at for at, line in lines if ": pushed to " in line]
    return Round(plain=plain, steps=steps, writing=t1 - t0, raw=done - t1, commits=commits,
                 to_commit=committed[-1] - t1 if committed else None,
                 to_push=pushed[-1] - committed[-1] if committed and pushed else None)


if __name__ == "__main__":
    sys.exit(main())
