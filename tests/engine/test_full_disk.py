"""Issue 15, item 7: a full disk. On a real small file system (tests/fixtures/
small_filesystem.py: a tmpfs of a few MB, or an ext4 image on a loop device) holding the
folder and its .git, or the bare remote: a save, a commit, a fetch, a pull's writes, the
log and the configuration meet ENOSPC. Nothing is lost, the repository stays consistent
(`git fsck`, index equal to HEAD where nothing was committed), the folder says "disk full
on DEVICE: N MB free" once (state error), autosync never fills the reserve itself, and
sync resumes by itself once space is freed. A full disk on the server is the server's
problem (state error, never offline)."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from pathlib import Path

import pytest

from autosync_gui.config import ConfigError, FolderSettings, Settings, load_config, save_config
from autosync_gui.disk_space import RESERVE_MIN, device_name, mentions_disk_full, reserve_for
from autosync_gui.engine import folder as folder_module
from autosync_gui.engine.careful_pull import CarefulPull
from autosync_gui.engine.events import ActivityKind, FolderState
from autosync_gui.engine.folder import FolderSync
from autosync_gui.engine.git_env import transfer_error
from autosync_gui.engine.gitrepo import GitRepository
from autosync_gui.engine.remote import RemoteError, RemoteProblem
from autosync_gui.engine.repository import DiskFull
from autosync_gui.log_full_disk import guard
from tests.fixtures.engine_harness import Recorder
from tests.fixtures.files import bytes_unless_aside
from tests.fixtures.git_remotes import Remote, commit, git, make_remote
from tests.fixtures.small_filesystem import SmallFilesystem

pytestmark = pytest.mark.slow  # real mounts, full disks, two replicas


def clone_to(remote: Remote, dest: Path, name: str) -> Path:
    git(dest.parent, "clone", "-q", remote.url, str(dest))
    git(dest, "config", "user.name", f"Test {name}")
    git(dest, "config", "user.email", f"{name}@example.invalid")
    return dest


def assert_consistent(repo: Path) -> None:
    """git fsck finds nothing missing or corrupt (dangling objects a failed commit left
    are fine), the index is readable and no lock is left behind."""
    fsck = subprocess.run(["git", "fsck", "--full", "--no-progress"], cwd=repo,
                          capture_output=True, text=True, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    for word in ("missing", "corrupt", "broken", "invalid"):
        assert word not in fsck.stdout + fsck.stderr, fsck.stdout + fsck.stderr
    status(repo)  # the index reads
    assert not (repo / ".git" / "index.lock").exists()


def status(repo: Path, *args: str) -> str:
    """`git status --porcelain` that writes nothing (a plain one refreshes the index,
    which on a full disk fails)."""
    return git(repo, "--no-optional-locks", "status", "--porcelain", *args)


def disk_full_lines(rec: Recorder, folder: Path) -> list[str]:
    return [a.summary for a in rec.of(ActivityKind.ERROR, folder)
            if a.summary.startswith("disk full on")]


def text_of(size: int, tag: str) -> bytes:
    """`size` bytes of text that git compresses to almost nothing (a fetch of it fits
    where writing it out does not)."""
    line = f"{tag}: the quick brown fox jumps over the lazy dog\n".encode()
    return (line * (size // len(line) + 1))[:size]


async def ready(rec: Recorder, folder: FolderSync) -> None:
    await rec.until(lambda: folder.ready.is_set() and folder.state == FolderState.IDLE,
                    what="ready and idle")


# ====================================================================== the pure parts
def test_reserve_scales_with_the_file_system() -> None:
    assert reserve_for(16 << 20) == RESERVE_MIN  # a few MB: 1 MB
    assert reserve_for(1 << 30) == (1 << 30) // 50  # 2 %
    assert reserve_for(2 << 40) == 64 << 20  # at most 64 MB


@pytest.mark.parametrize(("stderr", "report", "pushing", "where"), [
    # a fetch writes only here: its full disk is ours
    ("error: unable to write file .git/objects/pack/tmp_pack_x: No space left on device\n"
     "fatal: index-pack failed", "", False, "local"),
    ("fatal: sha1 file '.git/objects/pack/tmp_pack_x' write error. Out of diskspace?", "",
     False, "local"),
    # a push writes on the server: git says the other side failed to store it
    ("remote: error: unable to create temporary file: No space left on device\n"
     "remote: fatal: failed to write object\nerror: remote unpack failed: unpack-objects "
     "abnormal exit", "!\tHEAD:refs/heads/main\t[remote rejected] (unpacker error)", True,
     "server"),
    ("fatal: write error: No space left on device\nerror: remote unpack failed: "
     "index-pack abnormal exit", "", True, "server"),
    # the server's own words over a fetch
    ("remote: fatal: write error: No space left on device", "", False, "server"),
])
def test_a_full_disk_is_placed_on_the_right_side(tmp_path: Path, stderr: str, report: str,
                                                 pushing: bool, where: str) -> None:
    error = transfer_error("/srv/files.git", stderr, tmp_path, pushing=pushing,
                           report=report)
    if where == "local":
        assert isinstance(error, DiskFull)
        assert str(error).startswith(f"disk full on {device_name(tmp_path)}: ")
    else:
        assert isinstance(error, RemoteError)
        assert error.problem is RemoteProblem.SERVER_FULL
        assert not error.offline
        assert str(error).startswith("the server /srv/files.git is out of disk space")


def test_git_and_hg_words_for_a_full_disk() -> None:
    assert mentions_disk_full("fatal: unable to write new index file: No space left on "
                              "device")
    assert mentions_disk_full("abort: No space left on device: '/x/.hg/store/data/f.i'")
    assert mentions_disk_full("error: file write error: Disk quota exceeded")
    assert not mentions_disk_full("fatal: the remote end hung up unexpectedly")


# ====================================================================== the folder's disk
async def test_full_disk_is_said_once_and_sync_resumes_when_space_is_freed(
        remote: Remote, small_filesystem, start_engine) -> None:
    fs: SmallFilesystem = small_filesystem(16)
    a = clone_to(remote, fs.mount_point / "a", "a")
    (a / "notes.txt").write_bytes(b"version 1\n")
    commit(a, "version 1", push=True)
    head = git(a, "rev-parse", "HEAD")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    await ready(rec, folder)
    fs.fill()
    # The user's save meets the full disk: the editor gets ENOSPC, half a file is left
    with pytest.raises(OSError) as failed:
        (a / "notes.txt").write_bytes(b"version 2 " * 50_000)
    assert failed.value.errno == errno.ENOSPC
    await rec.until(lambda: folder.state == FolderState.ERROR, what="error: disk full")
    assert folder.detail.startswith(f"disk full on {fs.mount_point} (tmpfs): 0 MB free")
    assert "free some space" in folder.detail
    checks = folder.disk_checks
    with pytest.raises(OSError):  # the user tries again: still full
        (a / "notes.txt").write_bytes(b"version 2 " * 50_000)
    await rec.until(lambda: folder.disk_checks >= checks + 3, what="a few more looks")
    assert folder.state == FolderState.ERROR
    assert len(disk_full_lines(rec, a)) == 1, "said once, not at every look"
    assert git(a, "rev-parse", "HEAD") == head, "nothing committed into the reserve"
    fs.release()  # the user frees space: sync resumes without anything else
    await rec.until(lambda: any("disk space available again" in x.summary
                                for x in rec.of(ActivityKind.INFO, a)), what="resumed")
    await rec.until(lambda: remote.tree_files().get("notes.txt") == (a / "notes.txt")
                    .read_bytes(), what="what was on disk synced")
    (a / "notes.txt").write_bytes(b"version 2 " * 50_000)  # saved again, whole
    await rec.until(lambda: remote.tree_files().get("notes.txt") == b"version 2 " * 50_000,
                    what="the whole save synced")
    await rec.until(lambda: folder.state == FolderState.IDLE, what="idle")
    assert b"version 1\n" in [remote_blob(remote, sha) for sha in blobs_in_history(remote)]
    assert len(disk_full_lines(rec, a)) == 1
    assert_consistent(a)


def blobs_in_history(remote: Remote) -> list[str]:
    listing = git(remote.bare, "rev-list", "--objects", "--all")
    return [line.split()[0] for line in listing.splitlines() if " notes.txt" in line]


def remote_blob(remote: Remote, sha: str) -> bytes:
    return subprocess.run(["git", "cat-file", "blob", sha], cwd=remote.bare,
                          capture_output=True, check=True).stdout


async def test_commit_that_meets_a_full_disk_leaves_the_repository_consistent(
        remote: Remote, small_filesystem, start_engine, monkeypatch) -> None:
    # Another program fills the disk between autosync's look at the free space and git's
    # write. That race is made certain here by skipping the look, so git itself meets
    # ENOSPC in `git add` (writing the object).
    monkeypatch.setattr(FolderSync, "_commit_room", lambda self, changed: None)
    fs: SmallFilesystem = small_filesystem(16)
    a = clone_to(remote, fs.mount_point / "a", "a")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    await ready(rec, folder)
    head = git(a, "rev-parse", "HEAD")
    engine.pause(a)
    data = os.urandom(3 << 20)  # incompressible: its object needs the space
    (a / "big.bin").write_bytes(data)
    fs.fill()
    engine.resume(a)
    await rec.until(lambda: folder.state == FolderState.ERROR
                    and folder.detail.startswith("disk full on"), what="disk full")
    assert git(a, "rev-parse", "HEAD") == head
    assert_consistent(a)
    assert git(a, "diff", "--cached", "--name-only") == "", "the index is still HEAD's"
    assert (a / "big.bin").read_bytes() == data
    fs.release()
    await rec.until(lambda: remote.tree_files().get("big.bin") == data, timeout=30,
                    what="committed and pushed once space was freed")
    assert len(disk_full_lines(rec, a)) == 1
    assert_consistent(a)


async def test_commit_on_ext4_meets_the_full_disk_too(remote: Remote, small_filesystem,
                                                      start_engine, monkeypatch) -> None:
    """The same on a real block device (a loop-mounted ext4): the message names it."""
    monkeypatch.setattr(FolderSync, "_commit_room", lambda self, changed: None)
    fs: SmallFilesystem = small_filesystem(24, "ext4")
    a = clone_to(remote, fs.mount_point / "a", "a")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    await ready(rec, folder)
    engine.pause(a)
    data = os.urandom(2 << 20)
    (a / "big.bin").write_bytes(data)
    fs.fill()
    engine.resume(a)
    await rec.until(lambda: folder.state == FolderState.ERROR
                    and folder.detail.startswith("disk full on /dev/loop"), what="disk full")
    assert f"({fs.mount_point}): " in folder.detail
    assert_consistent(a)
    fs.release()
    await rec.until(lambda: remote.tree_files().get("big.bin") == data, timeout=30,
                    what="synced after space was freed")
    assert_consistent(a)


def push_big_change(remote: Remote) -> tuple[bytes, bytes]:
    """Another machine replaces README.txt and adds big.txt: 3 MB each on disk, a few KB
    over the wire."""
    b = remote.clone("b")
    readme, big = text_of(3 << 20, "readme"), text_of(3 << 20, "big")
    (b / "README.txt").write_bytes(readme)
    (b / "big.txt").write_bytes(big)
    commit(b, "b's big change", push=True)
    return readme, big


async def test_pull_that_does_not_fit_waits_and_touches_nothing(
        remote: Remote, small_filesystem, start_engine) -> None:
    fs: SmallFilesystem = small_filesystem(16)
    a = clone_to(remote, fs.mount_point / "a", "a")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    await ready(rec, folder)
    head = git(a, "rev-parse", "HEAD")
    fs.fill(leave=RESERVE_MIN + 500_000)  # room for the fetch, not for the files
    readme, big = push_big_change(remote)
    engine.fetch_all()
    await rec.until(lambda: folder.state == FolderState.ERROR
                    and folder.detail.startswith("disk full on"), what="disk full")
    assert "the next step needs about 6.3 MB" in folder.detail
    assert git(a, "rev-parse", "HEAD") == head
    assert (a / "README.txt").read_bytes() == b"shared folder\n"
    assert not (a / "big.txt").exists()
    assert status(a) == ""
    assert not (a / ".git" / "autosync" / "pull-journal").exists()
    fs.release()
    # (big.txt is written before README.txt: the pull is done when it says so)
    await rec.until(lambda: rec.of(ActivityKind.PULLED, a), timeout=30,
                    what="pulled once space was freed")
    assert (a / "big.txt").read_bytes() == big
    assert (a / "README.txt").read_bytes() == readme
    await rec.until(lambda: folder.state == FolderState.IDLE, what="idle")
    assert status(a) == ""
    assert git(a, "rev-parse", "HEAD") == remote.head()
    assert_consistent(a)


async def test_pull_cut_short_by_a_full_disk_is_undone(remote: Remote, small_filesystem,
                                                       start_engine, monkeypatch) -> None:
    # The disk fills after autosync's look (another program): made certain by skipping
    # the look, so git's checkout-index stops half-way through the pulled files.
    monkeypatch.setattr(CarefulPull, "_ensure_room", lambda self, changes: None)
    fs: SmallFilesystem = small_filesystem(16)
    a = clone_to(remote, fs.mount_point / "a", "a")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    await ready(rec, folder)
    head = git(a, "rev-parse", "HEAD")
    fs.fill(leave=RESERVE_MIN + 500_000)
    readme, big = push_big_change(remote)
    engine.fetch_all()
    await rec.until(lambda: folder.state == FolderState.ERROR
                    and folder.detail.startswith("disk full on"), what="disk full")
    # undone: the user's files as they were, nothing half-written left, HEAD and index
    # where they were, nothing moved aside left over
    assert (a / "README.txt").read_bytes() == b"shared folder\n"
    assert not (a / "big.txt").exists()
    assert git(a, "rev-parse", "HEAD") == head
    assert status(a, "--untracked-files=all") == ""
    assert not (a / ".git" / "autosync" / "pull-journal").exists()
    assert not [p for p in (a / ".git" / "autosync" / "scratch").rglob("*") if p.is_file()]
    assert_consistent(a)
    fs.release()
    await rec.until(lambda: rec.of(ActivityKind.PULLED, a), timeout=30,
                    what="pulled once space was freed")
    await rec.until(lambda: folder.state == FolderState.IDLE, what="idle")
    assert (a / "big.txt").read_bytes() == big
    assert (a / "README.txt").read_bytes() == readme
    assert git(a, "rev-parse", "HEAD") == remote.head(), "no commit undoing b's change"
    assert remote.tree_files()["README.txt"] == readme
    assert_consistent(a)


async def test_fetch_that_meets_a_full_disk_is_ours_and_cleans_up(
        remote: Remote, small_filesystem, start_engine, monkeypatch) -> None:
    # The disk fills after autosync's look (made certain by skipping the look): git's
    # fetch itself fails writing the pack. That is our disk, not the server's, and the
    # half-written pack git leaves behind is removed.
    monkeypatch.setattr(folder_module, "ensure_room", lambda *paths, need=0: None)
    fs: SmallFilesystem = small_filesystem(16)
    a = clone_to(remote, fs.mount_point / "a", "a")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    await ready(rec, folder)
    b = remote.clone("b")
    data = os.urandom(3 << 20)  # incompressible: the pack is as big
    (b / "photo.jpg").write_bytes(data)
    commit(b, "b's photo", push=True)
    fs.fill(leave=1 << 20)  # room for part of the pack
    engine.fetch_all()
    await rec.until(lambda: folder.state == FolderState.ERROR, what="error")
    assert folder.detail.startswith("disk full on"), folder.detail
    assert not any(state == FolderState.OFFLINE for f, state, _d in rec.states if f == a)
    assert not list((a / ".git" / "objects" / "pack").glob("tmp_*")), "garbage removed"
    assert_consistent(a)
    fs.release()
    await rec.until(lambda: bytes_unless_aside(a / "photo.jpg") == data, timeout=30,
                    what="fetched and pulled once space was freed")
    assert "garbage: 0" in git(a, "count-objects", "-v")
    assert_consistent(a)


def test_pull_stopped_before_the_index_moved_is_undone_at_recovery(remote: Remote) -> None:
    """A kill -9 (or a full disk refusing even the undo) in the middle of writing the
    pulled files: the journal names HEAD and the target, so recovery removes what the
    pull wrote, whole or in part, and puts back what it moved aside."""
    a = remote.clone("a")
    push_big_change(remote)
    git(a, "fetch", "-q")
    head, target = git(a, "rev-parse", "HEAD"), git(a, "rev-parse", "origin/main")
    repo = GitRepository.open(a, "alpha")
    tree = repo.work_tree
    readme_aside = tree.new_aside("README.txt")
    repo.careful_pull._write_journal(head, target, {"README.txt": readme_aside})
    tree.move_aside("README.txt", readme_aside)
    (a / "README.txt").write_bytes(text_of(3 << 20, "readme"))  # written whole
    (a / "big.txt").write_bytes(text_of(1 << 20, "big"))  # cut short
    (a / "mine.txt").write_text("a save of the user's, untouched\n")
    repo.release()
    repo = GitRepository.open(a, "alpha")
    assert any("interrupted pull" in line for line in repo.recover())
    assert (a / "README.txt").read_bytes() == b"shared folder\n"
    assert not (a / "big.txt").exists()
    assert (a / "mine.txt").read_text() == "a save of the user's, untouched\n"
    assert git(a, "rev-parse", "HEAD") == head
    assert status(a) == "?? mine.txt"
    assert not (repo.state_dir / "pull-journal").exists()


def test_pull_stopped_after_the_index_moved_is_finished_at_recovery(remote: Remote) -> None:
    """Stopped between the new index and moving HEAD: the files and the index are the
    target's, so recovery moves HEAD too (never a commit that undoes the pull)."""
    a = remote.clone("a")
    readme, big = push_big_change(remote)
    git(a, "fetch", "-q")
    head, target = git(a, "rev-parse", "HEAD"), git(a, "rev-parse", "origin/main")
    repo = GitRepository.open(a, "alpha")
    tree = repo.work_tree
    readme_aside = tree.new_aside("README.txt")
    repo.careful_pull._write_journal(head, target, {"README.txt": readme_aside})
    tree.move_aside("README.txt", readme_aside)
    git(a, "read-tree", target)
    git(a, "checkout-index", "-a", "-f")
    repo.release()
    repo = GitRepository.open(a, "alpha")
    repo.recover()
    assert git(a, "rev-parse", "HEAD") == target
    assert (a / "README.txt").read_bytes() == readme
    assert (a / "big.txt").read_bytes() == big
    assert status(a) == ""
    assert not list(tree.scratch.iterdir())


# ====================================================================== the server's disk
async def test_full_disk_on_the_server_is_the_servers_problem(
        small_filesystem, start_engine, tmp_path: Path) -> None:
    fs: SmallFilesystem = small_filesystem(16)
    remote = make_remote(fs.mount_point)  # the bare remote lives on the small disk
    a = clone_to(remote, tmp_path / "a", "a")
    engine, rec = await start_engine(a, poll_interval=1.0)
    folder = engine.folder(a)
    await ready(rec, folder)
    fs.fill()
    data = os.urandom(300_000)
    (a / "photo.jpg").write_bytes(data)
    await rec.until(lambda: folder.state == FolderState.ERROR, what="error")
    assert folder.detail.startswith(f"the server {remote.url} is out of disk space"), \
        folder.detail
    checks = [s for s in rec.states if s[0] == a]
    assert not any(state == FolderState.OFFLINE for _f, state, _d in checks)
    polls = len([s for s in rec.states if s[0] == a])
    await rec.until(lambda: len([s for s in rec.states if s[0] == a]) > polls + 2,
                    what="tried again (a successful poll makes it try at once)")
    errors = [e for e in rec.of(ActivityKind.ERROR, a) if "out of disk space" in e.summary]
    assert len(errors) == 1, "said once"
    fs.release()
    await rec.until(lambda: remote.tree_files().get("photo.jpg") == data, timeout=30,
                    what="pushed once the server has space")
    await rec.until(lambda: folder.state == FolderState.IDLE, what="idle")
    assert not any(state == FolderState.OFFLINE for f, state, _d in rec.states if f == a)
    assert_consistent(a)


# ====================================================================== the log and config
def test_log_drops_lines_quietly_on_a_full_disk(small_filesystem, capfd) -> None:
    fs: SmallFilesystem = small_filesystem(4)
    path = fs.mount_point / "autosync.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    guard(handler)
    logger = logging.getLogger("autosync.test-full-disk")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("before")
        fs.fill()
        for i in range(200):  # far more than any buffer holds
            logger.warning("line %d %s", i, "x" * 200)
        said = capfd.readouterr().err
        assert "Logging error" not in said and "Traceback" not in said
        assert said.count("not written: the disk is full") == 1, said
        fs.release()
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("WARNING before\n")
    assert "could not be written while the disk was full" in text
    assert text.rstrip().endswith("WARNING after") or "WARNING after" in text


def test_config_save_on_a_full_disk_keeps_the_old_file(small_filesystem,
                                                       tmp_path: Path) -> None:
    fs: SmallFilesystem = small_filesystem(4)
    path = fs.mount_point / "config.toml"
    first = Settings(folders=(FolderSettings(path=tmp_path / "one"),))
    save_config(first, path)
    before = path.read_bytes()
    fs.fill()
    second = Settings(folders=(FolderSettings(path=tmp_path / "one"),
                               FolderSettings(path=tmp_path / "two", ignore=("x" * 5000,))))
    with pytest.raises(ConfigError) as failed:
        save_config(second, path)
    message = str(failed.value)
    assert f"disk full on {fs.mount_point} (tmpfs): 0 MB free" in message
    assert "previous settings are kept" in message and "\n" not in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in fs.mount_point.iterdir() if not p.name.startswith(
        ".filler")) == ["config.toml"], "no temporary file left"
    fs.release()
    save_config(second, path)
    assert len(load_config(path).folders) == 2
