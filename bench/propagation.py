"""Propagation benchmark: a save on machine A, timed until its content is on B's disk, for
autosync with its default settings and with its fastest (commit_delay 0.2, push_delay 0),
for Syncthing with its default watcher delay (fsWatcherDelayS 10) and its fastest (1)
when the `syncthing` binary is installed, and for plain git by hand -- all in one run.

autosync: two headless instances (`autosync run --headless`, separate processes) sync
clones of one local bare remote and share one XMPP account on a Prosody on 127.0.0.1 (TLS
with a self-signed CA passed as ca_file, password via AUTOSYNC_XMPP_PASSWORD);
poll_interval 3600 s so only the XMPP notice can carry a change. Syncthing: two devices on
127.0.0.1 (bench/syncthing_pair.py: no discovery, relays, NAT or reporting). Each save
writes new content to one file on A; B's copy is read every 5 ms until it has that
content; then --gap seconds pass before the next save. Plain git: add, commit, push on A,
pull on B, each step at once (the floor).

    .venv/bin/python bench/propagation.py [--saves 50] [--syncthing-saves 20] [--gap 0.3]
                                          [--backend hg]

With --backend hg both instances sync hg clones of one hg remote, plain hg (addremove,
commit, push; pull -u) is the floor, and Syncthing is not run; the target is autosync's
overhead over plain hg: p50 (fastest settings) minus its quiet period minus plain hg's p50
<= 300 ms.

As root, Prosody is run as the `prosody` user (it refuses root), like the test fixture."""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from common import DEFAULTS, Autosync, Sandbox, add_backend_argument, machine, verdict
from syncthing_pair import SyncthingPair, syncthing_binary, syncthing_version

from tests.fixtures.prosody import ProsodyServer, new_server  # (common put the repo on the path)

FASTEST = (0.2, 0.0)  # commit_delay, push_delay
TARGET_DEFAULT_P50, TARGET_DEFAULT_P95, TARGET_FASTEST_P50 = 0.400, 0.700, 0.250
TARGET_HG_OVERHEAD_P50 = 0.300  # over plain hg's own commit+push+pull, quiet period aside
STAGES = ("save -> A committed (quiet period)", "A committed -> pushed",
          "A pushed -> B notified (XMPP)", "B notified -> content on B's disk")


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def wait_content(path: Path, content: str, timeout: float) -> float:
    """Poll B's file every 5 ms (another process writes it); returns when it matched."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path.read_text() == content:
                return time.monotonic()
        except (FileNotFoundError, UnicodeDecodeError):
            pass
        time.sleep(0.005)
    raise TimeoutError(f"{path} did not get the new content within {timeout:g} s")


def round_trips(a: Path, b: Path, saves: int, gap: float, timeout: float,
                before_save: Callable[[], None] = lambda: None,
                after_save: Callable[[float, float], None] = lambda s, d: None) -> list[float]:
    """A warm-up save, then `saves` timed saves of new content to a/bench.txt, each until
    b/bench.txt has it."""
    target_a, target_b = a / "bench.txt", b / "bench.txt"
    content = f"warm-up {uuid.uuid4()}\n"
    target_a.write_text(content)
    wait_content(target_b, content, 60)
    totals = []
    for i in range(saves):
        time.sleep(gap)  # pacing between saves (B's pull settles), not synchronisation
        before_save()
        content = f"save {i} {uuid.uuid4()}\n"
        start = time.monotonic()
        target_a.write_text(content)
        done = wait_content(target_b, content, timeout)
        totals.append(done - start)
        after_save(start, done)
    return totals


# ---------------------------------------------------------------- autosync
def autosync_config(sandbox: Sandbox, folder: Path, server: ProsodyServer, jid: str,
                    delays: tuple[float, float] | None) -> Path:
    path = sandbox.base / f"config-{folder.name}.toml"
    lines = ["[[folder]]", f'path = "{folder}"', "poll_interval = 3600"]
    if delays is not None:  # None: autosync's own defaults
        lines += [f"commit_delay = {delays[0]}", f"push_delay = {delays[1]}"]
    lines += ["", "[xmpp]", f'jid = "{jid}"', 'host = "127.0.0.1"', f"port = {server.port}",
              f'ca_file = "{server.ca_file}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def first_after(proc: Autosync, since: int, pattern: str) -> float | None:
    proc.drain()
    for at, line in proc.lines[since:]:
        if re.search(pattern, line):
            return at
    return None


def autosync_run(sandbox: Sandbox, server: ProsodyServer, jid: str, name: str,
                 delays: tuple[float, float] | None, args: argparse.Namespace
                 ) -> tuple[list[float], dict[str, list[float]], Path, Path]:
    """Round trips between two fresh autosync instances; also the per-stage split read
    from the instances' log lines."""
    _bare, a = sandbox.remote_and_clone(f"{name}-a", args.backend)
    b = sandbox.base / f"{name}-b"
    sandbox.run(args.backend, sandbox.base, "clone", "-q", str(_bare), str(b))
    procs = [Autosync(sandbox, autosync_config(sandbox, f, server, jid, delays)).start()
             for f in (a, b)]
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    try:
        for proc in procs:  # both lines, in whatever order they come
            seen: set[str] = set()
            while seen != {"ready", "connected"}:
                _, line = proc.wait_for(r": ready\b|xmpp: connected", 60)
                seen.add("ready" if ": ready" in line else "connected")
        proc_a, proc_b = procs
        marks = [0, 0]

        def before() -> None:
            for proc in procs:
                proc.drain()
            marks[:] = [len(proc_a.lines), len(proc_b.lines)]

        def after(start: float, done: float) -> None:
            points = [start, first_after(proc_a, marks[0], r": committed\b"),
                      first_after(proc_a, marks[0], r": pushed\b"),
                      first_after(proc_b, marks[1], r": notified by\b"), done]
            for stage, (t0, t1) in zip(STAGES, itertools.pairwise(points), strict=True):
                if t0 is not None and t1 is not None:
                    stages[stage].append(t1 - t0)

        totals = round_trips(a, b, args.saves, args.gap, args.timeout, before, after)
    finally:
        for proc in procs:
            proc.stop()
    return totals, stages, a, b


def plain_round_trips(sandbox: Sandbox, a: Path, b: Path, saves: int,
                      backend: str = "git") -> list[float]:
    """The floor: a person syncing by hand with plain git (or hg), each step at once."""
    times = []
    for i in range(saves):
        content = f"plain {i} {uuid.uuid4()}\n"
        start = time.monotonic()
        (a / "bench.txt").write_text(content)
        sandbox.run(backend, a, "addremove" if backend == "hg" else "add",
                    "-q" if backend == "hg" else "-A")
        sandbox.run(backend, a, "commit", "-q", "-m", f"plain {i}")
        sandbox.run(backend, a, "push", "-q")
        sandbox.run(backend, b, "pull", "-q", *(("-u",) if backend == "hg" else ()))
        if (b / "bench.txt").read_text() != content:
            raise RuntimeError("plain git round trip did not carry the content")
        times.append(time.monotonic() - start)
    return times


# ---------------------------------------------------------------- Syncthing
def syncthing_run(sandbox: Sandbox, delay: float, args: argparse.Namespace) -> list[float]:
    pair = SyncthingPair(sandbox.base, sandbox.env, watcher_delay=delay).start()
    try:
        return round_trips(pair.a, pair.b, args.syncthing_saves, args.gap,
                           max(args.timeout, 3 * delay + 30))
    finally:
        pair.stop()


# ---------------------------------------------------------------- report
def row(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:<58} (not run)"
    return (f"  {label:<58} p50 {pct(values, 50) * 1000:6.0f} ms  p95 "
            f"{pct(values, 95) * 1000:6.0f} ms  min {min(values) * 1000:6.0f}  max "
            f"{max(values) * 1000:6.0f}  n={len(values)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=50, help="timed saves per autosync setup")
    parser.add_argument("--syncthing-saves", type=int, default=20,
                        help="timed saves per Syncthing setup (0: skip Syncthing)")
    parser.add_argument("--syncthing-delays", default="10,1",
                        help="fsWatcherDelayS values to run, comma-separated")
    parser.add_argument("--gap", type=float, default=0.3,
                        help="pause after each save arrived, before the next (seconds)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per save")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    add_backend_argument(parser)
    args = parser.parse_args(argv)
    if args.backend == "hg":
        args.syncthing_saves = 0  # the peer comparison is git's; hg's floor is plain hg

    sandbox = Sandbox(keep=args.keep)
    server = new_server()
    results: dict[str, list[float]] = {}
    stages: dict[str, list[float]] = {}
    try:
        server.start()
        jid = server.register("bench", "bench-pw")
        sandbox.env["AUTOSYNC_XMPP_PASSWORD"] = "bench-pw"
        default_label = (f"autosync, defaults (commit_delay {DEFAULTS.commit_delay:g}, "
                         f"push_delay {DEFAULTS.push_delay:g})")
        fastest_label = f"autosync, commit_delay {FASTEST[0]:g}, push_delay {FASTEST[1]:g}"
        results[default_label], stages, a, b = autosync_run(sandbox, server, jid, "defaults",
                                                            None, args)
        results[fastest_label], _, _, _ = autosync_run(sandbox, server, jid, "fastest",
                                                       FASTEST, args)
        st_labels = []
        if syncthing_binary() is not None and args.syncthing_saves > 0:
            for delay in (float(d) for d in args.syncthing_delays.split(",") if d.strip()):
                kind = "default" if delay == 10 else "fastest" if delay == 1 else "custom"
                label = f"Syncthing {syncthing_version()}, {kind} (fsWatcherDelayS {delay:g})"
                results[label] = syncthing_run(sandbox, delay, args)
                st_labels.append((delay, label))
        plain_label = (f"plain {args.backend} by hand ({'addremove' if args.backend == 'hg' else 'add'}"
                       f", commit, push on A; pull on B)")
        results[plain_label] = plain_round_trips(sandbox, a, b, min(args.saves, 20),
                                                 args.backend)
    finally:
        server.close()
        sandbox.close()

    print(f"propagation ({args.backend}), save on A -> content on B's disk; gap {args.gap:g} s "
          "after each arrival; autosync over XMPP with poll_interval 3600 s")
    print(f"machine: {machine()}")
    for label, values in results.items():
        print(row(label, values))
    print("  where autosync's time goes with its defaults (p50, from the instances' log lines):")
    for name, values in stages.items():
        if values:
            print(f"    {name:<40} {pct(values, 50) * 1000:6.0f} ms  (p95 "
                  f"{pct(values, 95) * 1000:.0f} ms, n={len(values)})")
    d, f = results[default_label], results[fastest_label]
    verdicts = [] if args.backend == "hg" else [  # hg's target is its overhead (below)
                f"defaults p50 <= {TARGET_DEFAULT_P50 * 1000:.0f} ms "
                f"{verdict(pct(d, 50) <= TARGET_DEFAULT_P50)}",
                f"defaults p95 <= {TARGET_DEFAULT_P95 * 1000:.0f} ms "
                f"{verdict(pct(d, 95) <= TARGET_DEFAULT_P95)}",
                f"fastest p50 <= {TARGET_FASTEST_P50 * 1000:.0f} ms "
                f"{verdict(pct(f, 50) <= TARGET_FASTEST_P50)}"]
    if args.backend == "hg":
        overhead = pct(f, 50) - FASTEST[0] - pct(results[plain_label], 50)
        verdicts.append(f"hg overhead p50 (fastest minus its {FASTEST[0]:g} s quiet period "
                        f"minus plain hg) {overhead * 1000:.0f} ms <= "
                        f"{TARGET_HG_OVERHEAD_P50 * 1000:.0f} ms "
                        f"{verdict(overhead <= TARGET_HG_OVERHEAD_P50)}")
    for delay, label in st_labels:
        if delay == 1:
            verdicts.append(f"defaults p50 below Syncthing's fastest "
                            f"{verdict(pct(d, 50) < pct(results[label], 50))}")
    print("  targets: " + "; ".join(verdicts))
    if syncthing_binary() is None and args.backend == "git":
        print("  Syncthing: not installed (Debian package `syncthing`), not compared")
    return 0


if __name__ == "__main__":
    sys.exit(main())
