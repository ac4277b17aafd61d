"""Partial clones: a clone made by autosync leaves out large blobs (the remote allows
filters), a pull fetches the new large blobs it needs in one go, and an old version is
fetched on demand for a restore, with progress; offline, it says so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autosync_gui.engine import setup
from autosync_gui.engine.partial_clone import configure_bare_remote
from autosync_gui.engine.repository import RepositoryError
from tests.fixtures.files import bytes_unless_aside
from tests.fixtures.git_remotes import Remote, commit, git

LARGE = 100_000


def versions(remote: Remote, count: int) -> list[tuple[str, bytes]]:
    """`count` versions of video.bin pushed by hand: [(commit, content)]."""
    seed = remote.base / "seed"
    git(seed, "config", "user.name", "seed")
    git(seed, "config", "user.email", "seed@example.invalid")
    git(seed, "pull", "-q", "origin", "main")
    out = []
    for i in range(count):
        content = os.urandom(200_000 + i)
        (seed / "video.bin").write_bytes(content)
        commit(seed, f"version {i}")
        git(seed, "push", "-q", "origin", "HEAD:main")
        out.append((git(seed, "rev-parse", "HEAD"), content))
    return out


def present(clone: Path, sha: str) -> bool:
    import subprocess
    return subprocess.run(["git", "rev-list", "--objects", "--missing=print", sha],
                          cwd=clone, capture_output=True, check=False).returncode == 0


async def test_partial_clone_and_old_version_on_demand(remote: Remote, start_engine) -> None:
    configure_bare_remote(remote.bare)
    assert git(remote.bare, "config", "uploadpack.allowFilter") == "true"
    history = versions(remote, 3)
    blobs = [git(remote.bare, "rev-parse", f"{c}:video.bin") for c, _ in history]
    clone = remote.base / "laptop"
    setup.clone_remote(str(remote.bare), clone, large_file_size=LARGE)
    assert git(clone, "remote", "get-url", "origin") == str(remote.bare)  # as the user typed it
    assert git(clone, "config", "remote.origin.partialclonefilter") == f"blob:limit={LARGE}"
    assert (clone / "video.bin").read_bytes() == history[-1][1]  # the tip is there
    assert not present(clone, blobs[0]) and not present(clone, blobs[1])  # old ones are not

    engine, rec = await start_engine(clone, large_file_size=LARGE)
    folder = engine.folder(clone)
    await folder.ready.wait()
    assert not present(clone, blobs[0]), "start-up fetched an old version"
    listed = folder.repo.file_history.versions("video.bin")  # the history viewer's list
    assert len(listed) == 3 and not present(clone, blobs[0])  # listing downloads nothing
    await folder.restore(history[0][0], "video.bin")
    assert (clone / "video.bin").read_bytes() == history[0][1]
    assert present(clone, blobs[0]) and not present(clone, blobs[1])  # just that one
    fetched = [p for p in rec.progress if p.what == "old version" and p.finished]
    assert fetched and fetched[-1].done_bytes >= 200_000

    git(clone, "remote", "set-url", "origin", str(remote.base / "unplugged.git"))
    with pytest.raises(RepositoryError, match=r"video\.bin as of [0-9a-f]{10} is not on this "
                       r"machine yet .* try again when online"):
        await folder.restore(history[1][0], "video.bin")
    assert (clone / "video.bin").read_bytes() == history[0][1]  # nothing changed


async def test_pull_into_partial_clone_fetches_new_large_blobs(remote: Remote,
                                                               start_engine) -> None:
    configure_bare_remote(remote.bare)
    clone = remote.base / "laptop"
    setup.clone_remote(str(remote.bare), clone, large_file_size=LARGE)
    engine, rec = await start_engine(clone, large_file_size=LARGE)
    history = versions(remote, 1)
    engine.sync_now(clone)
    await rec.until(lambda: bytes_unless_aside(clone / "video.bin") == history[0][1],
                    timeout=60, what="the large file pulled")
    # fetched in one go before the pull wrote it (the branch fetch itself leaves it out)
    assert any(p.what == "git fetch" and p.finished and p.done_bytes >= 200_000
               for p in rec.progress)


def test_new_remote_serves_partial_clones_and_keeps_packs(tmp_path: Path) -> None:
    folder, bare = tmp_path / "docs", tmp_path / "docs.git"
    folder.mkdir()
    (folder / "a.txt").write_text("a\n")
    setup.create_new(folder, str(bare))
    for key, value in (("uploadpack.allowFilter", "true"), ("receive.unpackLimit", "1")):
        assert git(bare, "config", key) == value
