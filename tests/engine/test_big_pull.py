"""The careful pull with many files (careful_pull.BIG_PULL and more): git's own stat check
tells which files are unchanged, the rest are hashed; old versions go to a trash folder
that maintenance empties (not deleted one by one while the user waits)."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from autosync_gui.engine.careful_pull import BIG_PULL, CarefulPull
from autosync_gui.engine.checkout_stream import CheckoutStream
from autosync_gui.engine.gitrepo import GitRepository
from autosync_gui.engine.repository import HostileContent, RepositoryDamaged
from autosync_gui.engine.worktree_fs import FolderMoved, WorkTree, stat_key
from tests.fixtures.git_remotes import Remote, commit, git

N = BIG_PULL + 100


def _many_files_changed_remotely(remote: Remote) -> tuple[Path, Path]:
    a, b = remote.clone("a"), remote.clone("b")
    for i in range(N):
        path = b / "many" / f"d{i % 10}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{i}\n")
    commit(b, "many", push=True)
    git(a, "pull", "-q", "--ff-only")
    for i in range(N):
        path = b / "many" / f"d{i % 10}" / f"f{i}.txt"
        path.write_text(f"{i} changed by b\n")
    commit(b, "changed", push=True)
    git(a, "fetch", "-q")
    return a, b


def test_a_save_among_many_pulled_files_stops_the_pull(remote: Remote) -> None:
    """With more than BIG_PULL files replaced, a save git's stat check reports is found
    before anything moves; a file only touched (same bytes, new time) does not count."""
    a, _b = _many_files_changed_remotely(remote)
    saved = a / "many" / "d3" / "f3.txt"
    saved.write_text("a's save, not committed yet\n")
    touched = a / "many" / "d4" / "f4.txt"
    later = time.time() + 5
    os.utime(touched, (later, later))
    repo = GitRepository.open(a, "alpha")
    head = git(a, "rev-parse", "HEAD")
    target = git(a, "rev-parse", "origin/main")
    outcome = repo.careful_pull.fast_forward(head, target, "b's commit")
    assert not outcome.moved and outcome.busy == "many/d3/f3.txt"
    assert saved.read_text() == "a's save, not committed yet\n"
    assert git(a, "rev-parse", "HEAD") == head
    saved.write_text("3\n")  # the save undone: only the touched file differs in time
    outcome = repo.careful_pull.fast_forward(head, target, "b's commit")
    assert outcome.moved, outcome
    assert touched.read_text() == "4 changed by b\n"
    assert git(a, "status", "--porcelain") == ""


def test_old_versions_go_to_a_trash_that_maintenance_empties(remote: Remote) -> None:
    a, _b = _many_files_changed_remotely(remote)
    repo = GitRepository.open(a, "alpha")
    result = repo.integrate()
    assert result.changed and len(result.files) == N
    scratch = repo.work_tree.scratch
    left = sorted(p.name for p in scratch.iterdir())
    assert [n for n in left if n.startswith("trash-")], left
    assert not [n for n in left if n.startswith(("aside-", "pull-"))], left
    trash = next(p for p in scratch.iterdir() if p.name.startswith("trash-"))
    assert len([p for p in trash.rglob("*") if p.is_file()]) == N  # the replaced old versions
    repo.maintain()
    assert not [p for p in scratch.iterdir() if p.name.startswith("trash-")]
    assert (a / "many" / "d7" / "f7.txt").read_text() == "7 changed by b\n"


def test_a_file_moved_aside_is_read_again_unless_its_stat_says_unchanged(
        tmp_path: Path) -> None:
    """WorkTree.aside_unchanged, git's racy-clean rule: a file modified within two
    seconds of its move (or since it was hashed) must be hashed again."""
    from autosync_gui.engine.worktree_fs import WorkTree

    root = tmp_path / "tree"
    root.mkdir()
    tree = WorkTree(root, tmp_path / "scratch")
    old, fresh = root / "old.txt", root / "fresh.txt"
    old.write_text("old\n")
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))
    fresh.write_text("fresh\n")
    with tree.pull_asides():
        old_aside, fresh_aside = tree.new_aside("old.txt"), tree.new_aside("fresh.txt")
        assert tree.move_aside("old.txt", old_aside)
        assert tree.move_aside("fresh.txt", fresh_aside)
        _ids, old_stat = tree.aside_hash(old_aside)
        _ids, fresh_stat = tree.aside_hash(fresh_aside)
        assert old_stat is not None and fresh_stat is not None
        assert tree.aside_unchanged(old_aside, stat_key(old_stat))
        assert not tree.aside_unchanged(fresh_aside, stat_key(fresh_stat))  # racy: again
        with open(tree.aside_path(old_aside), "a") as fh:  # an editor's late write
            fh.write("more\n")
        assert not tree.aside_unchanged(old_aside, stat_key(old_stat))


# ---------------------------------------------------------------------- no second read
class _SavesAfterGitsCheck(CarefulPull):
    """The real careful pull, with the user's saves landing right after git's stat check
    found every file unchanged and before the files are moved (a test seam, no mock:
    every git command runs), and a count of the files it read to compare them."""

    saves: ClassVar[dict[str, Callable[[Path], None]]] = {}
    hashed: ClassVar[list[str]] = []

    def in_the_way(self, changes, head=None):  # type: ignore[no-untyped-def]
        result = super().in_the_way(changes, head)
        for rel, save in self.saves.items():
            save(self._tree.root / rel)
        return result


class _CountingTree(WorkTree):
    def aside_hash(self, aside, hex_len=40):  # type: ignore[no-untyped-def]
        _SavesAfterGitsCheck.hashed.append(aside.name)
        return super().aside_hash(aside, hex_len)


def _same_size_in_place(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # an in-place write: same inode, same size
        fh.write(b"X" * size)


def _write_then_set_time_back(path: Path) -> None:
    info = os.stat(path)
    with open(path, "r+b") as fh:
        fh.write(b"Y" * info.st_size)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # only the change time shows


def _seamed(repo: GitRepository) -> _SavesAfterGitsCheck:
    tree = _CountingTree(repo.work_tree.root, repo.work_tree.scratch)
    repo.work_tree = tree
    seam = _SavesAfterGitsCheck(repo.runner, tree, repo.state_dir, repo.git_dir / "index")
    repo.careful_pull = seam
    return seam


def test_files_git_just_found_unchanged_are_not_read_again_but_saves_are_kept(
        remote: Remote) -> None:
    """The old files of a big pull that git's stat check found unchanged are compared by
    their stat data, not read again; a save landing after that check is still caught,
    also one that leaves the size and the modification time as they were."""
    a, _b = _many_files_changed_remotely(remote)
    long_ago = time.time() - 60
    for path in (a / "many").rglob("*.txt"):  # (not modified within git's racy window)
        os.utime(path, (long_ago, long_ago))
    git(a, "update-index", "-q", "--refresh")
    repo = GitRepository.open(a, "alpha")
    seam = _seamed(repo)
    in_place, time_set_back = "many/d3/f13.txt", "many/d4/f14.txt"
    seam.saves = {in_place: _same_size_in_place, time_set_back: _write_then_set_time_back}
    _SavesAfterGitsCheck.hashed.clear()
    result = repo.integrate()
    assert result.changed
    assert git(a, "rev-parse", "HEAD") == git(a, "rev-parse", "origin/main")
    assert (a / in_place).read_bytes() == b"XXX"  # both saves stayed where they were
    assert (a / time_set_back).read_bytes() == b"YYY"
    assert (a / "many" / "d7" / "f7.txt").read_text() == "7 changed by b\n"
    assert len(_SavesAfterGitsCheck.hashed) == 2, "only the two saves were read again"
    seam.saves = {}
    repo.commit_pending()  # the saves are committed on top of b's versions
    assert git(a, "show", f"HEAD:{in_place}") == "XXX"
    assert git(a, "show", f"HEAD^:{in_place}") == "13 changed by b"


def test_a_folder_moved_away_while_its_files_go_aside_gets_them_back(
        tmp_path: Path) -> None:
    """WorkTree.move_aside_many holds one descriptor per folder: a folder renamed while
    its files were being moved out gets them back where it is now (FolderMoved)."""
    root = tmp_path / "tree"
    (root / "photos").mkdir(parents=True)
    (root / "photos" / "a.jpg").write_bytes(b"a")
    (root / "photos" / "b.jpg").write_bytes(b"b")

    class _UserMovesTheFolder(WorkTree):
        def _move_group(self, fd, group, before):  # type: ignore[no-untyped-def]
            moved = super()._move_group(fd, group, before)
            os.rename(root / "photos", root / "photos 2024")  # the user, at that moment
            return moved

    tree = _UserMovesTheFolder(root, tmp_path / "scratch")
    with tree.pull_asides():
        moves = [(rel, tree.new_aside(rel)) for rel in ("photos/a.jpg", "photos/b.jpg")]
        with pytest.raises(FolderMoved):
            tree.move_aside_many(moves)
        assert not any(tree.aside_exists(aside) for _rel, aside in moves)
    assert sorted(p.name for p in (root / "photos 2024").iterdir()) == ["a.jpg", "b.jpg"]
    assert not (root / "photos").exists()


def test_a_folder_moved_during_a_big_pull_undoes_it(remote: Remote) -> None:
    a, _b = _many_files_changed_remotely(remote)
    repo = GitRepository.open(a, "alpha")
    moved_from, moved_to = a / "many" / "d5", a / "elsewhere"

    class _UserMovesAFolder(WorkTree):
        def _move_group(self, fd, group, before):  # type: ignore[no-untyped-def]
            moved = super()._move_group(fd, group, before)
            if group[0][0].startswith("many/d5/"):
                os.rename(moved_from, moved_to)  # the user, at that moment
            return moved

    tree = _UserMovesAFolder(repo.work_tree.root, repo.work_tree.scratch)
    repo.work_tree = tree
    pull = CarefulPull(repo.runner, tree, repo.state_dir, repo.git_dir / "index")
    head, target = git(a, "rev-parse", "HEAD"), git(a, "rev-parse", "origin/main")
    outcome = pull.fast_forward(head, target, "b's commit")
    assert not outcome.moved and outcome.busy == "many/d5"
    assert git(a, "rev-parse", "HEAD") == head
    assert sorted(p.name for p in moved_to.iterdir()) == \
        sorted(f"f{i}.txt" for i in range(N) if i % 10 == 5)
    assert all((moved_to / f"f{i}.txt").read_text() == f"{i}\n"
               for i in range(N) if i % 10 == 5)
    assert (a / "many" / "d3" / "f3.txt").read_text() == "3\n", "the rest went back too"
    assert not (repo.state_dir / "pull-journal").exists()


def test_paths_git_cannot_take_while_files_move_are_written_after_in_parallel(
        remote: Remote, monkeypatch: pytest.MonkeyPatch) -> None:
    """git creating files slower than the pull moves old ones aside (here: stopped, its
    pipe the smallest there is): the paths it cannot take at once wait, and are written
    by a parallel checkout-index once the moving is done; every file arrives."""
    a, _b = _many_files_changed_remotely(remote)
    streams: list[CheckoutStream] = []
    real_init, real_finish = CheckoutStream.__init__, CheckoutStream.finish

    def init(self: CheckoutStream, *args: object) -> None:
        real_init(self, *args)  # type: ignore[arg-type]
        fcntl.fcntl(self._stdin, fcntl.F_SETPIPE_SZ, 4096)
        os.kill(self._process.pid, signal.SIGSTOP)
        streams.append(self)

    def finish(self: CheckoutStream) -> object:
        os.kill(self._process.pid, signal.SIGCONT)
        return real_finish(self)

    monkeypatch.setattr(CheckoutStream, "__init__", init)
    monkeypatch.setattr(CheckoutStream, "finish", finish)
    repo = GitRepository.open(a, "alpha")
    result = repo.integrate()
    assert result.changed and len(result.files) == N
    assert len(streams) == 1 and 0 < len(streams[0].waiting) < N, \
        "some paths went to git as they were freed, the rest waited"
    for i in range(N):
        assert (a / "many" / f"d{i % 10}" / f"f{i}.txt").read_text() == f"{i} changed by b\n"
    assert git(a, "status", "--porcelain", "--untracked-files=all") == ""


# ---------------------------------------------------------------------- damage
def _corrupt_packed_object(clone: Path, sha: str) -> None:
    """Break `sha`'s compressed data in the pack that holds it (a new pack file: the
    old one may be shared with the remote)."""
    for idx in (clone / ".git" / "objects" / "pack").glob("*.idx"):
        listing = git(clone, "verify-pack", "-v", str(idx))
        for line in listing.splitlines():
            fields = line.split()
            if fields and fields[0] == sha:
                size_in_pack, offset = int(fields[3]), int(fields[4])
                pack = idx.with_suffix(".pack")
                data = bytearray(pack.read_bytes())
                for i in range(offset + size_in_pack - 4, offset + size_in_pack):
                    data[i] ^= 0xFF  # the zlib checksum: inflate fails at the very end
                pack.unlink()
                pack.write_bytes(bytes(data))
                return
    raise AssertionError(f"{sha} is not in a pack of {clone}")


def test_an_unreadable_pulled_object_undoes_the_pull(remote: Remote) -> None:
    """Objects are not read before a big pull: one that turns out unreadable while the
    files are written stops it, every file written goes and every old version comes
    back (the repair then fetches the object again)."""
    a, _b = _many_files_changed_remotely(remote)
    repo = GitRepository.open(a, "alpha")
    head, target = git(a, "rev-parse", "HEAD"), git(a, "rev-parse", "origin/main")
    broken = "many/d5/f305.txt"
    _corrupt_packed_object(a, git(a, "rev-parse", f"origin/main:{broken}"))
    with pytest.raises(RepositoryDamaged):
        repo.careful_pull.fast_forward(head, target, "b's commit")
    assert git(a, "rev-parse", "HEAD") == head
    assert git(a, "status", "--porcelain", "--untracked-files=all") == ""
    for i in range(N):
        assert (a / "many" / f"d{i % 10}" / f"f{i}.txt").read_text() == f"{i}\n"
    assert not (repo.state_dir / "pull-journal").exists()
    assert not [p for p in a.rglob(".autosync-*")]


# ---------------------------------------------------------------------- the plan's checks
def _raw(*entries: tuple[str, str, str]) -> list[bytes]:
    """A raw diff as _diff returns it, from (old mode, new mode, path) entries."""
    fields: list[bytes] = []
    for old_mode, new_mode, path in entries:
        fields += [f":{old_mode} {new_mode} {'a' * 40} {'b' * 40} M".encode(), path.encode()]
    return [*fields, b""]


@pytest.mark.parametrize(("entries", "reason"), [
    ([("100644", "100644", "a.txt"), ("100644", "100644", "a.txt")], "appears twice"),
    ([("100644", "100666", "a.txt")], "unsupported mode 100666"),
    ([("040000", "100644", "a.txt")], "unsupported mode 040000"),
    ([("100644", "100644", "docs/.git/config")], "'.git' component"),
    ([("000000", "100644", "docs"), ("000000", "100644", "docs/x.txt")],
     "needs 'docs' as a folder and a file"),
    ([("000000", "100644", "real/link/x.txt")], "'real/link', which is a symbolic link"),
])
def test_a_plan_git_would_refuse_is_refused_with_the_path(
        remote: Remote, entries: list[tuple[str, str, str]], reason: str) -> None:
    """The plan's own checks of each entry (git's fsck and read-tree refuse these first;
    these checks hold when they do not): one line naming the path, nothing written."""
    a = remote.clone("a")
    (a / "real").mkdir()
    (a / "real" / "link").symlink_to("..")
    repo = GitRepository.open(a, "alpha")
    pull = repo.careful_pull
    with pytest.raises(HostileContent, match=reason) as caught:
        pull._parse(_raw(*entries), "commit x")
    assert str(caught.value).startswith("refused commit x: path '")
    assert "\n" not in str(caught.value)
    fine = pull._parse(_raw(("100644", "100755", "real/x.sh"), ("000000", "120000", "l")), "c")
    assert [(c.old_mode, c.new_mode, c.path) for c in fine] == \
        [("100644", "100755", "real/x.sh"), ("000000", "120000", "l")]


def test_a_moved_submodule_is_pulled_and_its_folder_left_alone(remote: Remote) -> None:
    """Another machine moves a submodule's commit (a gitlink: git never writes into it).
    The pull moves the index and HEAD; the folder at that path, with whatever the user
    keeps in it, stays where it is. (Putting the folder back after moving it aside tried
    to unlink its aside name after renaming it: every such pull failed.)"""
    a, b = remote.clone("a"), remote.clone("b")
    first = git(b, "rev-parse", "HEAD")
    git(b, "update-index", "--add", "--cacheinfo", f"160000,{first},lib")
    (b / "lib").mkdir()  # (not checked out: an empty folder)
    commit(b, "a submodule", push=True)
    git(a, "pull", "-q", "--ff-only")
    (a / "lib").mkdir(exist_ok=True)
    (a / "lib" / "checked out by hand.txt").write_text("the user's\n")
    second = git(b, "rev-parse", "HEAD")
    git(b, "update-index", "--cacheinfo", f"160000,{second},lib")
    (b / "notes.txt").write_text("beside it\n")
    commit(b, "submodule moved", push=True)
    git(a, "fetch", "-q")
    repo = GitRepository.open(a, "alpha")
    result = repo.integrate()
    assert result.changed and repo.head() == git(b, "rev-parse", "HEAD")
    assert git(a, "ls-files", "-s", "lib").startswith(f"160000 {second} ")
    assert (a / "lib" / "checked out by hand.txt").read_text() == "the user's\n"
    assert (a / "notes.txt").read_text() == "beside it\n"
    assert git(a, "status", "--porcelain", "--ignore-submodules=none") == ""
