"""A conflict resolved on another machine is announced on this one too, naming whose
version is at the path and whose is in the copy, with full times."""

from __future__ import annotations

from autosync_gui.engine.events import ActivityKind
from tests.fixtures.git_remotes import Remote


async def test_a_conflict_resolved_elsewhere_is_announced_here(remote: Remote,
                                                               start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    engine_a, rec_a = await start_engine(a, hostname="alpha")
    engine_b, rec_b = await start_engine(b, hostname="bravo")
    await rec_a.until(lambda: engine_a.folder(a).ready.is_set(), what="a ready")
    await rec_b.until(lambda: engine_b.folder(b).ready.is_set(), what="b ready")
    engine_a.pause(a)
    engine_b.pause(b)
    (a / "README.txt").write_text("alpha's words\n")
    (b / "README.txt").write_text("bravo's words\n")
    engine_b.resume(b)
    await rec_b.until(lambda: rec_b.of(ActivityKind.PUSHED), what="bravo pushed")
    engine_a.resume(a)  # alpha merges and resolves the conflict
    (resolved,) = await rec_a.until(lambda: rec_a.of(ActivityKind.CONFLICT), what="alpha's")
    await rec_a.until(lambda: len(rec_a.of(ActivityKind.PUSHED)) >= 1, what="resolution pushed")
    engine_b.sync_now(b)
    (announced,) = await rec_b.until(lambda: rec_b.of(ActivityKind.CONFLICT),
                                      what="announced on bravo")
    mine, theirs = resolved.conflict, announced.conflict
    assert mine is not None and theirs is not None
    assert (theirs.path, theirs.copy_path) == (mine.path, mine.copy_path)
    assert {theirs.kept_host, theirs.copy_host} == {"alpha", "bravo"}
    assert (theirs.kept_host, theirs.kept_time) == (mine.kept_host, mine.kept_time)
    assert (theirs.copy_host, theirs.copy_time) == (mine.copy_host, mine.copy_time)
    assert "(resolved on alpha)" in announced.summary
    assert engine_b.folder(b).conflicts == [theirs]


async def test_conflicts_found_at_start_name_hosts_and_times(remote: Remote,
                                                             start_engine) -> None:
    a, b = remote.clone("a"), remote.clone("b")
    engine_a, rec_a = await start_engine(a, hostname="alpha")
    engine_b, rec_b = await start_engine(b, hostname="bravo")
    engine_a.pause(a)
    engine_b.pause(b)
    (a / "README.txt").write_text("alpha's words\n")
    (b / "README.txt").write_text("bravo's words\n")
    engine_b.resume(b)
    await rec_b.until(lambda: rec_b.of(ActivityKind.PUSHED), what="bravo pushed")
    engine_a.resume(a)
    (resolved,) = await rec_a.until(lambda: rec_a.of(ActivityKind.CONFLICT), what="resolved")
    await engine_a.stop(flush=False)
    later, rec = await start_engine(a, hostname="alpha")  # the copy is still there
    folder = later.folder(a)
    assert [c.copy_path for c in folder.conflicts] == [resolved.conflict.copy_path], \
        "known by its name right away"
    await rec.until(lambda: folder.conflicts == [resolved.conflict],
                    what="hosts and times read from history")
