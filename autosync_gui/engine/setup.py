"""Blocking set-up steps the wizard runs in a worker thread: check a remote, clone it,
check an existing work tree, create a new repository with a new bare remote.

Qt-free so the wizard holds no git logic and these can be tested alone. Git runs
non-interactively (no password prompt, ssh in batch mode): a prompt in a thread of a
tray app would hang forever. Every failure is a SetupError whose str() is one line
naming the thing and the fix."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
from pathlib import Path

import git

from autosync_gui.config import DEFAULT_LARGE_FILE_SIZE
from autosync_gui.engine.git_env import (
    SSH_OPTIONS,
    RemoteProblem,
    classify,
    first_line,
    noninteractive_env,
)
from autosync_gui.engine.partial_clone import (
    bare_remote_config_commands,
    clone_options,
    configure_bare_remote,
)

NETWORK_TIMEOUT = 60.0
DEFAULT_BRANCH = "main"

class SetupError(Exception):
    """A set-up step failed; str() is the one line shown inline in the wizard."""


def _run(args: list[str], cwd: Path | None = None, timeout: float = NETWORK_TIMEOUT) -> str:
    """Run `git args...`; raises git.GitCommandError (stderr kept) on failure."""
    runner = git.Git(str(cwd) if cwd is not None else None)
    out = runner.execute(["git", *args], env=noninteractive_env(), kill_after_timeout=timeout,
                         stdout_as_string=True)
    return str(out)


def _stderr(exc: git.GitCommandError) -> str:
    text = exc.stderr if isinstance(exc.stderr, str) else str(exc.stderr or "")
    text = text.strip().removeprefix("stderr:").strip().strip("'").strip()
    return text


def classify_remote_error(url: str, stderr: str) -> SetupError:
    """Turn git's stderr about a remote into one line with the fix."""
    problem = classify(stderr)
    if problem is RemoteProblem.HOST_KEY:
        return SetupError(f"remote {url}: the server's SSH host key is unknown or changed; "
                          "connect once with `ssh` in a terminal to check and accept it")
    if problem is RemoteProblem.AUTH:
        return SetupError(f"remote {url}: authentication failed; add your SSH key to the "
                          "server (ssh-add) or store HTTPS credentials in a git credential "
                          "helper")
    if problem is RemoteProblem.UNREACHABLE:
        return SetupError(f"remote {url}: unreachable ({first_line(stderr)}); check the "
                          "address and your network")
    if problem is RemoteProblem.MISSING:
        return SetupError(f"remote {url}: no git repository there; check the URL or create "
                          "the repository first")
    return SetupError(f"remote {url}: {first_line(stderr)}; check the URL")


def check_remote(url: str) -> list[str]:
    """Check the remote answers and lets us in; returns its branch names."""
    url = url.strip()
    if not url:
        raise SetupError("remote URL: empty; enter a URL such as user@host:repo.git or a path")
    if _is_local(url) and not _local_path(url).exists():
        raise SetupError(f"remote {url}: no such path; check the path or choose "
                         "'create a new repository'")
    try:
        out = _run(["ls-remote", "--heads", "--", url])
    except git.GitCommandError as exc:
        raise classify_remote_error(url, _stderr(exc)) from None
    branches = []
    for line in out.splitlines():
        _, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            branches.append(ref.removeprefix("refs/heads/"))
    return branches


def check_folder_empty(folder: Path) -> None:
    """A clone target must not exist or be an empty directory."""
    if folder.exists():
        if not folder.is_dir():
            raise SetupError(f"folder {folder}: is a file; choose a folder")
        if any(folder.iterdir()):
            raise SetupError(f"folder {folder}: not empty; choose an empty or new folder, or "
                             "'use an existing git work tree'")


def clone_remote(url: str, folder: Path, large_file_size: int = DEFAULT_LARGE_FILE_SIZE) -> None:
    """Clone `url` into `folder` (which must be new or empty); a partial clone without
    blobs of `large_file_size` or more when the server allows it."""
    url = url.strip()
    folder = folder.expanduser()
    check_folder_empty(folder)
    check_remote(url)
    created = not folder.exists()
    try:
        options = clone_options(large_file_size)
        # git ignores --filter for a plain local path (it copies the objects): say file://
        source = f"file://{_local_path(url).resolve()}" if options and _is_local(url) \
            and not url.startswith("file://") else url
        _run(["clone", *options, "--", source, str(folder)])
        if source != url:
            _run(["remote", "set-url", "origin", "--", url], cwd=folder)
    except git.GitCommandError as exc:
        if created and folder.exists() and not any(folder.iterdir()):
            folder.rmdir()
        raise classify_remote_error(url, _stderr(exc)) from None
    _ensure_identity(folder)


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


def check_existing(folder: Path) -> str:
    """Check `folder` is the top of a git work tree with a reachable remote; returns the URL."""
    folder = folder.expanduser()
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
    upstream = _upstream(folder)
    if upstream is None:
        raise SetupError(f"folder {folder}: has no remote; add one (git remote add origin URL "
                         "&& git push -u origin HEAD)")
    check_remote(upstream[1])
    _ensure_identity(folder)
    return upstream[1]


def _is_local(url: str) -> bool:
    if url.startswith("file://"):
        return True
    if "://" in url:
        return False
    # scp-like user@host:path has a colon before any slash
    colon, slash = url.find(":"), url.find("/")
    return colon == -1 or (slash != -1 and slash < colon)


def _local_path(url: str) -> Path:
    return Path(url.removeprefix("file://")).expanduser()


_SCP_RE = re.compile(r"^(?P<host>[^/:]+):(?P<path>.*)$")
_SSH_RE = re.compile(r"^ssh://(?P<host>[^/]+?)(?::(?P<port>\d+))?(?P<path>/.*)$")


def _create_bare(url: str) -> None:
    """Create an empty bare repository at a local path or over ssh."""
    if _is_local(url):
        path = _local_path(url)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise SetupError(f"remote {url}: already exists and is not empty; choose a new "
                             "path, or 'clone' to use it")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _run(["init", "--bare", "--quiet", "-b", DEFAULT_BRANCH, str(path)])
            configure_bare_remote(path)
        except (OSError, git.GitCommandError, subprocess.CalledProcessError) as exc:
            why = _stderr(exc) if isinstance(exc, git.GitCommandError) else str(exc)
            raise SetupError(f"remote {url}: cannot create it ({first_line(why)}); "
                             "choose a writable path") from None
        return
    m = _SSH_RE.match(url)
    host, port, path = (m["host"], m["port"], m["path"]) if m else (None, None, None)
    if m is None and "://" not in url:
        s = _SCP_RE.match(url)
        if s:
            host, path = s["host"], s["path"]
    if host is None or not path:
        raise SetupError(f"remote {url}: cannot create a repository over this protocol; "
                         "create an empty repository on the server and use its URL")
    # An existing empty repository (e.g. made on a forge) is fine.
    try:
        if check_remote(url) == []:
            return
        raise SetupError(f"remote {url}: already has branches; choose 'clone' to use it")
    except SetupError as exc:
        if "no git repository there" not in str(exc):
            raise
    base = os.environ.get("GIT_SSH_COMMAND") or "ssh"
    cmd = [*shlex.split(base), *shlex.split(SSH_OPTIONS)]
    if port:
        cmd += ["-p", port]
    quoted = shlex.quote(path)
    remote_cmd = (f"test ! -e {quoted} || test -z \"$(ls -A {quoted})\" || "
                  f"{{ echo 'already exists and is not empty' >&2; exit 1; }}; "
                  f"git init --bare --quiet {quoted}")
    for command in bare_remote_config_commands(str(path)):
        remote_cmd += " && " + shlex.join(command)
    cmd += [host, remote_cmd]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=NETWORK_TIMEOUT,
                              env={**os.environ, **noninteractive_env()}, check=False)
    except subprocess.TimeoutExpired:
        raise SetupError(f"remote {url}: unreachable (timed out); check the address") from None
    if proc.returncode != 0:
        raise classify_remote_error(url, proc.stderr or f"ssh exited {proc.returncode}")


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


def _check_new_folder(folder: Path, remote: str) -> tuple[Path, str]:
    """The checks shared by check_create and create_new; returns the cleaned inputs."""
    remote = remote.strip()
    folder = folder.expanduser()
    if not remote:
        raise SetupError("remote: empty; enter a path such as ~/autosync.git or "
                         "user@host:autosync.git")
    if folder.exists() and not folder.is_dir():
        raise SetupError(f"folder {folder}: is a file; choose a folder")
    if (folder / ".git").exists():
        raise SetupError(f"folder {folder}: already a git repository; choose 'use an existing "
                         "git work tree'")
    if _is_local(remote) and _local_path(remote).resolve().is_relative_to(folder.resolve()):
        raise SetupError(f"remote {remote}: inside the synced folder; choose a path "
                         "outside it")
    return folder, remote


def create_new(folder: Path, remote: str) -> None:
    """Make `folder` a new repository (committing what is in it), create an empty bare
    repository at `remote` and push the first commit there."""
    folder, remote = _check_new_folder(folder, remote)
    _create_bare(remote)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _run(["init", "--quiet", "-b", DEFAULT_BRANCH], cwd=folder)
        _ensure_identity(folder)
        _run(["add", "--all"], cwd=folder)
        _run(["commit", "--quiet", "--allow-empty", "-m", "autosync: first commit"], cwd=folder)
        _run(["remote", "add", "origin", "--", remote], cwd=folder)
    except git.GitCommandError as exc:
        raise SetupError(f"folder {folder}: cannot create the repository "
                         f"({first_line(_stderr(exc))})") from None
    try:
        _run(["push", "--quiet", "-u", "origin", DEFAULT_BRANCH], cwd=folder)
    except git.GitCommandError as exc:
        raise classify_remote_error(remote, _stderr(exc)) from None


def check_create(folder: Path, remote: str) -> None:
    """Everything create_new needs, checked without writing anything."""
    folder, remote = _check_new_folder(folder, remote)
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
    except SetupError as exc:
        if "no git repository there" in str(exc):
            return  # reachable and we are let in; create_new makes it over ssh
        raise
    if branches:
        raise SetupError(f"remote {remote}: already has branches; choose 'clone' to use it")
