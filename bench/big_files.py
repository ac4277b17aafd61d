"""Large files: one big file saved on A until it is on B's disk, by two headless autosync
processes beside plain git doing the same work by hand (add, commit, push on A; fetch and
checkout on B), in the same run; our own peak memory (VmHWM of each autosync process)
and git's (the largest VmHWM of any git process either side ran). With --edits, three
1 MB edits of a 300 MB file and how much each store grew.

    .venv/bin/python bench/big_files.py [--size 1.5G] [--edits] [--keep]

Targets (issue 12): our peak under 100 MB; A -> B within 1.5x plain git; after three
1 MB edits of a 300 MB file each clone and the remote grew by at most 10 MB."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import REPO, Autosync, Sandbox, machine, memory_mb, print_table, verdict

sys.path.insert(0, str(REPO))
from autosync_gui.engine.partial_clone import configure_bare_remote
from autosync_gui.sizes import human_size, parse_size


class PeakWatcher:
    """Polls /proc every 20 ms for every descendant of `roots` and keeps the largest
    VmHWM seen (a process's high-water mark only grows, so the last poll before it exits
    holds nearly all of it)."""

    def __init__(self, *roots: int) -> None:
        self.roots = set(roots)
        self.peak_kb = 0
        self.peak_name = ""
        self.anon_kb = 0  # the largest anonymous resident memory seen (RssAnon, sampled):
        # VmHWM also counts pages of files git maps to read them (page cache, reclaimable)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _children(self) -> dict[int, int]:
        parents: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(f"/proc/{entry.name}/stat").read_text()
                    parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        return parents

    def _run(self) -> None:
        while not self._stop.is_set():
            parents = self._children()
            family = set(self.roots)
            grew = True
            while grew:
                new = {pid for pid, ppid in parents.items() if ppid in family} - family
                family |= new
                grew = bool(new)
            for pid in family - self.roots:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                hwm = int(fields.get("VmHWM", "0 kB").split()[0] or 0)
                if hwm > self.peak_kb:
                    self.peak_kb = hwm
                    self.peak_name = fields.get("Name", "").strip()
                self.anon_kb = max(self.anon_kb,
                                   int(fields.get("RssAnon", "0 kB").split()[0] or 0))
            time.sleep(0.02)  # polling other processes' memory, not synchronisation

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def make_file(path: Path, size: int) -> None:
    """Random (incompressible, like video) content, written in 16 MB chunks."""
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(16 << 20, left))
            fh.write(chunk)
            left -= len(chunk)


def timed(sandbox: Sandbox, cwd: Path, *args: str) -> tuple[float, PeakWatcher]:
    """(seconds, the peaks of git and its children) of one git command."""
    started = time.monotonic()
    proc = subprocess.Popen(["git", *args], cwd=cwd, env=sandbox.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with PeakWatcher(os.getpid()) as watcher:
        _out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {err.decode()[-500:]}")
    return time.monotonic() - started, watcher


def describe(peaks: list[PeakWatcher]) -> str:
    top = max(peaks, key=lambda w: w.peak_kb)
    anon = max(w.anon_kb for w in peaks) / 1024
    return f"{top.peak_mb:.0f} MB ({top.peak_name}; anonymous at most {anon:.0f} MB)"


def plain_git(sandbox: Sandbox, source: Path, size: int) -> tuple[float, str]:
    """By hand: add, commit, push on A; fetch and checkout on B. (seconds, git's peak)."""
    bare, a = sandbox.remote_and_clone("plain")
    b = sandbox.base / "plain-b"
    sandbox.git(sandbox.base, "clone", "-q", str(bare), str(b))
    os.link(source, a / "video.bin")
    total = 0.0
    peaks = []
    for cwd, args in ((a, ("add", "video.bin")), (a, ("commit", "-q", "-m", "video")),
                      (a, ("push", "-q")), (b, ("fetch", "-q")),
                      (b, ("merge", "-q", "--ff-only", "origin/main"))):
        took, watcher = timed(sandbox, cwd, *args)
        total += took
        peaks.append(watcher)
    assert (b / "video.bin").stat().st_size == size
    for path in (bare, a, b):
        shutil.rmtree(path)
    return total, describe(peaks)


def autosync_run(sandbox: Sandbox, source: Path, size: int) -> dict[str, float | str]:
    bare, a = sandbox.remote_and_clone("shared")
    configure_bare_remote(bare)
    b = sandbox.base / "b"
    sandbox.git(sandbox.base, "clone", "-q", str(bare), str(b))
    proc_a = Autosync(sandbox, sandbox.config(a, poll_interval=3600)).start()
    proc_b = Autosync(sandbox, sandbox.config(b, poll_interval=1)).start()
    proc_a.wait_ready(120)
    proc_b.wait_ready(120)
    with PeakWatcher(proc_a.pid, proc_b.pid) as git_peak:
        started = time.monotonic()
        os.link(source, a / "video.bin")  # the whole file appears at once
        pushed_at, _ = proc_a.wait_for(r"pushed to origin", 3600)
        target = b / "video.bin"
        while not (target.exists() and target.stat().st_size == size):
            time.sleep(0.05)  # polling B's disk, not synchronisation
        arrived = time.monotonic()
        proc_b.wait_for(r"pulled 1 file", 600)
    ours_a = memory_mb(proc_a.pid)[1]
    ours_b = memory_mb(proc_b.pid)[1]
    proc_a.stop()
    proc_b.stop()
    same = subprocess.run(["cmp", "-s", str(source), str(target)], check=False).returncode == 0
    for path in (bare, a, b):
        shutil.rmtree(path)
    return {"total": arrived - started, "push": pushed_at - started, "ours_a": ours_a,
            "ours_b": ours_b, "git": describe([git_peak]), "same": float(same)}


def store_bytes(git_dir: Path) -> int:
    return sum(p.stat().st_size for p in (git_dir / "objects").rglob("*") if p.is_file())


def edits_run(sandbox: Sandbox) -> dict[str, int]:
    """Three 1 MB edits inside a 300 MB file, synced A -> B; growth of each store once
    autosync's maintenance (and the remote's own gc) ran."""
    bare, a = sandbox.remote_and_clone("edits")
    configure_bare_remote(bare)
    b = sandbox.base / "edits-b"
    sandbox.git(sandbox.base, "clone", "-q", str(bare), str(b))
    # -v: the "maintenance: nothing to do" lines are debug lines
    proc_a = Autosync(sandbox, sandbox.config(a, poll_interval=3600), ("-v",)).start()
    proc_b = Autosync(sandbox, sandbox.config(b, poll_interval=1), ("-v",)).start()
    proc_a.wait_ready(120)
    proc_b.wait_ready(120)
    size = 300 << 20
    path = a / "master.wav"
    make_file(path, size)

    def settle() -> None:
        proc_a.wait_for(r"pushed to origin", 1800)
        proc_b.wait_for(r"pulled 1 file", 1800)
        proc_a.wait_for(r": maintenance: ", 1800)
        proc_b.wait_for(r": maintenance: ", 1800)
        deadline = time.monotonic() + 600
        while len(list((bare / "objects" / "pack").glob("*.pack"))) > 1 \
                and time.monotonic() < deadline:
            time.sleep(0.5)  # the remote's detached gc, another process

    settle()
    before = {"remote": store_bytes(bare), "A": store_bytes(a / ".git"),
              "B": store_bytes(b / ".git")}
    for i in range(3):
        with open(path, "r+b") as fh:
            fh.seek(size // 4 * (i + 1))
            fh.write(os.urandom(1 << 20))
        settle()
    after = {"remote": store_bytes(bare), "A": store_bytes(a / ".git"),
             "B": store_bytes(b / ".git")}
    proc_a.stop()
    proc_b.stop()
    for p in (bare, a, b):
        shutil.rmtree(p)
    return {k: after[k] - before[k] for k in after}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1.5G", help="file size, e.g. 1.5G, 4G, 300M")
    parser.add_argument("--edits", action="store_true", help="also the 300 MB edit test")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-plain-git", action="store_true",
                        help="skip plain git by hand (for the 4G memory run: git deflates "
                             "the whole file, about 10 minutes per GB on a 2-CPU machine)")
    args = parser.parse_args()
    size = parse_size(args.size.replace("G", "GiB").replace("M", "MiB"))
    if size > 4 << 30:
        parser.error("--size: at most 4G")
    print(f"machine: {machine()}")
    sandbox = Sandbox(keep=args.keep)
    ok = True
    try:
        source = sandbox.base / "source.bin"
        make_file(source, size)
        plain: float | None = None
        plain_peak = "not run (--no-plain-git)"
        if not args.no_plain_git:
            plain, plain_peak = plain_git(sandbox, source, size)
        ours = autosync_run(sandbox, source, size)
        ratio = float(ours["total"]) / plain if plain else None
        mine = (float(ours["ours_a"]), float(ours["ours_b"]))
        ok = bool(ours["same"])  # the verdicts below are figures; a wrong file is a failure
        print(f"\n{human_size(size)} random file saved on A until it is on B's disk:")
        print_table([
            ("plain git by hand (add, commit, push; fetch, checkout)",
             f"{plain:.1f} s" if plain else "not run"),
            ("autosync A -> B", f"{ours['total']:.1f} s (" + (
                f"{ratio:.2f}x plain git; " if ratio else "") +
             f"pushed after {ours['push']:.1f} s) " +
             (verdict(ratio <= 1.5) if ratio else "")),
            ("autosync peak RSS, A / B", f"{ours['ours_a']:.0f} MB / {ours['ours_b']:.0f} MB "
                                         f"{verdict(max(mine) < 100)}"),
            ("git's peak RSS, autosync's", str(ours["git"])),
            ("git's peak RSS, by hand", plain_peak),
            ("B's file identical", "yes" if ours["same"] else "NO"),
        ])
        source.unlink()
        if args.edits:
            growth = edits_run(sandbox)
            print("\nthree 1 MB edits of a 300 MB file, growth of each store:")
            print_table([(k, f"{v / (1 << 20):.1f} MB {verdict(v <= 10 << 20)}")
                         for k, v in growth.items()])
    finally:
        sandbox.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
