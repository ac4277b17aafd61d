"""A damaged repository (issue 15, item 8), damaged for real: a truncated or emptied
index, object files deleted or truncated, a ref file or packed-refs turned to garbage.
Either autosync repairs it where that is safe (and nothing is lost), or the folder stops
in error with one line naming the damage and the repair, and nothing reaches the remote.

The clones share their object files with the bare remote (a local `git clone` hard-links
them): an object is damaged by replacing its file, never by writing into it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from autosync_gui.engine.events import ActivityKind, FolderState
from tests.fixtures.git_remotes import Remote, commit, git
from tests.fixtures.writers import blob_size, commits_touching, paths_ever_committed

pytestmark = pytest.mark.slow  # real damage, real repairs, one engine each


def _object_file(clone: Path, sha: str) -> Path:
    path = clone / ".git" / "objects" / sha[:2] / sha[2:]
    assert path.exists(), f"{sha} is not a loose object in {clone}"
    return path


def _delete_object(clone: Path, sha: str) -> None:
    _object_file(clone, sha).unlink()


def _truncate_object(clone: Path, sha: str) -> None:
    """The object file cut short by a power cut (a new file: the old one is shared)."""
    path = _object_file(clone, sha)
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 2])


def _infos(rec, text: str) -> list[str]:
    return [a.summary for a in rec.of(ActivityKind.INFO) if text in a.summary]


def _damage_errors(rec) -> list[str]:
    return [a.summary for a in rec.of(ActivityKind.ERROR) if "damaged" in a.summary]


# ---------------------------------------------------------------------- the index
async def test_truncated_index_is_rebuilt_at_start_and_nothing_is_lost(
        remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    (a / "docs").mkdir()
    (a / "docs" / "kept.txt").write_text("kept\n")
    commit(a, "docs", push=True)
    index = a / ".git" / "index"
    damaged = index.read_bytes()[:120]  # git reads this one on, seeing files deleted
    index.write_bytes(damaged)
    (a / "README.txt").write_text("edited while the index was damaged\n")
    (a / "new.txt").write_text("new\n")
    engine, rec = await start_engine(a)
    await rec.until(lambda: "new.txt" in remote.tree_names()
                    and engine.folder(a).state == FolderState.IDLE, what="synced")
    files = remote.tree_files()
    assert files["docs/kept.txt"] == b"kept\n", "no file deleted by a misread index"
    assert files["README.txt"] == b"edited while the index was damaged\n"
    assert _infos(rec, "rebuilt the damaged index from the last commit")
    assert (a / ".git" / "autosync" / "index.damaged").read_bytes() == damaged
    assert remote.is_clean(a) and not _damage_errors(rec)


async def test_index_emptied_while_running_is_rebuilt(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).state == FolderState.IDLE, what="idle")
    (a / ".git" / "index").write_bytes(b"")  # "index file smaller than expected"
    (a / "after.txt").write_text("saved after the index was lost\n")
    await rec.until(lambda: "after.txt" in remote.tree_names(), what="the save synced")
    assert remote.tree_names() == {"README.txt", "after.txt"}
    assert _infos(rec, "rebuilt the damaged index")
    assert remote.is_clean(a)


# ---------------------------------------------------------------------- objects
async def test_missing_tree_of_head_is_fetched_again_at_start(
        remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    tree = git(a, "rev-parse", "HEAD^{tree}")
    _delete_object(a, tree)
    engine, rec = await start_engine(a)
    await rec.until(lambda: _infos(rec, "fetched every object again"), what="refetched")
    assert git(a, "cat-file", "-t", tree) == "tree"
    (a / "later.txt").write_text("later\n")
    await rec.until(lambda: "later.txt" in remote.tree_names(), what="synced")
    assert not _damage_errors(rec)


async def test_truncated_object_in_the_way_of_a_pull_is_fetched_again(
        remote: Remote, start_engine) -> None:
    """b fetched a's edit by hand (loose objects); its blob is then cut short. The pull
    must not write a broken file: the object is fetched again, then the file written."""
    a, b = remote.clone("a"), remote.clone("b")
    content = "".join(f"line {i} of a's edit\n" for i in range(2000))
    (a / "README.txt").write_text(content)
    commit(a, "a's edit", push=True)
    git(b, "fetch", "-q")
    blob = git(b, "rev-parse", "origin/main:README.txt")
    _truncate_object(b, blob)
    engine, rec = await start_engine(b)
    await rec.until(lambda: remote.synced(b) and engine.folder(b).state == FolderState.IDLE,
                    what="pulled")
    assert (b / "README.txt").read_text() == content
    assert _infos(rec, "fetched every object again")
    assert paths_ever_committed(remote.bare) == {"README.txt"}, "no partial file kept aside"
    versions = {blob_size(remote.bare, c, "README.txt")
                for c in commits_touching(remote.bare, "README.txt")}
    assert versions == {len("shared folder\n"), len(content)}, "no partial version pushed"


async def test_missing_blob_still_in_the_work_tree_is_written_again(
        remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    (a / "local.txt").write_text("committed here, never pushed\n")
    os.utime(a / "local.txt", (time.time() - 60, time.time() - 60))  # not racily clean:
    commit(a, "local")  # git add will not hash it again (which would write the object)
    _delete_object(a, git(a, "rev-parse", "HEAD:local.txt"))
    engine, rec = await start_engine(a)
    await rec.until(lambda: remote.tree_files().get("local.txt")
                    == b"committed here, never pushed\n", what="pushed after the repair")
    assert _infos(rec, "missing object(s) again from the files that still hold them")
    assert not _damage_errors(rec)


async def test_object_lost_everywhere_stops_the_folder_and_nothing_is_pushed(
        remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    before = remote.head()
    (a / "local.txt").write_text("first version, never pushed\n")
    commit(a, "local")
    blob = git(a, "rev-parse", "HEAD:local.txt")
    _delete_object(a, blob)
    (a / "local.txt").write_text("saved since: the first version is nowhere now\n")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    await rec.until(lambda: folder.state == FolderState.ERROR and _damage_errors(rec),
                    what="the folder in error")
    line = folder.error or ""
    assert line.startswith(f"{a}: the repository is damaged: an object is missing or corrupt")
    assert blob in line and "git fsck" in line and f"no damage reaches {remote.bare}" in line
    assert "did not restore it" in line, "the remote was asked first"
    assert remote.head() == before, "nothing was pushed"
    assert git(a, "show", "HEAD:local.txt") == "saved since: the first version is nowhere now"
    def pushes() -> int:
        return sum(1 for _f, state, _d in rec.states if state == FolderState.PUSHING)
    tried = pushes()
    engine.sync_now(a)  # looking again changes nothing, and says it once
    await rec.until(lambda: pushes() > tried and folder.state == FolderState.ERROR,
                    what="tried again")
    assert len(_damage_errors(rec)) == 1
    assert remote.head() == before


# ---------------------------------------------------------------------- refs
@pytest.mark.parametrize("damage", ["garbage", "empty", "deleted"])
async def test_branch_ref_set_back_from_its_reflog(remote: Remote, start_engine,
                                                   damage: str) -> None:
    a = remote.clone("a")
    head = remote.local_head(a)
    ref = a / ".git" / "refs" / "heads" / "main"
    assert ref.exists(), "git clone writes the branch as a loose ref"
    if damage == "garbage":
        ref.write_bytes(head[:17].encode() + b"\x00\x00\x00")
    elif damage == "empty":
        ref.write_bytes(b"")
    else:
        ref.unlink()
    (a / "after.txt").write_text("saved after the ref broke\n")
    engine, rec = await start_engine(a)
    await rec.until(lambda: "after.txt" in remote.tree_names(), what="synced")
    assert git(a, "rev-parse", "HEAD~1") == head, "history goes on; no new root commit"
    assert git(a, "rev-list", "--max-parents=0", "HEAD").splitlines() == \
        git(remote.bare, "rev-list", "--max-parents=0", "main").splitlines()
    assert _infos(rec, "set the damaged refs/heads/main back to")


async def test_branch_ref_broken_while_running(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).state == FolderState.IDLE, what="idle")
    head = remote.local_head(a)
    (a / ".git" / "refs" / "heads" / "main").write_bytes(b"")
    (a / "after.txt").write_text("saved after the ref broke\n")
    await rec.until(lambda: "after.txt" in remote.tree_names(), what="synced")
    assert git(a, "rev-parse", "HEAD~1") == head
    assert _infos(rec, "set the damaged refs/heads/main back to")


async def test_garbage_tracking_ref_is_dropped_and_fetched_again(
        remote: Remote, start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    (b / "from-b.txt").write_text("b\n")
    commit(b, "b", push=True)
    tracking = a / ".git" / "refs" / "remotes" / "origin" / "main"
    tracking.parent.mkdir(parents=True, exist_ok=True)
    tracking.write_bytes(b"not a commit id\n")  # a loose file wins over packed-refs
    engine, rec = await start_engine(a)
    await rec.until(lambda: (a / "from-b.txt").exists() and remote.synced(a), what="pulled")
    assert _infos(rec, "dropped the damaged refs/remotes/origin/main")


async def test_garbage_in_packed_refs_stops_the_folder_until_repaired(
        remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    git(a, "pack-refs", "--all")
    packed = a / ".git" / "packed-refs"
    good = packed.read_bytes()
    packed.write_bytes(good + b"garbage here\n")
    (a / "waiting.txt").write_text("saved while the refs were damaged\n")
    engine, rec = await start_engine(a)  # the folder starts, in error: not a crash
    folder = engine.folder(a)
    await rec.until(lambda: folder.state == FolderState.ERROR, what="error")
    line = folder.error or ""
    assert line.startswith(f"{a}: a ref in the repository is damaged (unexpected line in "
                           ".git/packed-refs: garbage here)")
    assert "Repair:" in line and "git reflog" in line and "\n" not in line
    assert "waiting.txt" not in remote.tree_names()
    packed.write_bytes(good)  # the user repairs it
    engine.sync_now(a)
    await rec.until(lambda: "waiting.txt" in remote.tree_names()
                    and folder.state == FolderState.IDLE, what="synced after the repair")
    assert _infos(rec, "the repository is sound again")
    assert len(_damage_errors(rec)) == 1


def test_damaged_head_file_is_named_when_checked(remote: Remote) -> None:
    """git does not even recognise a repository whose HEAD file is garbage; the check
    of a folder says what is wrong instead of "not inside a git work tree"."""
    from autosync_gui.engine.backends import validate_folder
    from autosync_gui.engine.repository import RepositoryError

    a = remote.clone("a")
    (a / ".git" / "HEAD").write_bytes(b"")
    with pytest.raises(RepositoryError) as raised:
        validate_folder(a)
    line = str(raised.value)
    assert line == (f"{a}/.git/HEAD is damaged (an empty file); repair: write the branch "
                    f"into it (echo 'ref: refs/heads/main' > {a}/.git/HEAD), then start "
                    "again")


def test_headless_instance_runs_on_beside_a_damaged_folder(remote: Remote,
                                                           tmp_path: Path) -> None:
    """`autosync run --headless` with one damaged folder of two: it starts, the damaged
    folder is in error (status says why), the other syncs."""
    from tests.control.cli_helpers import autosync, headless, wait_for, write_config

    a, b = remote.clone("a"), remote.clone("b")
    git(a, "pack-refs", "--all")
    with open(a / ".git" / "packed-refs", "ab") as fh:
        fh.write(b"garbage here\n")
    cfg = write_config(tmp_path / "config.toml", a, b)
    with headless(cfg, folders=2):
        def damaged_listed() -> dict[str, dict] | None:
            listed = autosync("status", "--json", config=cfg).json["folders"]
            by_path = {f["path"]: f for f in listed}
            return by_path if by_path[str(a)]["state"] == "error" else None
        by_path = wait_for(damaged_listed, what="the damaged folder in error")
        assert "packed-refs" in by_path[str(a)]["error"]
        (b / "from-b.txt").write_text("the other folder syncs on\n")
        wait_for(lambda: "from-b.txt" in remote.tree_names(), what="b synced")
