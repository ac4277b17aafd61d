"""Shared pieces of the engine benchmarks: an isolated git environment, a local bare remote
with a clone, the headless autosync as a separate process (its log lines read as they come),
and /proc readings (CPU, memory, machine).

The scripts are run as `python bench/NAME.py` (this folder is then on sys.path)."""

from __future__ import annotations

import contextlib
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
sys.path.insert(0, str(REPO))
from autosync_gui.config import FolderSettings  # noqa: E402 (after the path is set)

DEFAULTS = FolderSettings(path=Path())  # autosync's default settings


# ---------------------------------------------------------------- environment
class Sandbox:
    """A temp folder with its own HOME, so no user or system git configuration leaks in."""

    def __init__(self, keep: bool = False) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="autosync-bench-"))
        self.keep = keep
        home = self.base / "home"
        home.mkdir()
        (home / ".gitconfig").write_text(
            "[init]\n\tdefaultBranch = main\n[user]\n\tname = bench\n\temail = bench@example.invalid\n")
        (home / ".hgrc").write_text("[ui]\nusername = bench <bench@example.invalid>\n")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GIT_", "HG")) and k not in ("XDG_CONFIG_HOME",)}
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                        XDG_STATE_HOME=str(home / ".local/state"),
                        XDG_DATA_HOME=str(home / ".local/share"), GIT_CONFIG_NOSYSTEM="1",
                        LC_ALL="C.UTF-8")

    def git(self, cwd: Path, *args: str) -> str:
        result = subprocess.run(["git", *args], cwd=cwd, env=self.env, capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} in {cwd} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def hg(self, cwd: Path, *args: str) -> str:
        result = subprocess.run(["hg", *args], cwd=cwd, env={**self.env, "HGPLAIN": "1"},
                                capture_output=True, text=True, check=False)
        if result.returncode not in (0, 1) or (result.returncode == 1 and args[0] != "push"):
            raise RuntimeError(f"hg {' '.join(args)} in {cwd} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def run(self, backend: str, cwd: Path, *args: str) -> str:
        return self.hg(cwd, *args) if backend == "hg" else self.git(cwd, *args)

    def remote_and_clone(self, name: str, backend: str = "git") -> tuple[Path, Path]:
        """A bare repository with one initial commit on main, and a clone tracking it
        (for hg: a repository without a working copy and a clone of it)."""
        if backend == "hg":
            repo, clone = self.base / f"{name}-hg", self.base / name
            self.hg(self.base, "init", str(repo))
            self.hg(self.base, "clone", "-q", str(repo), str(clone))
            (clone / "README").write_text("benchmark\n")
            self.hg(clone, "add", "README")
            self.hg(clone, "commit", "-q", "-m", "initial")
            self.hg(clone, "push", "-q")
            return repo, clone
        bare = self.base / f"{name}.git"
        clone = self.base / name
        self.git(self.base, "init", "-q", "--bare", str(bare))
        self.git(self.base, "clone", "-q", str(bare), str(clone))
        (clone / "README").write_text("benchmark\n")
        self.git(clone, "add", "README")
        self.git(clone, "commit", "-q", "-m", "initial")
        self.git(clone, "push", "-q", "-u", "origin", "main")
        return bare, clone

    def config(self, folder: Path, *, commit_delay: float = DEFAULTS.commit_delay,
               push_delay: float = DEFAULTS.push_delay,
               poll_interval: float = DEFAULTS.poll_interval) -> Path:
        path = self.base / f"config-{folder.name}.toml"
        path.write_text(f'[[folder]]\npath = "{folder}"\ncommit_delay = {commit_delay}\n'
                        f"push_delay = {push_delay}\npoll_interval = {poll_interval}\n")
        return path

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)


# ---------------------------------------------------------------- the remote, cheaply
_hg_tips: dict[Path, tuple[object, str | None]] = {}


def _changelog_stamp(repo: Path) -> object:
    """What changes whenever an hg repository gets a changeset (no hg process: polling
    with one would eat a CPU beside the process being measured)."""
    stamp = []
    for name in ("00changelog.i", "00changelog.d", "00changelog.n"):
        try:
            info = (repo / ".hg" / "store" / name).stat()
            stamp.append((info.st_ino, info.st_size, info.st_mtime_ns))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def remote_head(sandbox: Sandbox, bare: Path) -> str | None:
    if is_hg(bare):
        stamp = _changelog_stamp(bare)
        known = _hg_tips.get(bare)
        if known is None or known[0] != stamp:
            known = (stamp, sandbox.hg(bare, "log", "-r", "tip", "-T", "{node}") or None)
            _hg_tips[bare] = known
        return known[1]
    result = subprocess.run(["git", "rev-parse", "-q", "--verify", "refs/heads/main"], cwd=bare,
                            env=sandbox.env, capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def is_hg(repo: Path) -> bool:
    return (repo / ".hg").is_dir()


def remote_file_count(sandbox: Sandbox, bare: Path, ref: str = "refs/heads/main") -> int:
    if is_hg(bare):
        out = subprocess.run(["hg", "files", "-r", "tip", "-0"], cwd=bare, env=sandbox.env,
                             capture_output=True, check=False).stdout
        return out.count(b"\0")
    out = subprocess.run(["git", "ls-tree", "-r", "-z", "--name-only", ref], cwd=bare,
                         env=sandbox.env, capture_output=True, check=False).stdout
    return out.count(b"\0")


def commit_count(sandbox: Sandbox, bare: Path, since: str, ref: str = "refs/heads/main") -> int:
    if is_hg(bare):
        return len(sandbox.hg(bare, "log", "-r", f"{since}::tip - {since}", "-T",
                              "x\n").split())
    return int(sandbox.git(bare, "rev-list", "--count", f"{since}..{ref}"))


def wait_for_remote_files(sandbox: Sandbox, bare: Path, expected: int, timeout: float,
                          interval: float = 0.02) -> float:
    """Poll the bare repository (another process writes it) until its tip holds `expected`
    files; returns the monotonic time it was first seen. The tree is only listed when the
    branch moved, so each poll is one `git rev-parse` (for hg: a stat of its changelog)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        head = remote_head(sandbox, bare)
        now = time.monotonic()
        if head != seen:
            seen = head
            if remote_file_count(sandbox, bare) >= expected:
                return now
        time.sleep(interval)  # polling another process's repository, not synchronisation
    raise TimeoutError(f"the remote did not reach {expected} files in {timeout:g} s")


# ---------------------------------------------------------------- the headless process
@dataclass
class Autosync:
    """`python -m autosync_gui run --headless --config FILE` with its stderr read line by
    line on a thread; `wait_for` blocks on those lines (no sleeping)."""

    sandbox: Sandbox
    config: Path
    extra_args: tuple[str, ...] = ()  # e.g. ("-v",) for debug logging
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    lines: list[tuple[float, str]] = field(default_factory=list)
    _queue: queue.Queue[tuple[float, str] | None] = field(default_factory=queue.Queue)

    def start(self) -> Autosync:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autosync_gui", "run", "--headless", "--config",
             str(self.config), *self.extra_args], cwd=REPO, env=self.sandbox.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            self._queue.put((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float) -> tuple[float, str]:
        """The first new log line matching `pattern` (regex) and when it was read."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no log line matching {pattern!r} in {timeout:g} s; "
                                   f"log so far:\n{self.log_tail()}") from None
            if item is None:
                self._queue.put(None)
                raise RuntimeError(f"autosync exited ({self.proc and self.proc.wait()}) "
                                   f"before {pattern!r}; log:\n{self.log_tail()}")
            self.lines.append(item)
            if regex.search(item[1]):
                return item

    def drain(self) -> None:
        """Move every line read so far into `lines` (for counting activities)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self._queue.put(None)
                return
            self.lines.append(item)

    def wait_ready(self, timeout: float) -> float:
        """Seconds from spawning the process to its `ready` line (all watches set and the
        start-up catch-up done, logged by FolderSync once its first step finished)."""
        at, _ = self.wait_for(r": ready\b", timeout)
        return at - self.started

    def log_tail(self, n: int = 30) -> str:
        self.drain()
        return "\n".join(line for _, line in self.lines[-n:])

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


# ---------------------------------------------------------------- /proc readings
def cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime+stime of the process, cutime+cstime of its reaped children) in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK


def thread_cpu_seconds(pid: int) -> float:
    """On-CPU time of the process's live threads in ns precision (/proc/PID/task/*/schedstat);
    finer than the 10 ms ticks of /proc/PID/stat, but blind to threads that exited."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    status = proc_status(pid)
    return (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024)


def inotify_watches(pid: int) -> int:
    """inotify watches the process holds (from /proc/PID/fdinfo)."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd) == "anon_inode:inotify":
                total += Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().count("inotify wd:")
    return total


def machine() -> str:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    git = subprocess.run(["git", "--version"], capture_output=True, text=True,
                         check=False).stdout.strip()
    load = "?"
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    hg = subprocess.run(["hg", "version", "-q"], capture_output=True, text=True,
                        check=False).stdout.strip().removeprefix("Mercurial Distributed SCM ")
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem} RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}, {git}, hg {hg or 'absent'}; "
            f"load average {load}")


def filesystem(path: Path) -> str:
    """The file system `path` is on, as a benchmark reports it: type, device, mount
    options that change file-creation costs, and for ext4 whether it has a journal
    (without one, ext4 skips inodes freed in the last minute when it allocates new
    ones, and each file created then scans past them: a pull right after 20,000
    deletions creates its files several times slower)."""
    best: tuple[str, str, str, str, str] | None = None
    resolved = str(path.resolve())
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if " - " not in line or len(fields) < 10:
                continue
            device, mount_point, options = fields[2], fields[4], fields[5]
            fs_type, source, super_options = line.split(" - ", 1)[1].split()[:3]
            inside = resolved == mount_point or \
                resolved.startswith(mount_point.rstrip("/") + "/")
            if inside and (best is None or len(mount_point) >= len(best[0])):
                best = (mount_point, fs_type, source, f"{options},{super_options}", device)
    if best is None:
        return "unknown file system"
    mount_point, fs_type, source, options, device = best
    described = f"{fs_type} on {source} at {mount_point}"
    if fs_type == "ext4":
        # (jbd2 names the journal by the kernel's name of the device, "dm-0-8" for
        # /dev/mapper/...: found from the mount's major:minor, not from `source`)
        kernel_name = Path(f"/sys/dev/block/{device}").resolve().name
        journal = Path("/proc/fs/jbd2").glob(f"{kernel_name}-*")
        described += ", journal" if next(journal, None) is not None else ", no journal"
    flags = [o for o in ("discard", "nobarrier", "data=writeback") if o in options.split(",")]
    return described + (f" ({', '.join(flags)})" if flags else "")


def io_stall_us() -> int | None:
    """Microseconds tasks have stalled on I/O since boot (/proc/pressure/io, "some"), or
    None where the kernel does not report pressure."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        line = Path("/proc/pressure/io").read_text().splitlines()[0]
        return int(line.rsplit("total=", 1)[1])
    return None


def settle_disk(timeout: float = 60.0, window: float = 0.5, quiet: float = 0.05) -> float:
    """Write back what is dirty (`sync`), then wait until tasks stall on I/O less than
    `quiet` of a `window` (or `timeout`): a timed step then starts from the same disk
    state whatever ran before it (on a VM disk, writing back the previous step's files
    can otherwise cost the next one several times its own time). Seconds waited."""
    start = time.monotonic()
    subprocess.run(["sync"], check=False)
    before = io_stall_us()
    while before is not None and time.monotonic() - start < timeout:
        time.sleep(window)
        now = io_stall_us()
        if now is None or now - before < quiet * window * 1e6:
            break
        before = now
    return time.monotonic() - start


def plain_add_commit_push(sandbox: Sandbox, backend: str, clone: Path, message: str
                          ) -> dict[str, float]:
    """What a person runs by hand: add everything, commit, push; seconds per step."""
    steps = ((("add", ("addremove", "-q")), ("commit", ("commit", "-q", "-m", message)),
              ("push", ("push", "-q"))) if backend == "hg" else
             (("add", ("add", "-A")), ("commit", ("commit", "-q", "-m", message)),
              ("push", ("push", "-q"))))
    times = {}
    for name, cmd in steps:
        start = time.monotonic()
        sandbox.run(backend, clone, *cmd)
        times[name] = time.monotonic() - start
    return times


def add_backend_argument(parser: object) -> None:
    parser.add_argument("--backend", choices=("git", "hg"), default="git",  # type: ignore[attr-defined]
                        help="the version control system of the synced folder (default git)")


# ---------------------------------------------------------------- trees
def write_files(root: Path, files: int, dirs: int, prefix: str = "f", salt: str = "") -> None:
    """`files` small files spread evenly over `dirs` new sub-folders (0: all in `root`);
    the same `salt` gives the same contents (so objects a remote already has)."""
    for i in range(files):
        folder = root / f"d{i % dirs:05d}" if dirs else root
        if dirs and i < dirs:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{prefix}{i:06d}.txt").write_text(f"file {i}{salt}\n")


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    sys.stdout.flush()
