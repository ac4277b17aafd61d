"""The set-up steps for Mercurial folders (engine/setup.py calls these when the folder or
the remote is Mercurial): check a remote, clone it, use an existing hg work tree, create a
new repository with a new remote (`hg init` on a path or over ssh), or give an existing
repository without a remote a new one.

Blocking, for a worker thread. hg runs as the sync loop runs it (runner.hg_environment:
our configuration file only, the user's `ui.ssh`, `[auth]` and TLS settings copied into
it, ssh in batch mode): never a prompt, never a hook. A clone is made without a working
copy and its files are written by the careful update (every path checked, as for a
pull). Failures are SetupError or RemoteError, one line each, the words engine/setup.py
uses; what a failed step made is removed (its Undo), nothing that was there before."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autosync_gui.engine.hg import config as hgconfig
from autosync_gui.engine.hg.repository import HgRepository, remote_error
from autosync_gui.engine.hg.runner import first_line, hg_environment
from autosync_gui.engine.progress_run import (
    STALL_TIMEOUT,
    Cancelled,
    Stalled,
    run_with_progress,
)
from autosync_gui.engine.remote import (
    RemoteError,
    RemoteProblem,
    Transport,
    local_path,
    parse_remote,
)
from autosync_gui.engine.repository import RepositoryError
from autosync_gui.engine.setup import (
    NoRemoteError,
    ProgressCallback,
    SetupCancelled,
    SetupError,
    Undo,
    check_folder_empty,
    empty_folder,
)

NETWORK_TIMEOUT = 60.0
FIRST_COMMIT = "autosync: first commit"
# hg's progress bar on stderr even without a terminal: a long clone or push shows
# movement (and is not taken for a stall).
_PROGRESS = ["--config", "progress.assume-tty=true", "--config", "progress.delay=0",
             "--config", "progress.refresh=1", "--config", "progress.width=70",
             "--config", "progress.format=topic number"]


def installed() -> bool:
    return shutil.which("hg") is not None


@contextmanager
def _environment(url: str) -> Iterator[dict[str, str]]:
    """hg's environment for talking to `url` before there is a repository: the user's
    settings autosync copies (ssh command, [auth], TLS), nothing that runs code."""
    with tempfile.TemporaryDirectory(prefix="autosync-hg-") as tmp:
        hgrc = Path(tmp) / "hgrc"
        user = os.environ.get("USER") or getpass.getuser()
        host = socket.gethostname().split(".")[0] or "localhost"
        try:
            hgconfig.write_private(hgrc, hgconfig.render(
                hgconfig.load(Path(tmp) / "no-repository"), default_path=url,
                username=f"autosync <{user}@{host}>", ignore_file=Path(tmp) / "ignore"))
        except OSError as exc:
            raise SetupError(f"cannot prepare hg's settings ({exc.strerror})") from None
        yield hg_environment(hgrc)


def _hg(args: list[str], env: dict[str, str], cwd: Path | None = None,
        timeout: float = NETWORK_TIMEOUT) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["hg", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(["hg", *args], -9, "", f"abort: hg {args[0]} "
                                           f"timed out after {timeout:g} s")


def _long(args: list[str], url: str, env: dict[str, str], *, cwd: Path | None,
          progress: ProgressCallback | None, cancel: threading.Event | None,
          stall_timeout: float) -> None:
    """A clone or push that may take long: hg's progress lines, Cancel, stall limit."""
    try:
        result = run_with_progress(["hg", *_PROGRESS, *args], env=env, cwd=cwd,
                                   on_progress=progress, cancel=cancel,
                                   stall_timeout=stall_timeout)
    except Cancelled:
        raise SetupCancelled("cancelled; nothing was kept") from None
    except Stalled as exc:
        raise RemoteError(RemoteProblem.UNREACHABLE, url, str(exc)) from None
    if result.status not in (0, 1):  # push: 1 is "nothing to push"
        raise remote_error(result.stderr.replace("\r", "\n") or f"hg exited {result.status}",
                           url)


# ---------------------------------------------------------------------------- checks

def is_hg_remote(url: str) -> bool:
    """Whether `url` is a Mercurial repository (a local folder with .hg; else hg
    answers for it). Never raises."""
    url = url.strip()
    if not url or not installed():
        return False
    address = parse_remote(url)
    if address.transport is Transport.LOCAL:
        return (local_path(address) / ".hg").is_dir()
    try:
        with _environment(url) as env:
            return _hg(["identify", "-i", "--", url], env).returncode == 0
    except Exception:
        return False


def check_remote(url: str) -> str:
    """The remote answers as an hg repository and lets us in; returns its tip's id
    (000000000000 when empty)."""

    url = url.strip()
    if not installed():
        raise SetupError("hg is not installed; install Mercurial (apt install mercurial)")
    address = parse_remote(url)
    if address.transport is Transport.LOCAL and not local_path(address).exists():
        raise SetupError(f"remote {url}: no such path; check the path or choose "
                         "'create a new repository'")
    with _environment(url) as env:
        done = _hg(["identify", "-i", "--", url], env)
    if done.returncode != 0:
        raise remote_error(done.stderr, url)
    return done.stdout.strip()


def clone(url: str, folder: Path, *, progress: ProgressCallback | None = None,
          cancel: threading.Event | None = None, stall_timeout: float = STALL_TIMEOUT,
          undo: Undo | None = None) -> None:
    """Clone the hg repository at `url` into `folder` (new or empty), then write its
    files the careful way (every path checked, nothing through a link)."""

    url = url.strip()
    folder = folder.expanduser()
    check_folder_empty(folder)
    check_remote(url)
    with Undo.on_failure(undo) as mine:
        mine.created_folder(folder)
        with _environment(url) as env:
            _long(["clone", "-U", "--", url, str(folder)], url, env, cwd=None,
                  progress=progress, cancel=cancel, stall_timeout=stall_timeout)
        _write_files(folder)


def _write_files(folder: Path) -> None:
    """Bring a fresh clone's work tree to its branch's head through the careful update
    (a refused path is one line; nothing of it is written)."""

    try:
        repo = HgRepository.open(folder, socket.gethostname())
    except RepositoryError as exc:
        raise SetupError(str(exc)) from None
    try:
        repo.integrate()
    except RepositoryError as exc:
        raise SetupError(f"folder {folder}: the remote's files were refused: {exc}") from None
    finally:
        repo.release()


def _default_path(folder: Path) -> str | None:
    value = hgconfig.load(folder / ".hg").get("paths", {}).get("default", "").strip()
    return value or None


def check_existing(folder: Path) -> str:
    """`folder` is the top of an hg work tree with a reachable `default` path; returns
    it. Without one: NoRemoteError (offer add_remote)."""

    folder = folder.expanduser()
    if not (folder / ".hg").is_dir():
        raise SetupError(f"folder {folder}: not a Mercurial work tree; choose 'clone' or "
                         "'create a new repository' instead")
    url = _default_path(folder)
    if url is None:
        raise NoRemoteError(f"folder {folder}: a Mercurial repository without a remote; "
                            "create a new remote for it (a path or ssh://host/path) and push")
    if "://" not in url and not Path(url).is_absolute():
        url = str((folder / Path(url).expanduser()).resolve())
    check_remote(url)
    try:
        HgRepository.validate(folder)
    except RepositoryError as exc:
        raise SetupError(str(exc)) from None
    return url


# ---------------------------------------------------------------------------- new remotes

def check_new_remote(remote: str) -> None:
    """A new hg remote can be made at `remote` (nothing written): a new or empty local
    folder, or an ssh address where none is or an empty repository is."""

    address = parse_remote(remote)
    if address.transport is Transport.LOCAL:
        path = local_path(address)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise SetupError(f"remote {remote}: already exists and is not empty; choose a new "
                             "path, or 'clone' to use it")
        parent = next((p for p in [path, *path.parents] if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK):
            raise SetupError(f"remote {remote}: {parent} is not writable; choose a path you "
                             "can write to")
        return
    if address.transport is not Transport.SSH or "://" not in remote:
        raise SetupError(f"remote {remote}: Mercurial creates remotes at a path or at "
                         "ssh://host/path (ssh://host//absolute/path); create it on the "
                         "server and clone it")
    try:
        tip = check_remote(remote)
    except RemoteError as exc:
        if exc.problem is RemoteProblem.MISSING:
            return  # reachable and we are let in: `hg init` makes it over ssh
        raise
    if tip.strip("0+"):
        raise SetupError(f"remote {remote}: already has changesets; choose 'clone' to use it")


def _create_remote(remote: str, undo: Undo) -> None:

    address = parse_remote(remote)
    with _environment(remote) as env:
        if address.transport is Transport.LOCAL:
            path = local_path(address)
            first_new = next((p for p in [*reversed(path.parents), path] if not p.exists()),
                             None)
            was_empty_dir = path.is_dir()
            done = _hg(["init", "--", str(path)], env)
            if done.returncode != 0:
                raise SetupError(f"remote {remote}: cannot create it "
                                 f"({first_line(done.stderr)}); choose a writable path")
            if first_new is not None:
                undo.add(f"remove {first_new}",
                         lambda: shutil.rmtree(first_new, ignore_errors=True))
            elif was_empty_dir:
                undo.add(f"empty {path}", lambda: empty_folder(path))
            return
        try:
            check_remote(remote)
            return  # an empty repository is there already (check_new_remote said so)
        except RemoteError as exc:
            if exc.problem is not RemoteProblem.MISSING:
                raise
        done = _hg(["init", "--", remote], env)
        if done.returncode != 0:
            raise remote_error(done.stderr, remote)
        # Over ssh nothing is deleted on the server: an empty repository left by a failed
        # first push is accepted by the next attempt.


def _set_default_path(folder: Path, remote: str, undo: Undo) -> None:

    hgrc = folder / ".hg" / "hgrc"
    try:
        before: str | None = hgrc.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        before = None
    text = (before or "").rstrip("\n")
    text += ("\n\n" if text else "") + f"[paths]\ndefault = {remote}\n"
    hgrc.write_text(text, encoding="utf-8", errors="surrogateescape")

    def put_back() -> None:
        if before is None:
            hgrc.unlink(missing_ok=True)
        else:
            hgrc.write_text(before, encoding="utf-8", errors="surrogateescape")

    undo.add(f"restore {hgrc}", put_back)


def _commit_and_push(folder: Path, remote: str, *, progress: ProgressCallback | None,
                     cancel: threading.Event | None, stall_timeout: float) -> None:
    """Commit what is in the folder (the sync loop's own rules: ignore files, built-in
    temporaries) and push it to the new remote."""

    try:
        repo = HgRepository.open(folder, socket.gethostname())
    except RepositoryError as exc:
        raise SetupError(str(exc)) from None
    try:
        repo.commit_pending()
        has_head = repo.head() is not None
        env = repo.runner.environment()
    except RepositoryError as exc:
        raise SetupError(f"folder {folder}: cannot create the first commit ({exc})") from None
    finally:
        repo.release()
    if has_head:
        _long(["push", "-r", ".", "--new-branch", "--", remote], remote, env, cwd=folder,
              progress=progress, cancel=cancel, stall_timeout=stall_timeout)


def check_create(folder: Path, remote: str) -> None:
    if not installed():
        raise SetupError("hg is not installed; install Mercurial (apt install mercurial)")
    check_new_remote(remote)


def create_new(folder: Path, remote: str, *, progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None, stall_timeout: float = STALL_TIMEOUT,
               undo: Undo | None = None) -> None:
    """Make `folder` a new hg repository (what is in it becomes the first commit), create
    a new hg repository at `remote` and push there. On failure, what this made (the
    folder if new, its .hg, a new local remote) is removed; the files stay."""
    check_create(folder, remote)
    with Undo.on_failure(undo) as mine:
        _create_remote(remote, mine)
        if not folder.exists():
            mine.created_folder(folder)
        else:
            hg_dir = folder / ".hg"
            mine.add(f"remove {hg_dir}", lambda: shutil.rmtree(hg_dir, ignore_errors=True))
        folder.mkdir(parents=True, exist_ok=True)
        with _environment(remote) as env:
            done = _hg(["init", "--", str(folder)], env)
        if done.returncode != 0:
            raise SetupError(f"folder {folder}: cannot create the repository "
                             f"({first_line(done.stderr)})")
        _set_default_path(folder, remote, mine)
        _commit_and_push(folder, remote, progress=progress, cancel=cancel,
                         stall_timeout=stall_timeout)


def check_add_remote(folder: Path, remote: str) -> None:

    folder = folder.expanduser()
    if not (folder / ".hg").is_dir():
        raise SetupError(f"folder {folder}: not a Mercurial work tree; choose 'clone' or "
                         "'create a new repository' instead")
    if _default_path(folder) is not None:
        raise SetupError(f"folder {folder}: already has a remote; choose 'use the folder as "
                         "it is'")
    check_new_remote(remote)


def add_remote(folder: Path, remote: str, *, progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None, stall_timeout: float = STALL_TIMEOUT,
               undo: Undo | None = None) -> None:
    """Give an hg repository without a remote a new one at `remote`: commit what is
    pending, push its history there."""

    folder = folder.expanduser()
    check_add_remote(folder, remote)
    with Undo.on_failure(undo) as mine:
        _create_remote(remote, mine)
        _set_default_path(folder, remote, mine)
        _commit_and_push(folder, remote, progress=progress, cancel=cancel,
                         stall_timeout=stall_timeout)
