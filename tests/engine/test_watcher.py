"""The watcher follows folders that move in, out and around (real inotify, real git)."""

from __future__ import annotations

import os

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
