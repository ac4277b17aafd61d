"""Large-tree benchmark: a committed, pushed clone of N files in D folders -> how long the
headless autosync takes from process spawn to "ready" (every watch set and the start-up
catch-up done: the folder's `ready` log line), versus `git status` on that tree; and the
headless process's resident memory (VmRSS / VmHWM from /proc/PID/status).

    .venv/bin/python bench/large_tree.py [--files 50000] [--dirs 5000] [--backend hg]

With --backend hg the folder is an hg clone and the reference is `hg status`.

The D folders are two levels deep (groups of up to 100 under parents), the files spread
evenly over all of them. `git status` is run --status-runs times on the warm tree (the tree
was just written and committed, as autosync sees it); the median is the reference. A
baseline start on a one-file clone shows the fixed cost (interpreter, imports, one fetch)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import (
    Autosync,
    Sandbox,
    add_backend_argument,
    cpu_seconds,
    inotify_watches,
    machine,
    memory_mb,
    plain_add_commit_push,
    print_table,
    verdict,
)


def folders(dirs: int, fanout: int = 100) -> list[str]:
    """`dirs` folder paths: parents p000.., each followed by up to fanout-1 children."""
    out: list[str] = []
    parent = 0
    while len(out) < dirs:
        top = f"p{parent:03d}"
        out.append(top)
        out.extend(f"{top}/c{j:03d}" for j in range(min(fanout - 1, dirs - len(out))))
        parent += 1
    return out


def write_tree(root: Path, files: int, dirs: int) -> None:
    names = folders(dirs)
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (root / names[i % len(names)] / f"f{i:06d}.txt").write_text(f"file {i}\n")


def start_to_ready(sandbox: Sandbox, clone: Path, timeout: float) -> tuple[float, Autosync]:
    daemon = Autosync(sandbox, sandbox.config(clone)).start()
    try:
        return daemon.wait_ready(timeout), daemon
    except BaseException:
        daemon.stop()
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--dirs", type=int, default=5_000)
    parser.add_argument("--status-runs", type=int, default=3,
                        help="git status runs before autosync starts, and as many after")
    parser.add_argument("--idle-seconds", type=float, default=60.0,
                        help="after ready, measure autosync's CPU for this long (0: skip)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    add_backend_argument(parser)
    args = parser.parse_args(argv)
    vcs = args.backend

    sandbox = Sandbox(keep=args.keep)
    try:
        # Fixed cost: the same start on a one-file clone.
        _, small = sandbox.remote_and_clone("small", vcs)
        baseline, daemon = start_to_ready(sandbox, small, args.timeout)
        base_rss, base_hwm = memory_mb(daemon.pid)
        daemon.stop()

        _, clone = sandbox.remote_and_clone("large", vcs)
        t = time.monotonic()
        write_tree(clone, args.files, args.dirs)
        written = time.monotonic() - t
        t = time.monotonic()
        plain_add_commit_push(sandbox, vcs, clone, "large tree")
        if vcs == "git":
            # Packed, as a clone is (and as autosync's maintenance leaves it): the commit
            # by hand left one loose object per file, which autosync would otherwise
            # repack in the minute after ready, where idle CPU is measured.
            sandbox.run("git", clone, "repack", "-a", "-d", "-q")
        committed = time.monotonic() - t

        def git_status_runs() -> list[float]:
            runs = []
            for _ in range(max(1, args.status_runs)):
                s = time.monotonic()
                out = sandbox.run(vcs, clone, "status", *(() if vcs == "hg" else
                                                          ("--porcelain",)))
                runs.append(time.monotonic() - s)
                assert out == "", f"tree not clean: {out[:200]}"
            return runs

        runs = git_status_runs()
        ready, daemon = start_to_ready(sandbox, clone, args.timeout)
        try:
            rss, hwm = memory_mb(daemon.pid)
            watches = inotify_watches(daemon.pid)
            idle = idle_cpu(daemon.pid, args.idle_seconds) if args.idle_seconds > 0 else None
            hwm = memory_mb(daemon.pid)[1]
        finally:
            exit_status = daemon.stop()
        runs += git_status_runs()  # the same load before and after: compare with the median
        status = statistics.median(runs)
    finally:
        sandbox.close()

    limit = 2 * status + 2.0
    print(f"large tree ({vcs}): {args.files} files in {args.dirs} folders (committed and "
          "pushed)")
    print(f"machine: {machine()}")
    print_table([
        (f"writing the tree / {vcs} add+commit+push" + (" (+ repack)" if vcs == "git" else ""),
         f"{written:.1f} s / {committed:.1f} s (setup)"),
        (f"{vcs} status", f"{status:.2f} s median of {len(runs)}, before and after "
                       f"({', '.join(f'{r:.2f}' for r in runs)})"),
        ("autosync spawn -> ready", f"{ready:.2f} s (target <= 2 x {vcs} status + 2 s = "
                                    f"{limit:.2f} s: {verdict(ready <= limit)})"),
        ("  baseline, one-file clone", f"{baseline:.2f} s"),
        ("  large tree minus baseline", f"{ready - baseline:.2f} s"),
        ("inotify watches held", f"{watches} (folders incl. the top: {args.dirs + 1})"),
        ("VmRSS at ready", f"{rss:.1f} MB (baseline {base_rss:.1f} MB)"),
        ("VmHWM (peak RSS, to the end)", f"{hwm:.1f} MB (baseline {base_hwm:.1f} MB; target "
                                        "<= 80 MB: "
                             f"{verdict(hwm <= 80)})"),
        (f"idle CPU after ready (incl. {vcs} children)",
         "skipped" if idle is None else
         f"{idle[0]:.3f} s/min over {idle[1]:.0f} s (target <= 0.1 s/min: "
         f"{verdict(idle[0] <= 0.1)})"),
        ("autosync exit status", str(exit_status)),
    ])
    return 0


def idle_cpu(pid: int, seconds: float) -> tuple[float, float]:
    """(CPU seconds per minute of the process and its reaped git children, window)."""
    time.sleep(1.0)  # let the start-up's tail pass: a measurement offset
    own0, kids0 = cpu_seconds(pid)
    t0 = time.monotonic()
    time.sleep(seconds)  # the measuring window itself
    own1, kids1 = cpu_seconds(pid)
    window = time.monotonic() - t0
    return ((own1 - own0) + (kids1 - kids0)) * 60.0 / window, window


if __name__ == "__main__":
    sys.exit(main())
