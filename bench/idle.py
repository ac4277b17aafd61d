"""Idle benchmark: CPU used by the headless autosync with nothing changing, read from
/proc/PID/stat (utime+stime of the process, plus cutime+cstime of the git processes it ran
and reaped, i.e. the remote polls) over a window, scaled to seconds per minute.

    .venv/bin/python bench/idle.py [--seconds 60] [--poll-interval 60] [--files 1000]

The window opens --skip seconds after the folder's `ready` line (so the tail of start-up is
not counted) and lasts --seconds. With the defaults it contains exactly one remote poll
(the poll timer is armed at start-up, just before ready), which is what a minute costs on
average with poll_interval = 60."""

from __future__ import annotations

import argparse
import sys
import time

from common import (
    Autosync,
    Sandbox,
    cpu_seconds,
    machine,
    print_table,
    proc_status,
    thread_cpu_seconds,
    verdict,
    write_files,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="measuring window")
    parser.add_argument("--skip", type=float, default=1.0,
                        help="seconds after ready before the window opens")
    parser.add_argument("--poll-interval", type=float, default=60.0)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)

    sandbox = Sandbox(keep=args.keep)
    daemon: Autosync | None = None
    try:
        _, clone = sandbox.remote_and_clone("idle")
        if args.files:
            write_files(clone, args.files, args.dirs)
            sandbox.git(clone, "add", "-A")
            sandbox.git(clone, "commit", "-q", "-m", "tree")
            sandbox.git(clone, "push", "-q")
        config = sandbox.config(clone, poll_interval=args.poll_interval)
        daemon = Autosync(sandbox, config).start()
        ready = daemon.wait_ready(args.timeout)
        pid = daemon.pid
        time.sleep(args.skip)  # let the start-up's tail pass: a measurement offset
        own0, kids0 = cpu_seconds(pid)
        fine0 = thread_cpu_seconds(pid)
        switches0 = int(proc_status(pid)["voluntary_ctxt_switches"])
        t0 = time.monotonic()
        time.sleep(args.seconds)  # the measuring window itself
        own1, kids1 = cpu_seconds(pid)
        fine = thread_cpu_seconds(pid) - fine0
        window = time.monotonic() - t0
        status = proc_status(pid)
        switches = int(status["voluntary_ctxt_switches"]) - switches0
        daemon.drain()
        activity = [line for at, line in daemon.lines if at >= t0]
        exit_status = daemon.stop()
        daemon = None
    finally:
        if daemon is not None:
            daemon.stop()
        sandbox.close()

    per_min = 60.0 / window
    own = (own1 - own0) * per_min
    total = ((own1 - own0) + (kids1 - kids0)) * per_min
    print(f"idle: {args.files} files in {args.dirs} folders, nothing changing; "
          f"poll_interval={args.poll_interval:g} s; window {window:.1f} s")
    print(f"machine: {machine()}")
    print_table([
        ("spawn -> ready", f"{ready:.2f} s"),
        ("CPU, autosync process", f"{own:.3f} s/min ({own1 - own0:.2f} s in {window:.1f} s)"),
        ("CPU, its threads (schedstat)", f"{fine * per_min:.4f} s/min ({fine:.4f} s)"),
        ("CPU, incl. its git children", f"{total:.3f} s/min (children {kids1 - kids0:.2f} s: "
                                        "the remote polls)"),
        ("target <= 0.1 s/min", verdict(total <= 0.1)),
        ("voluntary context switches", f"{switches * per_min:.0f} /min (wake-ups)"),
        ("threads", status.get("Threads", "?")),
        ("log lines in the window", str(len(activity))),
        ("autosync exit status", str(exit_status)),
    ])
    for line in activity[:10]:
        print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
