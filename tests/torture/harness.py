"""Randomized multi-replica convergence under faults: the harness and its oracle.

Three replicas of one folder, each a separate `autosync run --headless` process (so kill -9
is real), one bare remote, one Prosody on 127.0.0.1 (all replicas log into the same account,
so the XMPP push notices carry the sync; `poll_interval` stays as the fallback).

Each replica runs in its own UTS namespace (`unshare --uts`) with its own host name (r1, r2,
r3), so conflict copies name the replica they came from, as they would on real machines.

The seed determines the whole *plan*: every operation (kind, replica, paths, content, time
offset) and every fault (kind, target, start, duration). What an operation does depends on
what is on that replica's disk at that moment (a delete of a file that was not pulled yet is
a no-op), which depends on timing; so a seed replays the same plan exactly, and the same run
as closely as a concurrent system allows. The plan and what each step did are written to
`ops.log` in the run's folder.

Faults:
- kill: SIGKILL of the replica's process group (the autosync process and any git it runs,
  so git is cut off mid-operation too), restarted after a while;
- pause: SIGSTOP of the replica's process group, SIGCONT after a while. The headless process
  has no pause command, so this is a frozen process, not the engine's pause();
- prosody: the XMPP server stopped and started again on the same port;
- remote: the bare repository renamed away (unreachable) and back;
and, when asked for (`extra_faults`, bench/soak.py does):
- disk: r1's folder and its .git live on a small file system of their own (a tmpfs; the
  run needs root to mount it); the fault fills it to the last byte (the user's saves on r1
  fail with ENOSPC meanwhile, leaving what they wrote), the heal frees it again;
- lock: a foreign `.git/index.lock` held on a replica (as another git would) while the
  operations go on, then removed.
A replica under a disk or lock fault cannot commit: like a paused one, it is not counted
as running then, and from the heal on it gets `BLOCK_GRACE[kind]` to catch up.

The oracle, checked once the operations stopped, the faults were healed and the system went
quiet (see `check`):
(a) every replica's work tree is clean and equal (paths, contents, executable bits) to the
    remote's tip, and its HEAD is the remote's tip;
(b) every content a replica held on disk for longer than its commit delay is somewhere in the
    remote's history. "Held" means what the engine promises: the content sat on disk while the
    replica was running and the replica saw no other change for commit_delay + `slack` (the
    commit waits for a quiet period of the whole folder, and may wait for a pull in progress);
(c) every content present on any replica when the operations stopped is in the final tree (at
    its path, as a conflict copy of it, or elsewhere when a folder rename moved it; text merged
    cleanly by git counts when all its lines are in the merged file, in order), unless some
    replica deleted, overwrote or moved it away while holding it (at that path, or where a
    folder rename on another replica had moved it: seed 20261125, r2 renamed a folder, merged
    r1's edit of a file in it, then deleted the folder);
(d) no file in the final tree contains conflict markers;
(e) no replica process died except the ones killed on purpose, and all exit 0 on SIGTERM;
(f) the time to converge is bounded (`converge_timeout`) and reported.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from autosync_gui.engine.conflict_rules import parse_copy_name
from autosync_gui.engine.ignore import is_temporary
from tests.fixtures.small_filesystem import SmallFilesystem, mount_small_filesystem
from tests.torture.stores import blob_id, make_store, run_git

REPO_ROOT = Path(__file__).resolve().parents[2]
START_GRACE = 3.0  # seconds from spawn until a replica certainly watches and caught up
# seconds from the heal of a disk or lock fault until the replica certainly commits again
# (it looks at the free space every 2 s; at the lock every 0.1 s)
BLOCK_GRACE = {"disk": 2.5, "lock": 0.5}
DISK_MB = 128  # r1's own file system under disk faults (a tmpfs: memory only when used)
XMPP_USER = "torture"
XMPP_PASSWORD = "torture-secret"

# Names users really use: spaces, unicode, leading dashes, no extension, dot files. A few
# file names double as folder names (file/folder conflicts between replicas).
FILE_NAMES = [
    "notes.txt", "report final.txt", "-dash.txt", "--force.md", "Übergröße.txt",
    "日本語 メモ.txt", "naïve café.md", "two  spaces.txt", "emoji 🎉.txt", "data.bin",
    "photo 1.jpg", "-x", "script.sh", ".hidden", "UPPER.TXT", "a b c", "résumé.pdf",
    "shared", "todo.md", "-", "x.tar.gz",
]
DIR_NAMES = ["docs", "deep", "photos 2024", "-dir", "ünïcödé", "a", "b", "shared", "-x",
             "Projekt Ω", "sub"]
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
         "rho sigma tau upsilon phi chi psi omega Grüße façade naïve 東京 ☃ -- \\ $HOME "
         "'quoted' \"double\" <tag> &amp;").split()
assert not any(is_temporary(n) for n in FILE_NAMES + DIR_NAMES)


__all__ = ["TortureSettings", "blob_id", "run_git", "torture"]


# ====================================================================== settings and plan
@dataclass
class TortureSettings:
    seed: int
    ops: int = 300
    faults: int = 6
    replicas: int = 3
    duration: float = 60.0  # seconds over which the operations are spread
    commit_delay: float = 0.3
    push_delay: float = 0.1
    poll_interval: float = 5.0
    max_binary: int = 2_000_000
    xmpp: bool = True
    slack: float = 1.5
    converge_timeout: float = 90.0
    fault_min: float = 1.0
    fault_max: float = 6.0
    extra_faults: tuple[str, ...] = ()  # "disk", "lock" (see the module doc)
    backend: str = "git"  # the replicas' repositories and the remote: "git" or "hg"


@dataclass
class Op:
    index: int
    at: float  # seconds after the start of the operations
    replica: int
    kind: str
    path: str = ""
    path2: str = ""
    size: int = 0  # content size for binary writes; 0 = text
    atomic: bool = False

    def describe(self) -> str:
        extra = f" -> {self.path2!r}" if self.path2 else ""
        size = f" binary {self.size} B" if self.size else ""
        return (f"#{self.index} t={self.at:7.3f} r{self.replica + 1} {self.kind} {self.path!r}"
                f"{extra}{size}{' (atomic save)' if self.atomic else ''}")


@dataclass
class Fault:
    at: float
    kind: str  # kill, pause, prosody, remote, disk, lock
    replica: int  # -1 for prosody/remote
    duration: float

    def describe(self) -> str:
        target = f" r{self.replica + 1}" if self.replica >= 0 else ""
        return f"fault t={self.at:7.3f} {self.kind}{target} for {self.duration:.1f} s"


def _plan_path(rng: random.Random, dirs: list[str]) -> str:
    depth = rng.choice((0, 0, 1, 1, 2, 3))
    parts = [rng.choice(DIR_NAMES) for _ in range(depth)]
    if depth == 0 and dirs and rng.random() < 0.5:
        parts = [rng.choice(dirs)]
    name = rng.choice(FILE_NAMES)
    if rng.random() < 0.5:
        stem, dot, ext = name.partition(".")
        name = f"{stem} {rng.randrange(8)}{dot}{ext}" if stem else name
    return "/".join([*parts, name])


def make_plan(s: TortureSettings) -> tuple[list[Op], list[Fault]]:
    """The whole run as a function of the seed only."""
    rng = random.Random(s.seed)
    files: list[str] = []
    dirs: list[str] = []
    ops: list[Op] = []
    t = 0.0
    mean_gap = s.duration / max(1, s.ops)

    def pick_file() -> str:
        if files and rng.random() < 0.85:
            return rng.choice(files)
        path = _plan_path(rng, dirs)
        if path not in files:
            files.append(path)
        return path

    def pick_dir() -> str:
        if dirs and rng.random() < 0.8:
            return rng.choice(dirs)
        d = "/".join(rng.choice(DIR_NAMES) for _ in range(rng.choice((1, 1, 2, 3))))
        if d not in dirs:
            dirs.append(d)
        return d

    kinds = [("create", 14), ("overwrite", 16), ("append", 12), ("truncate", 3),
             ("delete", 7), ("rename", 7), ("chmod", 4), ("mkdir", 5), ("rename_dir", 4),
             ("delete_dir", 3), ("concurrent", 8), ("binary", 4)]
    names, weights = zip(*kinds, strict=True)
    while len(ops) < s.ops:
        replica = rng.randrange(s.replicas)
        for _ in range(rng.choice((1, 1, 2, 3, 5))):  # a burst on one replica
            if len(ops) >= s.ops:
                break
            kind = rng.choices(names, weights)[0]
            i = len(ops)
            if kind in ("create", "overwrite", "append", "truncate", "delete", "chmod"):
                path = pick_file() if kind != "create" else _plan_path(rng, dirs)
                if kind == "create" and path not in files:
                    files.append(path)
                ops.append(Op(i, t, replica, kind, path, atomic=kind == "overwrite"
                              and rng.random() < 0.3))
            elif kind == "binary":
                path = pick_file()
                size = int(rng.random() ** 3 * s.max_binary) + 1
                ops.append(Op(i, t, replica, "overwrite", path, size=size,
                              atomic=rng.random() < 0.3))
            elif kind == "rename":
                src = pick_file()
                dst = _plan_path(rng, dirs) if rng.random() < 0.5 else \
                    src.rpartition("/")[0] + ("/" if "/" in src else "") + "renamed " + \
                    src.rpartition("/")[2]
                files.append(dst)
                ops.append(Op(i, t, replica, "rename", src, dst))
            elif kind == "mkdir":
                d = pick_dir() + "/" + "/".join(rng.choice(DIR_NAMES)
                                                for _ in range(rng.randrange(3)))
                d = d.rstrip("/")
                dirs.append(d)
                n = rng.randrange(1, 6)
                ops.append(Op(i, t, replica, "mkdir", d, size=n))
                files.extend(f"{d}/file {k}.txt" for k in range(n))
            elif kind == "rename_dir":
                src = pick_dir()
                dst = rng.choice((f"{src} renamed", f"{pick_dir()}/{rng.choice(DIR_NAMES)}",
                                  rng.choice(DIR_NAMES) + f" {rng.randrange(5)}"))
                if dst == src or dst.startswith(src + "/"):
                    dst = f"{src} moved"
                dirs.append(dst)
                files.extend(dst + f[len(src):] for f in list(files) if f.startswith(src + "/"))
                ops.append(Op(i, t, replica, "rename_dir", src, dst))
            elif kind == "delete_dir":
                ops.append(Op(i, t, replica, "delete_dir", pick_dir()))
            else:  # the same file edited on two or three replicas within the same second
                path = pick_file()
                who = rng.sample(range(s.replicas), rng.choice((2, 2, 3)))
                for k, r in enumerate(who):
                    ops.append(Op(len(ops), t + k * rng.uniform(0.0, 0.3), r, "overwrite",
                                  path, size=rng.choice((0, 0, 0, 2000)),
                                  atomic=rng.random() < 0.3))
            t += rng.uniform(0.0, mean_gap * 0.6)
        t += rng.expovariate(1.0 / (mean_gap * 2.5))
    scale = s.duration / max(t, 1e-9)
    for op in ops:
        op.at *= scale
    ops.sort(key=lambda o: (o.at, o.index))
    faults: list[Fault] = []
    busy: dict[str, float] = {}
    kinds_f = ["kill", "pause", "prosody" if s.xmpp else "kill", "remote", *s.extra_faults]
    for k in range(s.faults):
        kind = kinds_f[k] if k < len(kinds_f) else rng.choice(kinds_f)
        for _attempt in range(20):
            at = rng.uniform(0.05, 0.9) * s.duration
            duration = rng.uniform(s.fault_min, s.fault_max)
            replica = rng.randrange(s.replicas) if kind in ("kill", "pause", "lock") else \
                0 if kind == "disk" else -1
            key = f"r{replica}" if replica >= 0 else kind
            if busy.get(key, -1.0) < at:
                busy[key] = at + duration + 1.0
                faults.append(Fault(at, kind, replica, duration))
                break
    faults.sort(key=lambda f: f.at)
    return ops, faults


def _text(rng: random.Random, tag: str) -> bytes:
    lines = [tag] + [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 9)))
                     for _ in range(rng.randrange(0, 12))]
    return ("\n".join(lines) + "\n").encode()


def content_for(op: Op, seed: int) -> bytes:
    rng = random.Random(f"{seed}/{op.index}")
    if op.size:
        return rng.randbytes(op.size)
    return _text(rng, f"op {op.index} on r{op.replica + 1} seed {seed}")


# ====================================================================== replicas
@dataclass
class Replica:
    index: int
    root: Path
    config: Path
    home: Path
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    state: str = "new"  # running, paused, dead
    alive: list[tuple[float, float]] = field(default_factory=list)  # running intervals
    killed: int = 0
    unexpected_exits: list[str] = field(default_factory=list)
    _since: float | None = None

    @property
    def name(self) -> str:
        return f"r{self.index + 1}"

    def start(self) -> None:
        argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.name,
                sys.executable, "-m", "autosync_gui", "run", "--headless", "--config",
                str(self.config)]
        out = open(self.log, "ab")
        out.write(f"===== start at {time.time():.3f}\n".encode())
        out.flush()
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env,
                                     cwd=self.home, start_new_session=True)
        out.close()
        self.state = "running"
        self._since = time.monotonic() + START_GRACE

    def _close_interval(self) -> None:
        if self._since is not None:
            now = time.monotonic()
            if now > self._since:
                self.alive.append((self._since, now))
            self._since = None

    def check_alive(self) -> None:
        """(e): a running or paused replica's process must not have exited."""
        if self.proc is not None and self.state in ("running", "paused") \
                and self.proc.poll() is not None:
            self.unexpected_exits.append(f"{self.name} exited with {self.proc.returncode}")
            self._close_interval()
            self.state = "dead"

    def kill(self) -> None:
        assert self.proc is not None
        self._close_interval()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.killed += 1
        self.state = "dead"

    def pause(self) -> None:
        assert self.proc is not None
        self._close_interval()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGSTOP)
        self.state = "paused"

    def resume(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGCONT)
        self.state = "running"
        self._since = time.monotonic()

    def block(self) -> None:
        """A disk or lock fault begins: it cannot commit (not counted as running)."""
        if self.state == "running":
            self._close_interval()

    def unblock(self, grace: float) -> None:
        if self.state == "running" and self._since is None:
            self._since = time.monotonic() + grace

    def terminate(self) -> int | None:
        """SIGTERM (flush and exit 0) and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        if self.state == "paused":
            self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            return -9

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(text[-lines:])


# ====================================================================== content tracking
@dataclass
class Interval:
    replica: int
    blob: str
    start: float
    end: float
    path: str


class Tracker:
    """What the generator put on each replica's disk, when, and what it replaced."""

    def __init__(self, replicas: int) -> None:
        self.held: list[dict[str, tuple[str, float]]] = [{} for _ in range(replicas)]
        self.intervals: list[Interval] = []
        self.changes: list[list[float]] = [[] for _ in range(replicas)]
        self.superseded: set[tuple[str, str]] = set()  # (path, blob) removed while held
        self.written: int = 0

    def changed(self, r: int, now: float) -> None:
        self.changes[r].append(now)

    def wrote(self, r: int, path: str, blob: str, now: float) -> None:
        self.ended(r, path, now)
        self.held[r][path] = (blob, now)
        self.written += 1

    def ended(self, r: int, path: str, now: float) -> None:
        entry = self.held[r].pop(path, None)
        if entry is not None:
            self.intervals.append(Interval(r, entry[0], entry[1], now, path))

    def ended_under(self, r: int, folder: str, now: float) -> None:
        for path in [p for p in self.held[r] if p.startswith(folder + "/")]:
            self.ended(r, path, now)

    def finish(self, end: float) -> None:
        for r, held in enumerate(self.held):
            for path in list(held):
                self.ended(r, path, end)

    def qualifies(self, iv: Interval, window: float, alive: list[tuple[float, float]]) -> bool:
        """(b)'s "held for longer than the commit delay": a quiet, running window of
        `window` seconds while the content was on disk."""
        changes = self.changes[iv.replica]
        candidates = [iv.start] + [t for t in changes if iv.start < t < iv.end] + \
            [a for a, _ in alive if iv.start < a < iv.end]
        for g in candidates:
            end = g + window
            if end > iv.end:
                continue
            if any(g < t <= end for t in changes):
                continue
            if any(a <= g and end <= b for a, b in alive):
                return True
        return False


# ====================================================================== the world
@dataclass
class Result:
    seed: int
    ops: int = 0
    ops_applied: int = 0
    faults: int = 0
    contents_written: int = 0
    contents_checked: int = 0
    contents_lost: int = 0
    final_contents_checked: int = 0
    final_moved: int = 0
    final_merged: int = 0
    converge_seconds: float = 0.0
    conflict_copies: int = 0
    final_files: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        return (f"seed {self.seed}: {self.ops} operations ({self.ops_applied} applied), "
                f"{self.faults} faults, {self.contents_written} contents written, "
                f"{self.contents_checked} held contents checked, {self.contents_lost} lost, "
                f"{self.final_contents_checked} final contents checked ({self.final_moved} "
                f"moved by a folder rename, {self.final_merged} merged), {self.final_files} "
                f"files and {self.conflict_copies} conflict copies in the final tree, "
                f"converged in {self.converge_seconds:.1f} s")


class World:
    """One torture run: build, run the plan, heal, wait for quiet, check the oracle."""

    def __init__(self, settings: TortureSettings, base: Path,
                 say: Callable[[str], None] = print) -> None:
        self.s = settings
        self.base = base
        self.say = say
        self.store = make_store(settings.backend, base)
        self.bare = self.store.path
        self.hidden = self.store.hidden
        self.replicas: list[Replica] = []
        self.small_fs: SmallFilesystem | None = None  # r1's own disk (disk faults)
        self.foreign_locks: dict[int, tuple[Path, int]] = {}  # replica -> (lock, its fd)
        self.prosody: object | None = None
        self.tracker = Tracker(settings.replicas)
        self.ops_log = open(base / "ops.log", "a", encoding="utf-8")
        self.result = Result(seed=settings.seed)
        self.final_snapshot: dict[str, bytes] = {}  # blob -> data for text, at ops end
        self.snapshot: list[tuple[int, str, str]] = []  # (replica, path, blob) at ops end

    # ------------------------------------------------------------------ set-up
    def note(self, line: str) -> None:
        self.ops_log.write(line + "\n")

    def setup(self) -> None:
        self.store.create()
        xmpp = ""
        if self.s.xmpp:
            server = start_prosody()
            self.prosody = server
            jid = server.register(XMPP_USER, XMPP_PASSWORD)
            xmpp = (f'\n[xmpp]\njid = "{jid}"\nhost = "127.0.0.1"\nport = {server.port}\n'
                    f'ca_file = "{server.ca_file}"\n')
        for i in range(self.s.replicas):
            name = f"r{i + 1}"
            home = self.base / f"home-{name}"
            home.mkdir()
            (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
            root = self.base / name
            if i == 0 and "disk" in self.s.extra_faults:
                self.small_fs = mount_small_filesystem(self.base / "r1-disk", DISK_MB)
                root = self.small_fs.mount_point / name
            self.store.clone(root)
            config = home / "config.toml"
            config.write_text(
                f'[[folder]]\npath = "{root}"\ncommit_delay = {self.s.commit_delay}\n'
                f"push_delay = {self.s.push_delay}\npoll_interval = {self.s.poll_interval}\n"
                + xmpp, encoding="utf-8")
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("GIT_", "PYTEST", "AUTOSYNC"))}
            env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                       XDG_STATE_HOME=str(home / ".state"), XDG_DATA_HOME=str(home / ".data"),
                       GIT_CONFIG_NOSYSTEM="1", AUTOSYNC_XMPP_PASSWORD=XMPP_PASSWORD,
                       PYTHONPATH=str(REPO_ROOT), PYTHON_KEYRING_BACKEND=
                       "keyring.backends.null.Keyring")
            self.replicas.append(Replica(i, root, config, home, self.base / f"{name}.log", env))
        for replica in self.replicas:
            replica.start()

    def close(self) -> None:
        for replica in self.replicas:
            if replica.proc is not None and replica.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(replica.proc.pid, signal.SIGCONT)
                    os.killpg(replica.proc.pid, signal.SIGKILL)
                replica.proc.wait(timeout=30)
        if self.prosody is not None:
            stop_prosody(self.prosody)  # type: ignore[arg-type]
            self.prosody = None
        for r in list(self.foreign_locks):
            self._drop_foreign_lock(r)
        if self.small_fs is not None:
            self.small_fs.release()
            self.small_fs.unmount()
            self.small_fs = None
        if self.hidden.exists() and not self.bare.exists():
            os.rename(self.hidden, self.bare)
        self.ops_log.close()

    # ------------------------------------------------------------------ running
    def run(self) -> Result:
        ops, faults = make_plan(self.s)
        self.result.ops = len(ops)
        self.result.faults = len(faults)
        self.note(f"seed {self.s.seed}; plan: {len(ops)} operations, {len(faults)} faults")
        for fault in faults:
            self.note(fault.describe())
        self.wait_started()
        events: list[tuple[float, int, str, object]] = []
        for op in ops:
            events.append((op.at, 1, "op", op))
        for fault in faults:
            events.append((fault.at, 0, "fault", fault))
            events.append((fault.at + fault.duration, 0, "heal", fault))
        events.sort(key=lambda e: (e[0], e[1]))
        t0 = time.monotonic()
        ops_end_at = max(op.at for op in ops)
        pending_heals: list[Fault] = []
        for at, _prio, what, item in events:
            if what == "heal" and at > ops_end_at:
                continue  # healed right after the operations
            delay = t0 + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the plan's pacing, not synchronisation
            for replica in self.replicas:
                replica.check_alive()
            if what == "op":
                assert isinstance(item, Op)
                self.apply(item)
            elif what == "fault":
                assert isinstance(item, Fault)
                self.inject(item)
                pending_heals.append(item)
            else:
                assert isinstance(item, Fault)
                self.heal(item)
                pending_heals.remove(item)
        ops_end = time.monotonic()
        self.take_snapshot()
        for fault in list(pending_heals):
            self.heal(fault)
        healed = time.monotonic()
        self.note(f"operations done after {ops_end - t0:.1f} s; faults healed")
        self.tracker.finish(float("inf"))
        for replica in self.replicas:
            replica.check_alive()
        converged = self.wait_converged(healed)
        self.result.converge_seconds = converged - healed
        self.check()
        return self.result

    def wait_started(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all("ready: watching" in r.log.read_text(errors="replace")
                   for r in self.replicas if r.log.exists()) and \
                    all(r.log.exists() for r in self.replicas):
                return
            for replica in self.replicas:
                replica.check_alive()
                if replica.unexpected_exits:
                    raise AssertionError(f"{replica.name} did not start:\n"
                                         f"{replica.log_tail()}")
            time.sleep(0.1)
        raise AssertionError("replicas not ready within 60 s")

    def inject(self, fault: Fault) -> None:
        self.note(f"t={time.monotonic():.3f} inject {fault.describe()}")
        if fault.kind == "kill":
            replica = self.replicas[fault.replica]
            if replica.state == "running":
                replica.kill()
        elif fault.kind == "pause":
            replica = self.replicas[fault.replica]
            if replica.state == "running":
                replica.pause()
        elif fault.kind == "prosody" and self.prosody is not None:
            stop_prosody_process(self.prosody)
        elif fault.kind == "remote" and self.bare.exists():
            os.rename(self.bare, self.hidden)
        elif fault.kind == "disk" and self.small_fs is not None:
            self.replicas[fault.replica].block()
            self.small_fs.fill()
        elif fault.kind == "lock":
            self.replicas[fault.replica].block()
            self._take_foreign_lock(fault.replica)

    def _take_foreign_lock(self, r: int) -> None:
        """Create the replica's .git/index.lock as another git would (exclusively: when
        autosync's own git holds it this instant, a moment later) and keep it open, so
        that a restart never takes it for a stale one."""
        lock = self.replicas[r].root / ".git" / "index.lock"
        for _attempt in range(200):
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                time.sleep(0.01)
                continue
            self.foreign_locks[r] = (lock, fd)
            return
        self.note(f"could not take {lock}: autosync's git kept it for 2 s")

    def _drop_foreign_lock(self, r: int) -> None:
        lock, fd = self.foreign_locks.pop(r)
        try:
            if os.lstat(lock).st_ino == os.fstat(fd).st_ino:  # still ours: remove it
                lock.unlink()
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    def heal(self, fault: Fault) -> None:
        self.note(f"t={time.monotonic():.3f} heal {fault.kind}")
        if fault.kind == "kill":
            replica = self.replicas[fault.replica]
            if replica.state == "dead" and not replica.unexpected_exits:
                replica.start()
        elif fault.kind == "pause":
            replica = self.replicas[fault.replica]
            if replica.state == "paused":
                replica.resume()
        elif fault.kind == "prosody" and self.prosody is not None:
            self.prosody.start()  # type: ignore[attr-defined]
        elif fault.kind == "remote" and self.hidden.exists():
            self._plug_remote_back()
        elif fault.kind == "disk" and self.small_fs is not None:
            self.small_fs.release()
            self.replicas[fault.replica].unblock(BLOCK_GRACE["disk"])
        elif fault.kind == "lock" and fault.replica in self.foreign_locks:
            self._drop_foreign_lock(fault.replica)
            self.replicas[fault.replica].unblock(BLOCK_GRACE["lock"])

    def _plug_remote_back(self) -> None:
        """A push under way when the remote went (hg writes by absolute path) may have
        made a new folder where it was: what it wrote there went to a disk that was not
        there, so it is dropped. That push left the remote mid-transaction: hg refuses
        every later push and autosync says to run `hg recover` there, which the user
        does."""
        if self.bare.exists():
            debris = self.bare.with_name(f"{self.bare.name}-debris-{time.monotonic_ns()}")
            os.rename(self.bare, debris)
            self.note(f"a push in flight wrote {self.bare} while it was away: moved aside")
        os.rename(self.hidden, self.bare)
        if (self.bare / ".hg" / "store" / "journal").exists():
            done = subprocess.run(["hg", "recover", "-R", str(self.bare)],
                                  capture_output=True, text=True, check=False)
            self.note(f"remote left mid-transaction: hg recover -> {done.returncode}")

    # ------------------------------------------------------------------ operations
    def apply(self, op: Op) -> None:
        root = self.replicas[op.replica].root
        now = time.monotonic()
        try:
            done = self._apply(op, root, now)
        except OSError as exc:  # e.g. a parent became a file meanwhile: a user error;
            done = f"failed: {exc.strerror}"  # or a full disk (what was written stays)
            self.tracker.ended(op.replica, op.path, now)
            self.tracker.changed(op.replica, now)
        if done is None or not done.startswith(("skipped", "failed")):
            self.result.ops_applied += 1
            self.tracker.changed(op.replica, now)
        self.note(f"{op.describe()}: {done or 'done'}")

    def _read(self, target: Path) -> bytes | None:
        try:
            if target.is_file() and not target.is_symlink():
                return target.read_bytes()
        except OSError:
            return None
        return None

    def _supersede_tree(self, r: int, folder: Path, rel: str, now: float) -> None:
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                full = Path(dirpath) / name
                data = self._read(full)
                relpath = full.relative_to(self.replicas[r].root).as_posix()
                if data is not None:
                    self.tracker.superseded.add((relpath, blob_id(data)))
        self.tracker.ended_under(r, rel, now)

    def _write(self, target: Path, data: bytes, atomic: bool) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if atomic:
            tmp = target.with_name(target.name + ".part")
            try:
                tmp.write_bytes(data)
            except OSError:  # (a full disk) like GLib's safe save: the temporary goes
                tmp.unlink(missing_ok=True)
                raise
            with contextlib.suppress(OSError):
                os.chmod(tmp, target.stat().st_mode & 0o777)
            os.replace(tmp, target)
        else:
            with open(target, "wb") as fh:
                fh.write(data)

    def _apply(self, op: Op, root: Path, now: float) -> str | None:
        r = op.replica
        target = root / op.path
        tr = self.tracker
        if op.kind in ("create", "overwrite", "append", "truncate"):
            if target.is_dir():
                return "skipped: a folder is there"
            old = self._read(target)
            if op.kind == "create" and old is not None:
                return "skipped: exists"
            if old is not None:
                tr.superseded.add((op.path, blob_id(old)))
            if op.kind == "append" and old is not None:
                add = content_for(op, self.s.seed)
                with open(target, "ab") as fh:
                    fh.write(add)
                data = old + add
            elif op.kind == "truncate":
                if old is None:
                    return "skipped: missing"
                with open(target, "r+b") as fh:
                    fh.truncate(0)
                data = b""
            else:
                data = content_for(op, self.s.seed)
                self._write(target, data, op.atomic)
            tr.wrote(r, op.path, blob_id(data), now)
            return f"{len(data)} bytes"
        if op.kind == "delete":
            old = self._read(target)
            if old is None:
                return "skipped: missing"
            tr.superseded.add((op.path, blob_id(old)))
            target.unlink()
            tr.ended(r, op.path, now)
            return None
        if op.kind == "chmod":
            if self._read(target) is None:
                return "skipped: missing"
            mode = target.stat().st_mode
            target.chmod(mode ^ 0o111 if mode & 0o100 else mode | 0o111)
            return "now executable" if not mode & 0o100 else "now not executable"
        if op.kind == "rename":
            old = self._read(target)
            dest = root / op.path2
            if old is None or dest.exists():
                return "skipped: source missing or destination exists"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(target, dest)
            tr.superseded.add((op.path, blob_id(old)))
            tr.ended(r, op.path, now)
            tr.wrote(r, op.path2, blob_id(old), now)
            return None
        if op.kind == "mkdir":
            if target.exists() and not target.is_dir():
                return "skipped: a file is there"
            target.mkdir(parents=True, exist_ok=True)
            for k in range(op.size):
                f = target / f"file {k}.txt"
                if f.exists():
                    continue
                data = content_for(Op(op.index * 100 + k, op.at, r, "create"), self.s.seed)
                f.write_bytes(data)
                tr.wrote(r, f"{op.path}/file {k}.txt", blob_id(data), now)
            return None
        if op.kind == "rename_dir":
            dest = root / op.path2
            if not target.is_dir() or dest.exists():
                return "skipped: source missing or destination exists"
            moved = [(p, b) for p, (b, _since) in tr.held[r].items()
                     if p.startswith(op.path + "/")]
            self._supersede_tree(r, target, op.path, now)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(target, dest)
            for dirpath, _dirs, files in os.walk(dest):
                for name in files:
                    full = Path(dirpath) / name
                    data = self._read(full)
                    if data is not None:
                        tr.wrote(r, full.relative_to(root).as_posix(), blob_id(data), now)
            return f"{len(moved)} tracked files moved"
        if op.kind == "delete_dir":
            if not target.is_dir():
                return "skipped: missing"
            self._supersede_tree(r, target, op.path, now)
            shutil.rmtree(target)
            return None
        raise AssertionError(f"unknown operation {op.kind}")

    # ------------------------------------------------------------------ quiet and checks
    def take_snapshot(self) -> None:
        for replica in self.replicas:
            for rel, data, _x in walk_tree(replica.root):
                if is_temporary(rel.rsplit("/", 1)[-1]):
                    continue  # never synced: e.g. a pull's files moved aside this instant
                blob = blob_id(data)
                self.snapshot.append((replica.index, rel, blob))
                if len(data) <= 65536:
                    self.final_snapshot.setdefault(blob, data)

    def converged_cheaply(self) -> str | None:
        """None when every replica is at the remote's tip with a clean work tree."""
        if not self.bare.exists():
            return "remote away"
        tip = self.store.tip()
        for replica in self.replicas:
            head = self.store.head(replica.root)
            if head != tip:
                return f"{replica.name} HEAD {head[:10]} != remote {tip[:10]}"
            status = self.store.dirty(replica.root)
            if status:
                return f"{replica.name} not clean: {status[:200]!r}"
        return None

    def wait_converged(self, since: float) -> float:
        deadline = since + self.s.converge_timeout
        stable = 0
        last_tip = ""
        why: str | None = "not checked"
        first_ok = since
        while time.monotonic() < deadline:
            for replica in self.replicas:
                replica.check_alive()
            why = self.converged_cheaply()
            if why is None:
                tip = self.store.tip()
                stable = stable + 1 if tip == last_tip else 1
                last_tip = tip
                if stable == 1:
                    first_ok = time.monotonic()
                if stable >= 3:  # the same tip, clean, for about a second
                    return first_ok
            else:
                stable = 0
            time.sleep(0.4)
        self.result.failures.append(
            f"(f) not converged within {self.s.converge_timeout:g} s: {why}")
        return time.monotonic()

    def check(self) -> None:
        res = self.result
        fail = res.failures.append
        if not res.ok:  # not converged: still check what can be checked
            pass
        tip_files = self.store.tree() if self.bare.exists() else {}
        # (a) identical, clean work trees equal to the remote's tip
        for replica in self.replicas:
            disk = {rel: (blob_id(data), x) for rel, data, x in walk_tree(replica.root)}
            want = {p: (b, m == "100755") for p, (m, b) in tip_files.items()}
            if disk != want:
                only_disk = sorted(set(disk) - set(want))[:5]
                only_tip = sorted(set(want) - set(disk))[:5]
                differ = sorted(p for p in set(disk) & set(want) if disk[p] != want[p])[:5]
                fail(f"(a) {replica.name} differs from the remote's tip: only on disk "
                     f"{only_disk}, only in the tip {only_tip}, different {differ}")
        # (b) every content held long enough is in the remote's history
        objects = self.store.history_blobs() if self.bare.exists() else set()
        objects.add(blob_id(b""))  # the empty blob is in every repository that has one
        window = self.s.commit_delay + self.s.slack
        lost: dict[str, Interval] = {}
        checked: set[tuple[int, str]] = set()
        res.contents_written = self.tracker.written
        for iv in self.tracker.intervals:
            alive = self.replicas[iv.replica].alive
            if self.replicas[iv.replica]._since is not None:
                alive = [*alive, (self.replicas[iv.replica]._since, float("inf"))]
            if not self.tracker.qualifies(iv, window, alive):
                continue
            checked.add((iv.replica, iv.blob))
            if iv.blob not in objects:
                lost[iv.blob] = iv
        res.contents_checked = len(checked)
        res.contents_lost = len(lost)
        for blob, iv in list(lost.items())[:10]:
            fail(f"(b) lost: r{iv.replica + 1} held {iv.path!r} (blob {blob[:10]}) from "
                 f"{iv.start:.3f} to {iv.end:.3f}, not in the remote's history")
        # (c) every content present when the operations stopped is in the final tree
        final_by_blob: dict[str, list[str]] = {}
        for p, (_m, b) in tip_files.items():
            final_by_blob.setdefault(b, []).append(p)
        seen: set[tuple[str, str]] = set()
        superseded_blobs = {b for _p, b in self.tracker.superseded}
        for r, path, blob in self.snapshot:
            if (path, blob) in seen:
                continue
            seen.add((path, blob))
            res.final_contents_checked += 1
            where = final_by_blob.get(blob, [])
            if any(p == path or _copy_of(p) == path for p in where):
                continue
            if (path, blob) in self.tracker.superseded or blob in superseded_blobs:
                continue  # some replica deleted or overwrote it while holding it (at this
                # path, or where another replica's folder rename had moved it)
            if where:
                res.final_moved += 1
                continue
            if self._merged_into(blob, path, tip_files):
                res.final_merged += 1
                continue
            fail(f"(c) r{r + 1} had {path!r} (blob {blob[:10]}) when operations stopped; "
                 "it is not in the final tree and no replica replaced it")
        # (d) no conflict markers
        res.final_files = len(tip_files)
        res.conflict_copies = sum(1 for p in tip_files if parse_copy_name(p) is not None)
        for p, (_m, b) in tip_files.items():
            data = self.store.blob(b)
            if has_conflict_markers(data):
                fail(f"(d) {p!r} contains conflict markers")
        # (e) no unexpected deaths; every replica exits 0 on SIGTERM
        for replica in self.replicas:
            replica.check_alive()
            res.failures.extend(f"(e) {e}" for e in replica.unexpected_exits)
            text = replica.log.read_text(errors="replace")
            if "Traceback" in text:
                fail(f"(e) {replica.name} logged a traceback")
        for replica in self.replicas:
            status = replica.terminate()
            if status not in (0, None):
                fail(f"(e) {replica.name} exited {status} on SIGTERM")

    def _merged_into(self, blob: str, path: str, tip: dict[str, tuple[str, str]]) -> bool:
        data = self.final_snapshot.get(blob)
        if data is None or path not in tip:
            return False
        merged = self.store.blob(tip[path][1]).splitlines()
        it = iter(merged)
        return all(any(line == m for m in it) for line in data.splitlines())

    def diagnostics(self) -> str:
        parts = [f"run folder: {self.base} (ops.log has the plan and what each step did)"]
        for replica in self.replicas:
            parts.append(f"--- {replica.name} log tail:\n{replica.log_tail(25)}")
        return "\n".join(parts)


def _copy_of(path: str) -> str | None:
    parsed = parse_copy_name(path)
    return parsed.original if parsed else None


def has_conflict_markers(data: bytes) -> bool:
    lines = data.splitlines()
    return any(line.startswith(b"<<<<<<< ") for line in lines) and \
        any(line.startswith(b">>>>>>> ") for line in lines)


def walk_tree(root: Path) -> Iterator[tuple[str, bytes, bool]]:
    """(relative path, content, executable) of every file in a work tree, the top's .git
    or .hg excluded."""
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git" and not (d == ".hg" and dirpath == str(root))]
        for name in files:
            full = Path(dirpath) / name
            with contextlib.suppress(OSError):
                if full.is_symlink():
                    continue
                yield (full.relative_to(root).as_posix(), full.read_bytes(),
                       bool(full.stat().st_mode & 0o100))


# ====================================================================== prosody
def start_prosody() -> object:
    """A started Prosody on 127.0.0.1, built with the test fixture's machinery."""
    from tests.fixtures import prosody as fx

    if shutil.which("prosody") is None:
        raise RuntimeError("prosody is not installed")
    server = fx.new_server()
    server.start()
    return server


def stop_prosody_process(server: object) -> None:
    server.stop()  # type: ignore[attr-defined]


def stop_prosody(server: object) -> None:
    server.close()  # type: ignore[attr-defined]


def torture(settings: TortureSettings, base: Path, say: Callable[[str], None] = print
            ) -> tuple[Result, str]:
    """Run one seed; returns the result and diagnostics (empty when it passed)."""
    world = World(settings, base, say)
    try:
        world.setup()
        result = world.run()
        diagnostics = "" if result.ok else world.diagnostics()
        world.note(result.summary())
        for failure in result.failures:
            world.note(f"FAILED {failure}")
    finally:
        world.close()
    return result, diagnostics
