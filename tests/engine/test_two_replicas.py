"""Two replicas of one remote: pulling, merging, conflicts kept, convergence."""

from __future__ import annotations

import os
from pathlib import Path

from autosync_gui.engine import conflict_rules as rules
from autosync_gui.engine.events import ActivityKind, FolderState
from tests.fixtures.git_remotes import (
    BACKENDS_AND_TRANSPORTS,
    BOTH_BACKENDS,
    Remote,
    commit,
    git,
)


def work_tree(clone: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(clone):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".hg")]
        for name in filenames:
            p = Path(dirpath) / name
            out[p.relative_to(clone).as_posix()] = p.read_bytes()
    return out


def no_markers(tree: dict[str, bytes]) -> bool:
    return not any(b"<<<<<<<" in v or b">>>>>>>" in v for v in tree.values())


async def settled(rec, engine, remote: Remote, *clones: Path) -> None:
    """Both replicas idle (or in conflict state) with clean trees equal to the remote."""
    def done() -> bool:
        return all(engine_state_ok(engine, c) and remote.is_clean(c) and remote.synced(c)
                   for c in clones) and all(remote.committed(c) == remote.committed(clones[0])
                                            for c in clones)
    await rec.until(done, timeout=60, what="replicas converged")


def engine_state_ok(engine, clone: Path) -> bool:
    return engine.folder(clone).state in (FolderState.IDLE, FolderState.CONFLICT)


@BACKENDS_AND_TRANSPORTS
async def test_change_on_a_appears_on_b(remote: Remote, start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    engine, rec = await start_engine(a, b)
    (a / "doc.txt").write_text("from a\n")
    engine.folder(a)  # exists
    await rec.until(lambda: rec.of(ActivityKind.PUSHED, a), what="push from a")
    engine.sync_now(b)
    await rec.until(lambda: rec.of(ActivityKind.PULLED, b), what="pull on b")
    assert (b / "doc.txt").read_text() == "from a\n"
    pulled = rec.of(ActivityKind.PULLED, b)
    assert pulled and pulled[-1].host == "host" and "doc.txt" in pulled[-1].files


@BOTH_BACKENDS  # (merges are local: the transports' push and pull are covered above)
async def test_non_overlapping_edits_merge(remote: Remote, start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    text = "".join(f"line {i}\n" for i in range(20))
    (a / "shared.txt").write_text(text)
    remote.commit(a, "shared", push=True)
    remote.pull(b)
    engine, rec = await start_engine(a, b)
    engine.pause(b)
    (a / "shared.txt").write_text(text.replace("line 1\n", "line 1 edited on a\n"))
    (b / "shared.txt").write_text(text.replace("line 18\n", "line 18 edited on b\n"))
    await rec.until(lambda: rec.of(ActivityKind.PUSHED, a), timeout=60, what="a pushed")
    engine.resume(b)
    await rec.until(lambda: rec.of(ActivityKind.PUSHED, b), timeout=60, what="b merged and pushed")
    engine.sync_now(a)
    await settled(rec, engine, remote, a, b)
    merged = (a / "shared.txt").read_text()
    assert "line 1 edited on a" in merged and "line 18 edited on b" in merged
    assert not rec.of(ActivityKind.CONFLICT)


async def _conflict(remote: Remote, start_engine, edit_a, edit_b, base: dict[str, bytes]):
    a, b = remote.clone("a"), remote.clone("b")
    for name, data in base.items():
        (a / name).write_bytes(data)
    if base:
        remote.commit(a, "base", push=True)
        remote.pull(b)
    engine_a, rec_a = await start_engine(a, hostname="alpha")
    engine_b, rec_b = await start_engine(b, hostname="beta")
    engine_b.pause(b)
    edit_a(a)
    await rec_a.until(lambda: rec_a.of(ActivityKind.PUSHED, a), timeout=60, what="a pushed")
    edit_b(b)
    engine_b.resume(b)
    await rec_b.until(lambda: rec_b.of(ActivityKind.PUSHED, b), timeout=60, what="b merged and pushed")
    engine_a.sync_now(a)
    await rec_a.until(lambda: remote.local_head(a) == remote.head()
                      and engine_a.folder(a).state in (FolderState.IDLE, FolderState.CONFLICT),
                      timeout=60, what="a caught up")
    tree_a, tree_b = work_tree(a), work_tree(b)
    assert tree_a == tree_b == remote.tree_files()
    assert no_markers(tree_a)
    return a, b, rec_b, tree_a, engine_a, engine_b


@BOTH_BACKENDS
async def test_same_lines_edited_keeps_both_versions(remote: Remote, start_engine) -> None:
    a, b, rec_b, tree, *_ = await _conflict(
        remote, start_engine,
        lambda a: (a / "report.txt").write_text("alpha's version\n"),
        lambda b: (b / "report.txt").write_text("beta's version\n"),
        {"report.txt": b"original\n"})
    copies = [p for p in tree if rules.parse_copy_name(p)]
    assert len(copies) == 1
    assert {tree["report.txt"], tree[copies[0]]} == {b"alpha's version\n", b"beta's version\n"}
    conflicts = rec_b.of(ActivityKind.CONFLICT)
    assert conflicts and conflicts[0].conflict.copy_path == copies[0]
    c = conflicts[0].conflict
    # The newer edit stays at the path (commit times tie within a second: then the
    # commit id decides); the other goes beside it, named after its host.
    assert c.kept_time >= c.copy_time
    assert tree["report.txt"] == f"{c.kept_host}'s version\n".encode()
    assert copies[0].startswith(f"report (conflict from {c.copy_host} ")
    assert copies[0].endswith(").txt")


@BOTH_BACKENDS
async def test_binary_edited_on_both_sides(remote: Remote, start_engine) -> None:
    blob = bytes(range(256)) * 40
    a, b, rec_b, tree, *_ = await _conflict(
        remote, start_engine,
        lambda a: (a / "image.bin").write_bytes(blob + b"\x00alpha"),
        lambda b: (b / "image.bin").write_bytes(blob + b"\x00beta"),
        {"image.bin": blob})
    versions = {v for k, v in tree.items() if k.startswith("image")}
    assert versions == {blob + b"\x00alpha", blob + b"\x00beta"}


@BOTH_BACKENDS
async def test_modify_delete_keeps_modified_file(remote: Remote, start_engine) -> None:
    a, b, rec_b, tree, *_ = await _conflict(
        remote, start_engine,
        lambda a: (a / "plan.txt").unlink(),
        lambda b: (b / "plan.txt").write_text("edited while a deleted it\n"),
        {"plan.txt": b"plan\n"})
    assert tree["plan.txt"] == b"edited while a deleted it\n"
    assert [c.conflict.kind for c in rec_b.of(ActivityKind.CONFLICT)] == ["modify/delete"]


@BOTH_BACKENDS
async def test_add_add_keeps_both(remote: Remote, start_engine) -> None:
    a, b, rec_b, tree, *_ = await _conflict(
        remote, start_engine,
        lambda a: (a / "new.txt").write_text("a's new file\n"),
        lambda b: (b / "new.txt").write_text("b's new file\n"),
        {})
    versions = {v for k, v in tree.items() if k.startswith("new")}
    assert versions == {b"a's new file\n", b"b's new file\n"}


async def test_resolution_is_deterministic(remote: Remote, start_engine, tmp_path) -> None:
    """Both replicas resolving the same conflict produce the same tree."""
    a, b = remote.clone("a"), remote.clone("b")
    (a / "f.txt").write_text("base\n")
    commit(a, "base", push=True)
    git(b, "pull", "-q")
    (a / "f.txt").write_text("a\n")
    (a / "g.txt").write_text("only a\n")
    commit(a, "a edit and g")
    (b / "f.txt").write_text("b\n")
    (b / "h.bin").write_bytes(b"\x00b")
    commit(b, "b edit")
    git(a, "fetch", "-q", str(b), "main:refs/remotes/peer/main")
    git(b, "fetch", "-q", str(a), "main:refs/remotes/peer/main")
    from autosync_gui.engine.gitrepo import GitRepository
    trees = []
    for clone, host in ((a, "alpha"), (b, "beta")):
        repo = GitRepository.open(clone, host)
        git(clone, "merge", "-q", "--no-edit", "peer/main", check=False)
        repo.resolve_and_finish_merge()
        repo.release()
        trees.append(git(clone, "rev-parse", "HEAD^{tree}"))
    assert trees[0] == trees[1]


@BOTH_BACKENDS
async def test_conflict_state_until_copy_removed(remote: Remote, start_engine) -> None:
    a, b, rec_b, tree, engine_a, engine_b = await _conflict(
        remote, start_engine,
        lambda a: (a / "c.txt").write_text("a\n"),
        lambda b: (b / "c.txt").write_text("b\n"),
        {"c.txt": b"base\n"})
    copy = next(p for p in tree if rules.parse_copy_name(p))
    # b resolved it; the copy arrived on a by a plain pull: a counts it as open too.
    await rec_b.until(lambda: engine_b.folder(b).state == FolderState.CONFLICT, what="b: conflict")
    assert [c.copy_path for c in engine_a.folder(a).conflicts] == [copy]
    (b / copy).unlink()  # the user settles it by deleting the copy
    await rec_b.until(lambda: engine_b.folder(b).state == FolderState.IDLE
                      and not engine_b.folder(b).conflicts, what="b: conflict settled")


@BOTH_BACKENDS
async def test_renamed_and_edited_against_edited_keeps_both(remote: Remote,
                                                           start_engine) -> None:
    """One machine renamed a file (a commit of its own) and edited it, the other edited it
    under the old name: both edits survive. hg follows the rename into a conflict at the
    new name, whose other side is at the old name: not a deletion."""
    a, b = remote.clone("a"), remote.clone("b")
    (a / "plan.txt").write_text("plan\n")
    remote.commit(a, "base", push=True)
    remote.pull(b)
    (a / "plan.txt").rename(a / "final plan.txt")
    remote.commit(a, "rename")
    (a / "final plan.txt").write_text("plan\nalpha's ending\n")
    remote.commit(a, "edit", push=True)
    (b / "plan.txt").write_text("plan\nbeta's ending\n")
    remote.commit(b, "edit under the old name")
    engine, rec = await start_engine(b, hostname="beta")
    await rec.until(lambda: remote.local_head(b) == remote.head()
                    and engine.folder(b).state in (FolderState.IDLE, FolderState.CONFLICT),
                    timeout=60, what="b merged and pushed")
    contents = set(work_tree(b).values())
    assert b"plan\nalpha's ending\n" in contents and b"plan\nbeta's ending\n" in contents
    assert work_tree(b) == remote.tree_files()
