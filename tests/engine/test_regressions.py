"""Regressions for bugs the randomized convergence harness (tests/torture/) found.

Each test names the harness seed that first showed the bug and fails without its fix."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import ClassVar

from autosync_gui.engine.careful_pull import CarefulPull
from autosync_gui.engine.events import ActivityKind, FolderState
from autosync_gui.engine.gitrepo import GitRepository
from tests.fixtures.git_remotes import Remote, commit, git


def _install_racing_hook(remote: Remote, other: str) -> Path:
    """A pre-receive hook that, on the first push only, moves main to `other` itself:
    exactly what a second replica's push landing in the same instant does to a local
    remote (git then answers "cannot lock ref ... is at X but expected Y")."""
    marker = remote.base / "raced"
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f'[ -e "{marker}" ] && exit 0\n'
        f'touch "{marker}"\n'
        "unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n"
        f"git update-ref refs/heads/main {other}\n"
        "exit 0\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    return marker


async def test_push_racing_another_push_is_retried_not_offline(remote: Remote,
                                                                start_engine) -> None:
    """Seed 2 (3 replicas, local bare remote): two replicas pushed at the same moment; the
    loser got "cannot lock ref 'refs/heads/main': is at X but expected Y", which was taken
    for an unreachable remote: OFFLINE state, an error line, and a back-off of up to a
    minute before the retry. It is a rejected push: fetch, integrate, push again."""
    a, b = remote.clone("a"), remote.clone("b")
    (b / "from-b.txt").write_text("b\n")
    commit(b, "b")
    git(b, "push", "-q", "origin", "HEAD:refs/heads/elsewhere")
    other = git(b, "rev-parse", "HEAD")
    marker = _install_racing_hook(remote, other)
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    (a / "from-a.txt").write_text("a\n")
    await rec.until(lambda: {"from-a.txt", "from-b.txt"} <= remote.tree_names(),
                    timeout=30, what="both files on the remote")
    assert marker.exists(), "the race was staged"
    states = [s for f, s, _d in rec.states if f == a]
    assert FolderState.OFFLINE not in states, states
    assert not rec.of(ActivityKind.ERROR, a), [e.summary for e in rec.of(ActivityKind.ERROR)]


async def test_folder_rename_is_not_reported_as_watch_limit(remote: Remote,
                                                            start_engine) -> None:
    """Seed 2: renaming a folder inside the tree reported "inotify watch limit reached"
    (and switched to periodic rescans) with a limit of 192536 and 5 watches in use:
    pyinotify moves the folder's watch to its new path only on the later IN_MOVE_SELF,
    so at IN_MOVED_TO the new path has no watch yet although the folder is watched."""
    a = remote.clone("a")
    (a / "docs" / "deep" / "er").mkdir(parents=True)
    (a / "docs" / "deep" / "er" / "f.txt").write_text("f\n")
    commit(a, "docs", push=True)
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    os.rename(a / "docs", a / "papers")
    await rec.until(lambda: "papers/deep/er/f.txt" in remote.tree_names(),
                    what="rename pushed")
    (a / "papers" / "deep" / "er" / "g.txt").write_text("g\n")  # still watched there
    await rec.until(lambda: "papers/deep/er/g.txt" in remote.tree_names(),
                    what="new file in the renamed folder pushed")
    limits = [e.summary for e in rec.of(ActivityKind.ERROR) if "watch limit" in e.summary]
    assert not limits, limits


def _conflicting_merge_in_progress(remote: Remote) -> Path:
    """Clone a, with a real content conflict on doc.bin half-way: `git merge` has run
    (MERGE_HEAD, unmerged index), the resolution has not."""
    a, b = remote.clone("a"), remote.clone("b")
    (b / "doc.bin").write_bytes(b"\0b's version\n")
    commit(b, "b", push=True)
    (a / "doc.bin").write_bytes(b"\0a's version\n")
    commit(a, "a")
    git(a, "fetch", "-q")
    git(a, "merge", "-q", "origin/main", check=False)
    assert (a / ".git" / "MERGE_HEAD").exists()
    return a


def test_save_during_conflict_resolution_is_not_overwritten(remote: Remote) -> None:
    """Seed 2: r2 saved data 3.bin while a pull with a conflict on that file ran; the
    resolution then wrote the kept version over the file (`checkout-index -f`) and the
    save was lost: in no commit anywhere. A file the user changed after git's merge
    wrote it is left alone and committed afterwards."""
    a = _conflicting_merge_in_progress(remote)
    (a / "doc.bin").write_bytes(b"\0saved while the merge ran\n")  # the user's save
    repo = GitRepository.open(a, "alpha")
    found = repo.resolve_and_finish_merge()
    assert found and found[0].path == "doc.bin"
    assert (a / "doc.bin").read_bytes() == b"\0saved while the merge ran\n"
    assert repo.commit_pending() is not None
    assert git(a, "show", "HEAD:doc.bin") == "\0saved while the merge ran"
    copies = [p for p in git(a, "ls-files").splitlines() if "conflict from" in p]
    assert len(copies) == 1, "both merged versions are still kept"


def test_file_created_during_merge_is_not_deleted(remote: Remote) -> None:
    """Same race for a path both sides deleted: the resolution unlinked whatever was
    there, even a file the user had just created at that path."""
    a, b = remote.clone("a"), remote.clone("b")
    for clone in (a, b):
        git(clone, "mv", "README.txt", f"README-{clone.name}.txt")
        git(clone, "commit", "-qm", "rename")
    git(b, "push", "-q")
    git(a, "fetch", "-q")
    git(a, "merge", "-q", "origin/main", check=False)  # rename/rename: README.txt unmerged
    assert (a / ".git" / "MERGE_HEAD").exists()
    (a / "README.txt").write_text("new file created during the merge\n")
    repo = GitRepository.open(a, "alpha")
    repo.resolve_and_finish_merge()
    assert (a / "README.txt").read_text() == "new file created during the merge\n"


def test_unusable_folder_path_is_a_one_line_error(tmp_path: Path) -> None:
    """Config fuzzing (tests/torture/test_config_fuzz.py, seed 5 case 5): a folder path
    longer than the file system allows made validation raise OSError (ENAMETOOLONG), so
    `autosync run` died with a traceback instead of exiting 2 with one line."""
    import pytest

    from autosync_gui.engine.repository import RepositoryError

    afile = tmp_path / "afile"
    afile.write_text("x")
    for bad in (tmp_path / ("a" * 300), afile / "below-a-file"):
        with pytest.raises(RepositoryError) as info:
            GitRepository.validate(bad)
        assert "\n" not in str(info.value)


def test_integrate_never_resets_the_work_tree(remote: Remote) -> None:
    """Soak seed 840393810: two saves on r2 vanished without ever being committed (r2's
    '日本語 メモ 0.txt' and 'docs 1/renamed -dash.txt', each rewritten to the committed
    version ~6-900 ms after the save). Cause: when `git merge` cannot write its result (a
    file in its way: an untracked file at a path the merge adds, or an edited one), git
    "rewinds the tree to pristine": `reset --hard` plus `stash apply` of a stash taken when
    the merge started, so every save made while the merge ran is overwritten. The engine
    merged with a possibly dirty tree and relied on that refusal. Now the merge commit is
    built in the object database (merge-tree) and the work tree only moves by a
    fast-forward, which refuses without touching anything. Deterministic stand-in for the
    race: a merge that must refuse, and an edited file that must not even be rewritten."""
    a, b = remote.clone("a"), remote.clone("b")
    (b / "new.txt").write_text("b adds new.txt\n")
    commit(b, "b", push=True)
    (a / "mine.txt").write_text("a's own commit\n")
    commit(a, "a")
    git(a, "fetch", "-q")
    (a / "new.txt").write_text("a's untracked new.txt, in the merge's way\n")
    (a / "README.txt").write_text("a's unsaved edit\n")
    before = os.stat(a / "README.txt")
    repo = GitRepository.open(a, "alpha")
    result = repo.integrate()
    after = os.stat(a / "README.txt")
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns), \
        "the user's file was rewritten (reset --hard + stash apply)"
    assert (a / "README.txt").read_text() == "a's unsaved edit\n"
    assert result.changed and not (a / ".git" / "MERGE_HEAD").exists()
    repo.commit_pending()
    tree = git(a, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
    assert "mine.txt" in tree and any(p.startswith("new") for p in tree)
    assert git(a, "status", "--porcelain") == ""


class _SaveAfterCheck(CarefulPull):
    """The real careful pull, with the user's save landing right after it checked the
    work tree and before it writes: the window git's own checkout has (a test seam, no
    mock: every git command still runs)."""

    saves: ClassVar[dict[str, bytes]] = {}

    def in_the_way(self, changes, head=None):  # type: ignore[no-untyped-def]
        result = super().in_the_way(changes, head)
        for rel, data in self.saves.items():
            (self._tree.root / rel).write_bytes(data)
        return result


def test_save_between_pull_check_and_write_is_kept(remote: Remote) -> None:
    """Soak seed 988209391: r3 wrote 'deep/docs moved/-dir renamed/docs/-x/file 0.txt' at
    the moment a pull checked out r2's version of that new file; git's checkout had
    verified the path was free, then wrote over the save: in no commit anywhere. The pull
    now renames old files aside and compares them, and adds files by link() (never
    replacing), so a save in that window stays on disk and is committed next."""
    a, b = remote.clone("a"), remote.clone("b")
    (b / "new.txt").write_text("b's new file\n")
    (b / "README.txt").write_text("b's edit\n")
    commit(b, "b", push=True)
    git(a, "fetch", "-q")
    repo = GitRepository.open(a, "alpha")
    seam = _SaveAfterCheck(repo.runner, repo.work_tree, repo.state_dir, repo.git_dir / "index")
    repo.careful_pull = seam
    seam.saves = {"new.txt": b"a's save, new file\n", "README.txt": b"a's save, edit\n"}
    result = repo.integrate()
    assert result.changed
    assert (a / "new.txt").read_bytes() == b"a's save, new file\n"
    assert (a / "README.txt").read_bytes() == b"a's save, edit\n"
    assert git(a, "rev-parse", "HEAD") == git(a, "rev-parse", "origin/main")
    assert not [p for p in os.listdir(a) if p.startswith(".autosync-")]
    seam.saves = {}
    assert repo.commit_pending() is not None  # the saves are committed on top
    assert git(a, "show", "HEAD:new.txt") == "a's save, new file"
    assert git(a, "show", "HEAD^:new.txt") == "b's new file"  # b's version in history


def test_pull_killed_midway_leaves_nothing_behind(remote: Remote) -> None:
    """The careful pull above moves files aside; a kill -9 between its steps must neither
    lose a save moved aside nor leave temporaries: recover() settles them from a journal."""
    a = remote.clone("a")
    (a / "kept.txt").write_text("committed\n")
    commit(a, "kept", push=True)
    repo = GitRepository.open(a, "alpha")
    tree = repo.work_tree
    # the state a kill leaves: kept.txt moved aside holding a save git never saw, and a
    # committed version of README.txt moved aside with the new one already in place
    kept_aside, readme_aside = tree.new_aside("kept.txt"), tree.new_aside("README.txt")
    head = git(a, "rev-parse", "HEAD")  # (killed after HEAD moved: the pull was done)
    repo.careful_pull._write_journal(head, head, {"kept.txt": kept_aside,
                                                  "README.txt": readme_aside})
    tree.move_aside("kept.txt", kept_aside)
    Path(tree.aside_path(kept_aside)).write_text("a save in flight\n")
    tree.move_aside("README.txt", readme_aside)
    (a / "README.txt").write_text("the pulled version\n")
    (tree.scratch / ".autosync-0123456789abcdef.part").write_text("half written")
    repo.release()
    repo = GitRepository.open(a, "alpha")
    done = repo.recover()
    assert any("interrupted pull" in line for line in done)
    assert (a / "kept.txt").read_text() == "a save in flight\n"
    assert (a / "README.txt").read_text() == "the pulled version\n"
    assert not [p for p in os.listdir(a) if p.startswith(".autosync-")]
    assert not list(tree.scratch.iterdir())
    assert not (repo.state_dir / "pull-journal").exists()


def test_a_journal_written_by_an_older_version_is_still_read(remote: Remote) -> None:
    """The journal names its files as [path, folder, name] lists now; one left by a kill
    under an older version ({"path", "folder", "name"} dicts) is recovered the same."""
    a = remote.clone("a")
    repo = GitRepository.open(a, "alpha")
    tree = repo.work_tree
    aside = tree.new_aside("README.txt")
    tree.move_aside("README.txt", aside)
    Path(tree.aside_path(aside)).write_text("a save in flight\n")
    head = git(a, "rev-parse", "HEAD")
    (repo.state_dir / "pull-journal").write_text(json.dumps(
        {"head": head, "target": head,
         "asides": [{"path": "README.txt", "folder": aside.folder, "name": aside.name}]}))
    repo.release()
    repo = GitRepository.open(a, "alpha")
    assert any("interrupted pull" in line for line in repo.recover())
    assert (a / "README.txt").read_text() == "a save in flight\n"
    assert not (repo.state_dir / "pull-journal").exists()


def test_pull_keeps_a_file_an_editor_is_still_writing(remote: Remote) -> None:
    """Soak seed 787404586: r1 appended to 'shared 3/file 1.txt' in the very millisecond a
    pull applied r2's delete of it; the append went through a descriptor opened just before,
    into the file the pull had moved aside and then removed: lost. A replaced or deleted
    file that some process still has open for writing is now kept (its path, or beside)."""
    a, b = remote.clone("a"), remote.clone("b")
    git(b, "rm", "-q", "README.txt")
    commit(b, "b deletes README", push=True)
    git(a, "fetch", "-q")
    repo = GitRepository.open(a, "alpha")
    with open(a / "README.txt", "ab") as editor:  # opened before the pull, written after
        repo.integrate()
        editor.write(b"appended while the pull ran\n")
    assert git(a, "rev-parse", "HEAD") == git(a, "rev-parse", "origin/main")
    assert (a / "README.txt").read_bytes().endswith(b"appended while the pull ran\n")
    assert repo.commit_pending() is not None  # the edited file is committed again
