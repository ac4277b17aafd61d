"""Propagation benchmark: a save on machine A, timed until its content is on B's disk.

Two headless autosync instances (`autosync run --headless`, separate processes) sync clones
of one local bare remote and share one XMPP account on a Prosody on 127.0.0.1 (TLS with a
self-signed CA passed as ca_file, password via AUTOSYNC_XMPP_PASSWORD). Default delays
(commit_delay 1.0 s, push_delay 0.5 s); poll_interval 3600 s so only the XMPP notice can
carry a change. Each save writes new content to one file on A; B's copy is read every 5 ms
until it has that content. Overhead = total - commit_delay - push_delay.

    .venv/bin/python bench/propagation.py [--saves 50] [--gap 0.3]

As root, Prosody is run as the `prosody` user (it refuses root), like the test fixture."""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

from common import (
    REPO,
    Autosync,
    Sandbox,
    add_backend_argument,
    machine,
    plain_add_commit_push,
    verdict,
)

sys.path.insert(0, str(REPO))
from tests.fixtures.prosody import new_server

COMMIT_DELAY, PUSH_DELAY = 1.0, 0.5
TARGET_P50, TARGET_P95, TARGET_TOTAL_P50 = 0.300, 0.600, 2.0


def config(sandbox: Sandbox, folder: Path, server, jid: str) -> Path:
    path = sandbox.base / f"config-{folder.name}.toml"
    path.write_text(
        f'[[folder]]\npath = "{folder}"\ncommit_delay = {COMMIT_DELAY}\n'
        f"push_delay = {PUSH_DELAY}\npoll_interval = 3600\n\n"
        f'[xmpp]\njid = "{jid}"\nhost = "127.0.0.1"\nport = {server.port}\n'
        f'ca_file = "{server.ca_file}"\n')
    return path


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


STAGES = ("save -> A committed (commit_delay)", "A committed -> pushed (push_delay)",
          "A pushed -> B notified (XMPP)", "B notified -> content on B's disk")


def first_after(proc: Autosync, since: int, pattern: str) -> float | None:
    proc.drain()
    for at, line in proc.lines[since:]:
        if re.search(pattern, line):
            return at
    return None


def record_stages(stages: dict[str, list[float]], start: float, done: float, a: Autosync,
                  b: Autosync, seen_a: int, seen_b: int) -> None:
    """Split one save's time using the log lines A and B wrote meanwhile."""
    committed = first_after(a, seen_a, r": committed\b")
    pushed = first_after(a, seen_a, r": pushed\b")
    notified = first_after(b, seen_b, r": notified by\b")
    points = [start, committed, pushed, notified, done]
    for name, (t0, t1) in zip(STAGES, itertools.pairwise(points), strict=True):
        if t0 is not None and t1 is not None:
            stages[name].append(t1 - t0)


def plain_round_trips(sandbox: Sandbox, backend: str, a: Path, b: Path, saves: int
                      ) -> list[float]:
    """The floor: a person syncing by hand with plain git (or hg), each step at once."""
    times = []
    for i in range(saves):
        content = f"plain {i} {uuid.uuid4()}\n"
        start = time.monotonic()
        (a / "bench.txt").write_text(content)
        plain_add_commit_push(sandbox, backend, a, f"plain {i}")
        sandbox.run(backend, b, "pull", "-q", *(("-u",) if backend == "hg" else ()))
        if (b / "bench.txt").read_text() != content:
            raise RuntimeError("plain round trip did not carry the content")
        times.append(time.monotonic() - start)
    return times


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.3,
                        help="pause after each save arrived, before the next (seconds)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    add_backend_argument(parser)
    args = parser.parse_args()

    sandbox = Sandbox(keep=args.keep)
    server = new_server()
    procs: list[Autosync] = []
    try:
        server.start()
        jid = server.register("bench", "bench-pw")
        sandbox.env["AUTOSYNC_XMPP_PASSWORD"] = "bench-pw"
        bare, a = sandbox.remote_and_clone("a", args.backend)
        b = sandbox.base / "b"
        sandbox.run(args.backend, sandbox.base, "clone", "-q", str(bare), str(b))
        for folder in (a, b):
            procs.append(Autosync(sandbox, config(sandbox, folder, server, jid)).start())
        for proc in procs:  # both lines, in whatever order they come
            seen: set[str] = set()
            while seen != {"ready", "connected"}:
                _, line = proc.wait_for(r": ready\b|xmpp: connected", 60)
                seen.add("ready" if ": ready" in line else "connected")
        target_a, target_b = a / "bench.txt", b / "bench.txt"
        # warm-up save: also proves both instances found each other over presence
        content = f"warm-up {uuid.uuid4()}\n"
        target_a.write_text(content)
        wait_content(target_b, content, 30)
        totals: list[float] = []
        stages: dict[str, list[float]] = {name: [] for name in STAGES}
        proc_a, proc_b = procs
        for i in range(args.saves):
            time.sleep(args.gap)  # let B's pull settle; pacing between saves, not sync
            for proc in procs:
                proc.drain()
            seen_a, seen_b = len(proc_a.lines), len(proc_b.lines)
            content = f"save {i} {uuid.uuid4()}\n"
            start = time.monotonic()
            target_a.write_text(content)
            done = wait_content(target_b, content, 30)
            totals.append(done - start)
            record_stages(stages, start, done, proc_a, proc_b, seen_a, seen_b)
        overheads = [t - COMMIT_DELAY - PUSH_DELAY for t in totals]
        p50, p95 = pct(overheads, 50), pct(overheads, 95)
        print(f"propagation over XMPP ({args.backend}): {args.saves} saves, commit_delay {COMMIT_DELAY} s, "
              f"push_delay {PUSH_DELAY} s, poll_interval 3600 s")
        print(f"machine: {machine()}")
        print(f"  total     p50 {pct(totals, 50) * 1000:7.0f} ms   p95 "
              f"{pct(totals, 95) * 1000:7.0f} ms   min {min(totals) * 1000:6.0f} ms   max "
              f"{max(totals) * 1000:6.0f} ms")
        print(f"  overhead  p50 {p50 * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms   min "
              f"{min(overheads) * 1000:6.0f} ms   max {max(overheads) * 1000:6.0f} ms")
        print("  where the time goes (p50, from the instances' log lines as read):")
        for name, values in stages.items():
            if values:
                print(f"    {name:<34} {pct(values, 50) * 1000:7.0f} ms  "
                      f"(p95 {pct(values, 95) * 1000:.0f} ms, n={len(values)})")
        for proc in procs:  # the same round trip by hand with plain git, same clones
            proc.stop()
        plain = plain_round_trips(sandbox, args.backend, a, b, min(args.saves, 20))
        print(f"  plain {args.backend} by hand (add+commit+push on A, pull on B, no delays), "
              f"{len(plain)} saves: p50 {pct(plain, 50) * 1000:.0f} ms, "
              f"p95 {pct(plain, 95) * 1000:.0f} ms  <- compare with the overhead")
        print(f"  targets: overhead p50 <= {TARGET_P50 * 1000:.0f} ms "
              f"{verdict(p50 <= TARGET_P50)}; p95 <= {TARGET_P95 * 1000:.0f} ms "
              f"{verdict(p95 <= TARGET_P95)}; total p50 <= {TARGET_TOTAL_P50:g} s "
              f"{verdict(pct(totals, 50) <= TARGET_TOTAL_P50)}")
        return 0
    finally:
        for proc in procs:
            proc.stop()
        server.close()
        sandbox.close()


if __name__ == "__main__":
    sys.exit(main())
