"""Big pull and big push benchmark: a pull of N changed files and a push of M new files by
the headless autosync (separate processes), each beside plain git doing the same in the
same run, with autosync's peak resident memory (VmHWM from /proc/PID/status) throughout.

    .venv/bin/python bench/transfer.py [--pull-files 20000] [--push-files 10000] [--dirs 200]

Pull: two identical local bare remotes hold N files; autosync's clone of one and a plain
clone of the other have them. A third clone changes every one of them, commits and pushes
to both. Autosync (poll_interval 1 s, `-v` log) notices at its next poll; its pull is
timed from its `pulling` state line to its `pulled N files` line (fetch, merge, work tree
updated), and, for reference, from the push to that line (poll wait included). Plain git:
`git pull` in the plain clone. Each pull starts on a settled disk (common.settle_disk:
`sync`, then no I/O stalls), and the two take turns going first: on a VM disk, the
write-back of one pull's 20,000 files otherwise lands on whichever runs next. Autosync
deletes the old versions its pull moved aside in its maintenance a few seconds later
(git deletes them as it pulls): each round waits for that before going on.

Push: M new files are written into autosync's clone (default delays) and into a plain
clone of a second, identical remote. Autosync's push is timed from its `committed` line to
its `pushed` line; plain git: `git push` of the commit made by `git add -A` and
`git commit` (timed too, beside autosync's last file written -> `committed` line, which
includes the quiet period); both push right after their commit. Each round writes new
contents on a settled disk.

The file system matters more than anything else here; the run names it. On ext4 without
a journal (the root file system of the machine in the README), ext4 skips inodes freed
in the last minute when it allocates new ones: every file created scans past them, so a
pull that follows 20,000 deletions (the previous round's, by git or by autosync's
maintenance) creates its files several times slower. `TMPDIR=DIR` runs the benchmark in
DIR, e.g. on a journaled ext4 as desktops have."""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

from common import (
    Autosync,
    Sandbox,
    filesystem,
    machine,
    memory_mb,
    print_table,
    settle_disk,
    verdict,
    write_files,
)

RSS_LIMIT_MB = 80.0
RATIO = 1.5


def line_time(daemon: Autosync, since: int, pattern: str, timeout: float) -> float:
    """When the first line matching `pattern` after line `since` was read."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while True:
        daemon.drain()
        for at, line in daemon.lines[since:]:
            if regex.search(line):
                return at
        if time.monotonic() > deadline:
            raise TimeoutError(f"no line matching {pattern!r}; log:\n{daemon.log_tail()}")
        daemon.wait_for(pattern, max(0.0, deadline - time.monotonic()))


def timed_git(sandbox: Sandbox, cwd: Path, *args: str) -> float:
    t = time.monotonic()
    sandbox.git(cwd, *args)
    return time.monotonic() - t


def change_all(root: Path, top: str) -> None:
    for path in (root / top).rglob("*.txt"):
        path.write_text(path.read_text() + "changed\n")


def pull_rounds(sandbox: Sandbox, args: argparse.Namespace
                ) -> tuple[list[tuple[float, float, float, float]], float, int | None]:
    """[(autosync pull, its push-to-pulled, plain git pull, autosync's VmRSS after)] per
    round, VmHWM, exit status.
    The writer pushes each round's commit to two identical remotes: the plain clone's
    first (it does not wake autosync), then autosync's. Each timed pull starts from a
    settled disk (settle_disk); the two take turns going first."""
    bare, writer = sandbox.remote_and_clone("pull-writer")
    plain_remote = sandbox.base / "pull-plain.git"
    sandbox.git(sandbox.base, "init", "-q", "--bare", str(plain_remote))
    sandbox.git(writer, "remote", "add", "plain", str(plain_remote))
    write_files(writer / "data", args.pull_files, args.dirs)
    sandbox.git(writer, "add", "-A")
    sandbox.git(writer, "commit", "-q", "-m", "tree")
    sandbox.git(writer, "push", "-q")
    sandbox.git(writer, "push", "-q", "plain", "main")
    watched, plain = sandbox.base / "pull-autosync", sandbox.base / "pull-plain"
    sandbox.git(sandbox.base, "clone", "-q", str(bare), str(watched))
    sandbox.git(sandbox.base, "clone", "-q", str(plain_remote), str(plain))
    daemon = Autosync(sandbox, sandbox.config(watched, poll_interval=1.0),
                      extra_args=("-v",)).start()
    rounds = []
    try:
        daemon.wait_ready(args.timeout)
        for r in range(args.rounds):
            change_all(writer, "data")
            sandbox.git(writer, "add", "-A")
            sandbox.git(writer, "commit", "-q", "-m", "every file changed")
            sandbox.git(writer, "push", "-q", "plain", "main")
            plain_first = r % 2 == 0
            settle_disk()
            if plain_first:
                plain_pull = timed_git(sandbox, plain, "pull", "-q")
                settle_disk()
            daemon.drain()
            since = len(daemon.lines)
            sandbox.git(writer, "push", "-q")
            pushed_at = time.monotonic()
            done = line_time(daemon, since, r": pulled \d+ files", args.timeout)
            start = max(at for at, line in daemon.lines[since:]
                        if re.search(r": pulling$", line) and at <= done)
            # The old versions the pull moved aside are deleted by the maintenance that
            # follows (MAINTENANCE_DELAY after it): not while the next pull is timed.
            line_time(daemon, since, r": maintenance: ", args.timeout)
            if not plain_first:
                settle_disk()
                plain_pull = timed_git(sandbox, plain, "pull", "-q")
            rounds.append((done - start, done - pushed_at, plain_pull, memory_mb(daemon.pid)[0]))
        hwm = memory_mb(daemon.pid)[1]
    finally:
        status = daemon.stop()
        if args.pull_log:
            args.pull_log.write_text("".join(f"{at:.3f} {line}\n" for at, line in daemon.lines))
    return rounds, hwm, status


def push_rounds(sandbox: Sandbox, args: argparse.Namespace
                ) -> tuple[list[tuple[float, float, int, float, float, float]], float,
                           int | None]:
    """[(autosync push, last write -> committed, commits, plain add, commit, push)] per
    round, VmHWM, exit status."""
    _bare_a, watched = sandbox.remote_and_clone("push-autosync")
    _bare_b, plain = sandbox.remote_and_clone("push-plain")
    daemon = Autosync(sandbox, sandbox.config(watched)).start()
    rounds = []
    try:
        daemon.wait_ready(args.timeout)
        for r in range(args.rounds):
            daemon.drain()
            since = len(daemon.lines)
            settle_disk()
            # (new contents each round: a push of objects the remote has is no push)
            write_files(watched / f"new{r}", args.push_files, args.dirs, salt=f" round {r}")
            written = time.monotonic()
            pushed = line_time(daemon, since, r": pushed to ", args.timeout)
            committed = max(at for at, line in daemon.lines[since:]
                            if ": committed " in line and at <= pushed)
            commits = sum(1 for _, line in daemon.lines[since:] if ": committed " in line)
            write_files(plain / f"new{r}", args.push_files, args.dirs, salt=f" round {r}")
            add = timed_git(sandbox, plain, "add", "-A")
            commit = timed_git(sandbox, plain, "commit", "-q", "-m", "new files")
            push = timed_git(sandbox, plain, "push", "-q")
            rounds.append((pushed - committed, committed - written, commits, add, commit, push))
        hwm = memory_mb(daemon.pid)[1]
    finally:
        status = daemon.stop()
    return rounds, hwm, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pull-files", type=int, default=20_000)
    parser.add_argument("--push-files", type=int, default=10_000)
    parser.add_argument("--dirs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1, help="each measured this often; "
                        "medians are compared")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--pull-log", type=Path,
                        help="write the autosync log of the pull phase (-v) to this file")
    args = parser.parse_args(argv)

    sandbox = Sandbox(keep=args.keep)
    files_on = filesystem(sandbox.base)
    try:
        pulls, pull_hwm, pull_status = pull_rounds(sandbox, args)
        pushes, push_hwm, push_status = push_rounds(sandbox, args)
    finally:
        sandbox.close()

    def mb(value: float) -> str:
        return f"{value:.1f} MB (target <= {RSS_LIMIT_MB:.0f} MB: " \
               f"{verdict(value <= RSS_LIMIT_MB)})"

    def ratio(ours: float, plain: float) -> str:
        return f"{ours:.2f} s ({ours / plain:.2f}x; target <= {RATIO}x: " \
               f"{verdict(ours <= RATIO * plain)})"

    rows: list[tuple[str, str]] = []
    for i, (auto, landed, plain, rss) in enumerate(pulls):
        rows.append((f"pull round {i + 1}: autosync / plain git pull",
                     f"{auto:.2f} s / {plain:.2f} s (push landed -> pulled {landed:.2f} s; "
                     f"VmRSS after {rss:.1f} MB)"))
    auto_pull = statistics.median(p[0] for p in pulls)
    plain_pull = statistics.median(p[2] for p in pulls)
    rows += [
        (f"pull of {args.pull_files} changed files: plain git pull", f"{plain_pull:.2f} s"),
        ("  autosync, 'pulling' -> 'pulled' line", ratio(auto_pull, plain_pull)),
        ("  autosync VmHWM, pull phase", mb(pull_hwm)),
    ]
    for i, (auto, to_commit, commits, add, commit, push) in enumerate(pushes):
        rows.append((f"push round {i + 1}: autosync / plain git push",
                     f"{auto:.2f} s / {push:.2f} s (last write -> committed {to_commit:.2f} s, "
                     f"{commits} commit(s); plain add -A {add:.2f} s, commit {commit:.2f} s)"))
    auto_push = statistics.median(p[0] for p in pushes)
    plain_push = statistics.median(p[5] for p in pushes)
    rows += [
        (f"push of {args.push_files} new files: plain git push", f"{plain_push:.2f} s"),
        ("  autosync, 'committed' -> 'pushed' line", ratio(auto_push, plain_push)),
        ("  autosync VmHWM, push phase", mb(push_hwm)),
        ("autosync exit status", "0" if not (pull_status or push_status)
         else f"{pull_status} {push_status}"),
    ]
    print(f"big pull and push: {args.pull_files} changed files pulled, {args.push_files} new "
          f"files pushed, over {args.dirs} folders, {args.rounds} round(s); local bare "
          "remotes; medians compared")
    print(f"machine: {machine()}")
    print(f"files on: {files_on} (another place: TMPDIR=DIR)")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
