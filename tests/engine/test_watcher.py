"""The watcher follows folders that move in, out and around (real inotify, real git)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from autosync_gui.engine.watcher import ECHO_READ_EVERY, TreeWatcher
from tests.fixtures.git_remotes import Remote
from tests.fixtures.writers import move_folder_in


async def test_folder_moved_in_is_watched(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    inbox = move_folder_in(a, "inbox", {"deep/first.txt": b"moved in\n"})
    await rec.until(lambda: "inbox/deep/first.txt" in remote.tree_names(), what="moved in")
    (inbox / "deep" / "second.txt").write_text("written after the move\n")
    await rec.until(lambda: "inbox/deep/second.txt" in remote.tree_names(),
                    what="a file written inside the moved-in folder")


async def test_folder_moved_out_and_back_in(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    (a / "docs" / "sub").mkdir(parents=True)
    (a / "docs" / "sub" / "a.txt").write_text("a\n")
    engine, rec = await start_engine(a)
    await rec.until(lambda: "docs/sub/a.txt" in remote.tree_names(), what="docs synced")
    outside = a.parent / "docs-outside"
    os.rename(a / "docs", outside)
    await rec.until(lambda: "docs/sub/a.txt" not in remote.tree_names(), what="move out synced")
    (outside / "sub" / "b.txt").write_text("written outside\n")  # no watch may report this
    os.rename(outside, a / "papers")
    await rec.until(lambda: {"papers/sub/a.txt", "papers/sub/b.txt"} <= remote.tree_names(),
                    what="moved back in under a new name")
    (a / "papers" / "sub" / "c.txt").write_text("c\n")
    await rec.until(lambda: "papers/sub/c.txt" in remote.tree_names(), what="watched again")


def test_during_our_own_pull_file_events_are_counted_and_folders_still_watched(
        tmp_path: Path) -> None:
    """echo_only (set while a pull writes), past echo_skip_after events: the files'
    events become one unknown change; a folder made meanwhile is watched, a repository
    made inside is still noticed."""
    root = tmp_path / "tree"
    root.mkdir()
    (root / "old.txt").write_text("old\n")
    changes: list[str] = []
    nested: list[str] = []
    watcher = TreeWatcher(root, root, on_change=lambda rel, _kind: changes.append(rel),
                          on_rescan=lambda _why: changes.append("rescan"),
                          on_nested=nested.append, on_limit=lambda _n, _l: None)
    watcher.add_watches()
    loop = asyncio.new_event_loop()
    try:
        watcher.attach(loop)
        watcher.echo_only = True
        watcher.echo_skip_after = 3
        (root / "first.txt").write_text("pulled\n")
        watcher.drain()
        assert "first.txt" in changes  # (a small pull's events are classified)
        changes.clear()
        for i in range(50):
            (root / f"f{i}.txt").write_text("pulled\n")
        (root / "old.txt").rename(tmp_path / "aside")
        (root / "new").mkdir()
        (root / "new" / "inside.txt").write_text("pulled\n")
        (root / "sub").mkdir()
        (root / "sub" / ".git").mkdir()
        watcher.drain()
        assert "" in changes and "new" in changes
        assert not [rel for rel in changes if rel.endswith(".txt")], changes
        assert nested == ["sub"]
        watcher.echo_only = False
        changes.clear()
        (root / "new" / "later.txt").write_text("a save after the pull\n")
        (root / "f1.txt").write_text("another\n")
        watcher.drain()
        assert {"new/later.txt", "f1.txt"} <= set(changes)
    finally:
        watcher.stop()
        loop.close()


def test_during_our_own_pull_events_are_read_in_batches_then_each_again(
        tmp_path: Path) -> None:
    """While a pull writes (echo_only), the loop is not woken for every few events (its
    thread would take the interpreter from the thread moving files as often): they are
    read every ECHO_READ_EVERY seconds; after it, each again as it comes."""
    root = tmp_path / "tree"
    root.mkdir()
    changes: list[str] = []
    watcher = TreeWatcher(root, root, on_change=lambda rel, _kind: changes.append(rel),
                          on_rescan=lambda _why: changes.append("rescan"),
                          on_nested=lambda _rel: None, on_limit=lambda _n, _l: None)
    watcher.add_watches()
    reads = 0
    read = watcher._read

    def counted_read() -> None:
        nonlocal reads
        reads += 1
        read()

    watcher._read = counted_read  # type: ignore[method-assign]
    loop = asyncio.new_event_loop()

    async def writes(count: int, pause: float) -> None:
        for i in range(count):
            (root / f"f{i}.txt").write_text("pulled\n")
            await asyncio.sleep(pause)  # (the loop runs between writes, as beside a pull)

    try:
        watcher.attach(loop)
        watcher.echo_only = True
        watcher.echo_skip_after = 10_000
        started = loop.time()
        loop.run_until_complete(writes(200, 0.001))
        elapsed = loop.time() - started
        loop.run_until_complete(asyncio.sleep(2 * ECHO_READ_EVERY))
        assert {f"f{i}.txt" for i in range(200)} <= set(changes)
        assert reads <= elapsed / ECHO_READ_EVERY + 3, (reads, elapsed)
        watcher.echo_only = False
        changes.clear()
        reads = 0
        loop.run_until_complete(writes(20, 0.01))
        assert reads >= 10 and {f"f{i}.txt" for i in range(20)} <= set(changes)
    finally:
        watcher.stop()
        loop.close()
