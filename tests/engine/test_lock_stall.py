"""Issue 15, item 1: another git holding .git/index.lock while autosync commits. The
change stays pending through any number of successful syncs, is committed as soon as
the lock is gone, and a stall of more than a few seconds is said (state and one line)."""

from __future__ import annotations

from autosync_gui.engine import folder as folder_module
from autosync_gui.engine.events import FolderState
from tests.fixtures.git_remotes import Remote


async def test_commit_waits_for_index_lock_and_says_why(remote: Remote, start_engine,
                                                        monkeypatch) -> None:
    monkeypatch.setattr(folder_module, "LOCK_REPORT_AFTER", 0.5)  # "a few seconds", shorter
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    folder = engine.folder(a)
    await rec.until(lambda: folder.ready.is_set(), what="ready")
    lock = a / ".git" / "index.lock"
    lock.touch()  # as in the issue: `touch .git/index.lock; echo x > f`
    (a / "f.txt").write_text("x\n")
    await rec.until(lambda: folder.state == FolderState.PENDING and "index.lock" in folder.detail,
                    what="pending, saying which lock it waits for")
    synced = folder.last_sync
    engine.fetch_all()  # a successful sync meanwhile (it used to cancel the retry)
    await rec.until(lambda: folder.last_sync != synced, what="a sync went through")
    assert "f.txt" not in remote.tree_names()
    lock.unlink()
    await rec.until(lambda: remote.tree_files().get("f.txt") == b"x\n", what="committed after")
    said = [e.summary for e in rec.activities if "index.lock" in e.summary]
    assert len(said) == 1, said
    assert "another git process holds .git/index.lock" in said[0]
    await rec.until(lambda: folder.state == FolderState.IDLE, what="idle again")
    assert folder.detail == ""
