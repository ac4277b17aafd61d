"""Blocking set-up steps shared by the wizard and the command line (`autosync add`): check
a folder and a remote, clone (with progress, Cancel and a stall limit instead of a time
limit), use an existing work tree, create a new repository with a new bare remote, or give
an existing repository without a remote a new one.

Qt-free and run in a worker thread. Git never prompts (no terminal, ssh in batch mode).
Every failure is a SetupError or a RemoteError whose str() is one line naming the thing
and the fix, the same words in the wizard and on the command line. A step that fails or
is cancelled undoes exactly what it created (`Undo`), never anything that was there
before, so the same set-up can simply be started again."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import git

from autosync_gui import credentials
from autosync_gui.config import DEFAULT_LARGE_FILE_SIZE
from autosync_gui.engine.attributes import ensure_neutral_attributes
from autosync_gui.engine.backends import GIT, HG
from autosync_gui.engine.git_env import (
    SSH_OPTIONS,
    first_line,
    noninteractive_env,
    remote_error,
)
from autosync_gui.engine.git_runner import NO_SUBMODULE_CONFIG, child_environment, fetch_checks
from autosync_gui.engine.partial_clone import (
    bare_remote_config_commands,
    clone_options,
    configure_bare_remote,
)
from autosync_gui.engine.progress_run import (
    STALL_TIMEOUT,
    Cancelled,
    Progress,
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
from autosync_gui.text import one_line

log = logging.getLogger(__name__)

NETWORK_TIMEOUT = 60.0  # short commands (ls-remote, a remote `git init`): they send little
DEFAULT_BRANCH = "main"

ProgressCallback = Callable[[Progress], None]


class SetupError(Exception):
    """A set-up step failed; str() is the one line shown inline in the wizard."""


class NoRemoteError(SetupError):
    """A git work tree without a remote: it can be given a new one (add_remote)."""


class SetupCancelled(SetupError):
    """The user cancelled; what the step had created is removed."""


class Undo:
    """What set-up created, to be removed if it fails or is cancelled, newest first."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def __bool__(self) -> bool:
        return bool(self._steps)

    def add(self, what: str, action: Callable[[], object]) -> None:
        self._steps.append((what, action))

    def created_folder(self, folder: Path) -> None:
        """Note `folder` before a step may create it: removed whole only if it was not
        there; if it was there and empty, only what appears inside it is removed."""
        if not folder.exists():
            self.add(f"remove {folder}", lambda: shutil.rmtree(folder, ignore_errors=True))
        elif folder.is_dir() and not any(folder.iterdir()):
            self.add(f"empty {folder}", lambda: empty_folder(folder))

    def take(self, other: Undo) -> None:
        """Add what `other` noted (a finished step inside a larger set-up)."""
        self._steps.extend(other._steps)
        other.forget()

    @staticmethod
    @contextlib.contextmanager
    def on_failure(outer: Undo | None) -> Iterator[Undo]:
        """The steps of one set-up: undone if it fails or is cancelled, else handed on to
        `outer` (the larger set-up it is part of), if any."""
        mine = Undo()
        try:
            yield mine
        except BaseException:
            mine.run()
            raise
        if outer is not None:
            outer.take(mine)

    def run(self) -> list[str]:
        """Undo everything noted (best effort); returns what was done."""
        done: list[str] = []
        while self._steps:
            what, action = self._steps.pop()
            try:
                action()
                done.append(what)
            except Exception as exc:
                log.warning("could not %s: %s", what, exc)
        return done

    def forget(self) -> None:
        """The set-up succeeded: keep everything."""
        self._steps.clear()


def empty_folder(folder: Path) -> None:
    """Remove what is inside `folder`, keeping the folder."""
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- running git

def _git_config(url: str) -> list[str]:
    """`-c` options for talking to `url`: our credential helper when the keyring holds a
    user name and token for this https remote."""
    if parse_remote(url).transport is not Transport.HTTPS:
        return []
    try:
        stored = credentials.load(url)
    except credentials.CredentialError:
        stored = None  # the helper will say why; the user's own set-up may still work
    return credentials.config_args(url) if stored is not None else []


def _run(args: list[str], cwd: Path | None = None, timeout: float = NETWORK_TIMEOUT,
         config: Iterable[str] = (), allow_fail: bool = False) -> str:
    """Run `git args...`; raises git.GitCommandError (stderr kept) on failure, or with
    `allow_fail` returns "" instead."""
    runner = git.Git(str(cwd) if cwd is not None else None)
    try:
        out = runner.execute(["git", *config, *args], env=noninteractive_env(),
                             kill_after_timeout=timeout, stdout_as_string=True)
    except git.GitCommandError:
        if allow_fail:
            return ""
        raise
    return str(out)


def _stderr(exc: git.GitCommandError) -> str:
    text = exc.stderr if isinstance(exc.stderr, str) else str(exc.stderr or "")
    return text.strip().removeprefix("stderr:").strip().strip("'").strip()


def _run_long(args: list[str], url: str, *, cwd: Path | None, progress: ProgressCallback | None,
              cancel: threading.Event | None, stall_timeout: float) -> None:
    """A clone or push that may take long: progress, Cancel, stall limit."""
    env = {**os.environ, **noninteractive_env()}
    try:
        result = run_with_progress(["git", *args], env=env, cwd=cwd, on_progress=progress,
                                   cancel=cancel, stall_timeout=stall_timeout)
    except Cancelled:
        raise SetupCancelled("cancelled; nothing was kept") from None
    except Stalled as exc:
        raise RemoteError(RemoteProblem.UNREACHABLE, url, str(exc)) from None
    if result.status != 0:
        refused = _FSCK_REFUSAL.search(result.stderr)
        if refused:  # a clone over a real transport checks every object as it arrives
            raise SetupError(f"remote {url}: the remote's files were refused: "
                             f"{one_line(refused[3])} ({refused[2]}); nothing was kept")
        raise remote_error(url, result.stderr or f"git exited {result.status}")


_FSCK_REFUSAL = re.compile(r"error: object ([0-9a-f]{40,64}): (\w+): (.*)")


# ---------------------------------------------------------------------------- checks

def check_remote(url: str) -> list[str]:
    """Check the remote answers and lets us in; returns its branch names (none for a
    Mercurial remote: its clone takes the branch `default`)."""
    if _local_hg(url):
        from autosync_gui.engine.hg import setup as hg_setup
        hg_setup.check_remote(url)
        return []
    try:
        return _check_remote(url)[0]
    except RemoteError as exc:
        if not _hg_instead(url, exc):
            raise
        return []


def _local_hg(url: str) -> bool:
    """A local path to a Mercurial repository."""
    return _is_local(url.strip()) and (_local_path(url.strip()) / ".hg").is_dir()


def _hg_instead(url: str, refused: RemoteError) -> bool:
    """Whether a remote git could not use is a Mercurial repository (hg answers for it).
    Not asked when git could not reach the host at all: hg would not either."""
    if refused.problem not in (RemoteProblem.MISSING, RemoteProblem.OTHER) or \
            parse_remote(url.strip()).transport not in (Transport.SSH, Transport.HTTPS):
        return False
    from autosync_gui.engine.hg import setup as hg_setup
    return hg_setup.is_hg_remote(url)


def _check_remote(url: str) -> tuple[list[str], list[str]]:
    """Branch names, and the `-c` options git needed to get in: our credential helper,
    tried only when an https server asked for credentials (so a check never wakes the
    keyring, and its unlock prompt, for a remote that needs none)."""
    url = url.strip()
    if not url:
        raise SetupError("remote URL: empty; enter a URL such as user@host:repo.git or a path")
    if _is_local(url) and not _local_path(url).exists():
        raise SetupError(f"remote {url}: no such path; check the path or choose "
                         "'create a new repository'")
    config: list[str] = []
    try:
        out = _run(["ls-remote", "--heads", "--", url])
    except git.GitCommandError as exc:
        error = remote_error(url, _stderr(exc))
        config = _git_config(url) if error.problem is RemoteProblem.AUTH else []
        if not config:
            raise error from None
        try:
            out = _run(["ls-remote", "--heads", "--", url], config=config)
        except git.GitCommandError as exc2:
            raise remote_error(url, _stderr(exc2)) from None
    branches = []
    for line in out.splitlines():
        _, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            branches.append(ref.removeprefix("refs/heads/"))
    return branches, config


def check_folder_choice(folder: Path, synced: Iterable[Path]) -> Path:
    """A folder to sync: absolute, not a file, not already synced or overlapping a synced
    one. Returns it normalised."""
    text = str(folder).strip()
    if not text or text == ".":
        raise SetupError("folder: empty; choose a folder")
    folder = Path(os.path.normpath(Path(text).expanduser()))
    if not folder.is_absolute():
        raise SetupError(f"folder {text}: not an absolute path; choose it with Browse…")
    if folder.exists() and not folder.is_dir():
        raise SetupError(f"folder {folder}: is a file; choose a folder")
    for existing in synced:
        if folder == existing:
            raise SetupError(f"folder {folder}: already synced")
        if folder.is_relative_to(existing) or existing.is_relative_to(folder):
            raise SetupError(f"folder {folder}: overlaps the synced folder {existing}; "
                             "choose a separate folder")
    return folder


def check_folder_empty(folder: Path) -> None:
    """A clone target must not exist or be an empty directory."""
    if folder.exists():
        if not folder.is_dir():
            raise SetupError(f"folder {folder}: is a file; choose a folder")
        if any(folder.iterdir()):
            raise SetupError(f"folder {folder}: not empty; choose an empty or new folder, or "
                             "'use an existing git work tree'")


def clone_remote(url: str, folder: Path, *, progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None,
                 stall_timeout: float = STALL_TIMEOUT, undo: Undo | None = None,
                 large_file_size: int = DEFAULT_LARGE_FILE_SIZE) -> None:
    """Clone `url` into `folder` (new or empty): a partial clone without blobs of
    `large_file_size` or more when the server allows it (partial_clone.py). On failure
    or Cancel, what the clone created is removed (and the folder itself if it did not
    exist)."""
    url = url.strip()
    folder = folder.expanduser()
    check_folder_empty(folder)
    config: list[str] | None = None  # None: a Mercurial remote
    try:
        if not _local_hg(url):
            config = _check_remote(url)[1]
    except RemoteError as exc:
        if not _hg_instead(url, exc):
            raise
    if config is None:
        from autosync_gui.engine.hg import setup as hg_setup
        hg_setup.clone(url, folder, progress=progress, cancel=cancel,
                       stall_timeout=stall_timeout, undo=undo)
        return
    with Undo.on_failure(undo) as mine:
        mine.created_folder(folder)
        clone_config = ["--config" if arg == "-c" else arg for arg in config]
        # Pulled content is hostile until checked: every object is fsck'ed, no hook runs,
        # and the files are written only after info/attributes is neutral (no filter or
        # eol conversion named by the remote's .gitattributes), like every later pull.
        partial = clone_options(large_file_size)
        # git ignores --filter for a plain local path (it copies the objects): say file://
        source = f"file://{_local_path(url).resolve()}" if partial and _is_local(url) \
            and not url.startswith("file://") else url
        _run_long([*HOSTILE_CONTENT_OPTIONS, *fetch_checks(), "clone", "--progress",
                   "--no-checkout", *partial, *clone_config, "--", source, str(folder)], url,
                  cwd=None, progress=progress, cancel=cancel, stall_timeout=stall_timeout)
        if source != url:
            _run(["remote", "set-url", "origin", "--", url], cwd=folder)  # as typed
        _check_out_safely(folder)
        if config:
            register_credentials(folder, url)  # clone --config drops the empty reset entry
        _ensure_identity(folder)


HOSTILE_CONTENT_OPTIONS = ["-c", f"core.hooksPath={os.devnull}", "-c", "core.protectHFS=true",
                           "-c", "core.protectNTFS=true", "-c", "submodule.recurse=false"]


def _check_out_safely(folder: Path) -> None:
    """Write a fresh clone's files (an empty remote has none yet)."""
    git_dir = folder / ".git"
    ensure_neutral_attributes(git_dir)
    env = child_environment(noninteractive_env())
    has_head = subprocess.run(["git", "rev-parse", "-q", "--verify", "HEAD^{commit}"],
                              cwd=folder, env=env, capture_output=True, check=False)
    if has_head.returncode != 0:
        return
    done = subprocess.run(["git", *HOSTILE_CONTENT_OPTIONS, "read-tree", "-u", "--reset",
                           "HEAD"], cwd=folder, env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SetupError(f"folder {folder}: the remote's files were refused: "
                         f"{one_line(done.stderr)}")


def _upstream(folder: Path) -> tuple[str, str] | None:
    """(remote name, remote URL) of the current branch, else of `origin`."""
    repo = git.Repo(folder)
    try:
        branch = repo.active_branch
    except TypeError:
        raise SetupError(f"folder {folder}: HEAD is detached; check out a branch "
                         "(git switch main)") from None
    tracking = branch.tracking_branch()
    name = tracking.remote_name if tracking is not None else None
    if name is None:
        name = "origin" if "origin" in [r.name for r in repo.remotes] else None
    if name is None:
        return None
    urls = list(repo.remote(name).urls)
    return (name, urls[0]) if urls else None


def _work_tree(folder: Path) -> git.Repo:
    if not folder.is_dir():
        raise SetupError(f"folder {folder}: does not exist; choose an existing git work tree")
    try:
        repo = git.Repo(folder)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise SetupError(f"folder {folder}: not a git work tree; choose 'clone' or 'create a "
                         "new repository' instead") from None
    if repo.bare:
        raise SetupError(f"folder {folder}: is a bare repository; choose a work tree")
    top = Path(repo.working_tree_dir or folder).resolve()
    if top != folder.resolve():
        raise SetupError(f"folder {folder}: is inside the work tree {top}; choose {top}")
    return repo


def check_existing(folder: Path) -> str:
    """Check `folder` is the top of a git work tree with a reachable remote; returns the
    URL. A work tree without a remote raises NoRemoteError (offer add_remote)."""
    folder = folder.expanduser()
    if (folder / ".hg").is_dir():
        from autosync_gui.engine.hg import setup as hg_setup
        return hg_setup.check_existing(folder)
    _work_tree(folder)
    upstream = _upstream(folder)
    if upstream is None:
        raise NoRemoteError(f"folder {folder}: a git repository without a remote; create a "
                            "new remote for it (a path or user@host:path) and push")
    _branches, config = _check_remote(upstream[1])
    if config:
        register_credentials(folder, upstream[1])
    _ensure_identity(folder)
    return upstream[1]


def register_credentials(folder: Path, url: str) -> None:
    """Make the repository at `folder` use our credential helper for `url` (an https
    remote whose user name and token the keyring holds)."""
    for key in dict(credentials.helper_config(url)):
        with contextlib.suppress(git.GitCommandError):
            _run(["config", "--local", "--unset-all", key], cwd=folder)
    for key, value in credentials.helper_config(url):
        _run(["config", "--local", "--add", key, value], cwd=folder)


def _is_local(url: str) -> bool:
    return parse_remote(url).transport is Transport.LOCAL


def _local_path(url: str) -> Path:
    return local_path(parse_remote(url))


def _create_bare(url: str, undo: Undo) -> None:
    """Create an empty bare repository at a local path or over ssh."""
    if _is_local(url):
        path = _local_path(url)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise SetupError(f"remote {url}: already exists and is not empty; choose a new "
                             "path, or 'clone' to use it")
        first_new = next((p for p in [*reversed(path.parents), path] if not p.exists()), None)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _run(["init", "--bare", "--quiet", "-b", DEFAULT_BRANCH, str(path)])
            configure_bare_remote(path)
        except (OSError, git.GitCommandError, subprocess.CalledProcessError) as exc:
            why = _stderr(exc) if isinstance(exc, git.GitCommandError) else str(exc)
            raise SetupError(f"remote {url}: cannot create it ({first_line(why)}); "
                             "choose a writable path") from None
        if first_new is not None:
            undo.add(f"remove {first_new}", lambda: shutil.rmtree(first_new, ignore_errors=True))
        else:
            undo.add(f"empty {path}", lambda: empty_folder(path))
        return
    address = parse_remote(url)
    host, port, path_text = address.host, address.port, address.path
    if address.user:
        host = f"{address.user}@{host}"
    if address.transport is not Transport.SSH or host is None or not path_text:
        raise SetupError(f"remote {url}: cannot create a repository over this protocol; "
                         "create an empty repository on the server and use its URL")
    # An existing empty repository (e.g. made on a forge) is fine.
    try:
        branches = check_remote(url)
    except RemoteError as exc:
        if exc.problem is not RemoteProblem.MISSING:
            raise
    else:
        if branches:
            raise SetupError(f"remote {url}: already has branches; choose 'clone' to use it")
        return
    base = os.environ.get("GIT_SSH_COMMAND") or "ssh"
    cmd = [*shlex.split(base), *shlex.split(SSH_OPTIONS)]
    if port:
        cmd += ["-p", str(port)]
    quoted = shlex.quote(path_text)
    remote_cmd = (f"test ! -e {quoted} || test -z \"$(ls -A {quoted})\" || "
                  f"{{ echo 'already exists and is not empty' >&2; exit 1; }}; "
                  f"git init --bare --quiet {quoted}")
    for command in bare_remote_config_commands(path_text):
        remote_cmd += " && " + shlex.join(command)
    cmd += [host, remote_cmd]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=NETWORK_TIMEOUT,
                              env={**os.environ, **noninteractive_env()}, check=False)
    except subprocess.TimeoutExpired:
        raise RemoteError(RemoteProblem.UNREACHABLE, url, "timed out") from None
    if proc.returncode != 0:
        raise remote_error(url, proc.stderr or f"ssh exited {proc.returncode}")
    # Over ssh we never delete on the server: a failed first push leaves an empty
    # repository there, which the next attempt accepts (see above).


def _ensure_identity(folder: Path) -> None:
    """Commits need a name and e-mail; set a per-repository one only if git has none."""
    repo = git.Repo(folder)
    with repo.config_reader() as cfg:
        has_email = cfg.has_option("user", "email")
        has_name = cfg.has_option("user", "name")
    if has_email and has_name:
        return
    host = socket.gethostname().split(".")[0] or "localhost"
    user = os.environ.get("USER") or "autosync"
    with repo.config_writer() as cfg:
        if not has_name:
            cfg.set_value("user", "name", f"{user} (autosync)")
        if not has_email:
            cfg.set_value("user", "email", f"{user}@{host}")


def _check_remote_text(folder: Path, remote: str) -> str:
    remote = remote.strip()
    if not remote:
        raise SetupError("remote: empty; enter a path such as ~/autosync.git or "
                         "user@host:autosync.git")
    if _is_local(remote) and _local_path(remote).resolve().is_relative_to(folder.resolve()):
        raise SetupError(f"remote {remote}: inside the synced folder; choose a path "
                         "outside it")
    return remote


def _check_new_folder(folder: Path, remote: str) -> tuple[Path, str]:
    """The checks shared by check_create and create_new; returns the cleaned inputs."""
    folder = folder.expanduser()
    if folder.exists() and not folder.is_dir():
        raise SetupError(f"folder {folder}: is a file; choose a folder")
    if (folder / ".git").exists() or (folder / ".hg").is_dir():
        kind = "git" if (folder / ".git").exists() else "Mercurial"
        raise SetupError(f"folder {folder}: already a {kind} repository; choose 'use an "
                         f"existing work tree' (it offers a new remote when it has none)")
    return folder, _check_remote_text(folder, remote)


def _check_new_remote(remote: str) -> None:
    """A new bare remote can be made there (nothing written)."""
    if _is_local(remote):
        path = _local_path(remote)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise SetupError(f"remote {remote}: already exists and is not empty; choose a new "
                             "path, or 'clone' to use it")
        parent = next((p for p in [path, *path.parents] if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK):
            raise SetupError(f"remote {remote}: {parent} is not writable; choose a path you "
                             "can write to")
        return
    try:
        branches = check_remote(remote)
    except RemoteError as exc:
        if exc.problem is RemoteProblem.MISSING:
            return  # reachable and we are let in; it is made over ssh
        raise
    if branches:
        raise SetupError(f"remote {remote}: already has branches; choose 'clone' to use it")


def check_backend(backend: str) -> None:
    if backend not in (GIT, HG):
        raise SetupError(f"version control {backend!r}: unknown; choose git or hg")


def check_create(folder: Path, remote: str, backend: str = GIT) -> None:
    """Everything create_new needs, checked without writing anything."""
    check_backend(backend)
    folder, remote = _check_new_folder(folder, remote)
    if backend == HG:
        from autosync_gui.engine.hg import setup as hg_setup
        hg_setup.check_create(folder, remote)
        return
    _check_new_remote(remote)


def _first_push(folder: Path, remote: str, progress: ProgressCallback | None,
                cancel: threading.Event | None, stall_timeout: float) -> None:
    if parse_remote(remote).transport is Transport.HTTPS and _check_remote(remote)[1]:
        register_credentials(folder, remote)
    _run_long(["push", "--progress", "-u", "origin", f"HEAD:refs/heads/{DEFAULT_BRANCH}"],
              remote, cwd=folder, progress=progress, cancel=cancel,
              stall_timeout=stall_timeout)
    _run(["branch", "--set-upstream-to", f"origin/{DEFAULT_BRANCH}"], cwd=folder)


def create_new(folder: Path, remote: str, *, progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None, stall_timeout: float = STALL_TIMEOUT,
               undo: Undo | None = None, backend: str = GIT) -> None:
    """Make `folder` a new repository (committing what is in it), create an empty bare
    repository at `remote` and push the first commit there. On failure, what this made
    (the folder if new, its .git, a new local bare remote) is removed; the files stay.
    `backend` "hg": a Mercurial repository and remote (hg/setup.py)."""
    check_backend(backend)
    folder, remote = _check_new_folder(folder, remote)
    if backend == HG:
        from autosync_gui.engine.hg import setup as hg_setup
        hg_setup.create_new(folder, remote, progress=progress, cancel=cancel,
                            stall_timeout=stall_timeout, undo=undo)
        return
    with Undo.on_failure(undo) as mine:
        _create_bare(remote, mine)
        if not folder.exists():
            mine.created_folder(folder)
        else:
            git_dir = folder / ".git"
            mine.add(f"remove {git_dir}", lambda: shutil.rmtree(git_dir, ignore_errors=True))
        folder.mkdir(parents=True, exist_ok=True)
        try:
            _run(["init", "--quiet", "-b", DEFAULT_BRANCH], cwd=folder)
            _ensure_identity(folder)
            _run(["add", "--all"], cwd=folder)
            _run(["commit", "--quiet", "--allow-empty", "-m", "autosync: first commit"],
                 cwd=folder)
            _run(["remote", "add", "origin", "--", remote], cwd=folder)
        except git.GitCommandError as exc:
            raise SetupError(f"folder {folder}: cannot create the repository "
                             f"({first_line(_stderr(exc))})") from None
        _first_push(folder, remote, progress, cancel, stall_timeout)


def check_add_remote(folder: Path, remote: str) -> None:
    """Everything add_remote needs, checked without writing anything."""
    folder = folder.expanduser()
    if (folder / ".hg").is_dir():
        from autosync_gui.engine.hg import setup as hg_setup
        hg_setup.check_add_remote(folder, _check_remote_text(folder, remote))
        return
    repo = _work_tree(folder)
    if _upstream(folder) is not None:
        raise SetupError(f"folder {folder}: already has a remote; choose 'use the folder as "
                         "it is'")
    if repo.head.is_detached:
        raise SetupError(f"folder {folder}: HEAD is detached; check out a branch "
                         "(git switch main)")
    _check_new_remote(_check_remote_text(folder, remote))


def add_remote(folder: Path, remote: str, *, progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None, stall_timeout: float = STALL_TIMEOUT,
               undo: Undo | None = None) -> None:
    """Give an existing repository without a remote a new bare remote at `remote`, commit
    what is pending, and push its history there (its branch becomes `main` upstream)."""
    folder = folder.expanduser()
    if (folder / ".hg").is_dir():
        from autosync_gui.engine.hg import setup as hg_setup
        hg_setup.add_remote(folder, _check_remote_text(folder, remote), progress=progress,
                            cancel=cancel, stall_timeout=stall_timeout, undo=undo)
        return
    check_add_remote(folder, remote)
    remote = remote.strip()
    mine = Undo()
    try:
        _create_bare(remote, mine)
        _ensure_identity(folder)
        _run(["remote", "add", "origin", "--", remote], cwd=folder)
        mine.add("remove the remote 'origin'", partial(_run, ["remote", "remove", "origin"],
                                                        cwd=folder, allow_fail=True))
        _run(["add", "--all"], cwd=folder)
        staged = _run(["diff", "--cached", "--name-only", "-z", NO_SUBMODULE_CONFIG], cwd=folder)
        has_head = bool(_run(["rev-parse", "-q", "--verify", "HEAD^{commit}"], cwd=folder,
                             allow_fail=True))
        if staged or not has_head:
            _run(["commit", "--quiet", "--allow-empty", "-m", "autosync: first commit"],
                 cwd=folder)
        _first_push(folder, remote, progress, cancel, stall_timeout)
    except git.GitCommandError as exc:
        mine.run()
        raise SetupError(f"folder {folder}: cannot prepare the repository "
                         f"({first_line(_stderr(exc))})") from None
    except BaseException:
        mine.run()
        raise
    if undo is not None:
        undo.take(mine)
