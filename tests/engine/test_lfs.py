"""Git LFS between two replicas through a real LFS server (giftless over TLS with basic
auth on 127.0.0.1): push, pull, a conflict and a restore of LFS files; the filter set up in
the repository only, pulled .gitattributes still unable to name any other filter."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from pathlib import Path

import pytest

from autosync_gui.engine.events import ActivityKind, TransferDirection
from autosync_gui.engine.lfs import parse_pointer
from tests.fixtures.git_remotes import Remote, git
from tests.fixtures.lfs_server import LfsServer

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="needs git-lfs")
LARGE = 100_000


@pytest.fixture(autouse=True)
def _own_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine may export GIT_SSL_CAINFO, which would override http.sslCAInfo.
    monkeypatch.delenv("GIT_SSL_CAINFO", raising=False)


def replicas(remote: Remote, server: LfsServer) -> tuple[Path, Path]:
    a, b = remote.clone("a"), remote.clone("b")
    server.configure(a)
    server.configure(b)
    return a, b


def pointer_on_remote(remote: Remote, path: str) -> tuple[str, int] | None:
    return parse_pointer(remote.tree_files().get(path, b""))


async def test_large_file_goes_through_lfs_and_arrives_whole(remote: Remote, lfs_server,
                                                             start_engine) -> None:
    a, b = replicas(remote, lfs_server)
    engine_a, rec_a = await start_engine(a, hostname="alpha", large_file_size=LARGE)
    engine_b, rec_b = await start_engine(b, hostname="beta", large_file_size=LARGE)
    payload = os.urandom(300_000)
    (a / "clip.mp4").write_bytes(payload)
    (a / "small.txt").write_text("not large\n")
    await rec_a.until(lambda: rec_a.of(ActivityKind.PUSHED), timeout=60, what="push")
    pointer = pointer_on_remote(remote, "clip.mp4")
    assert pointer == (hashlib.sha256(payload).hexdigest(), len(payload))
    assert remote.tree_files()["small.txt"] == b"not large\n"  # small files stay in git
    assert pointer[0] in lfs_server.stored_objects()
    assert "/clip*.mp4 filter=lfs" in remote.tree_files()[".gitattributes"].decode()
    assert not rec_a.of(ActivityKind.LARGE_FILE)  # history keeps a pointer only
    uploads = [p for p in rec_a.progress if p.what == "LFS upload"]
    assert uploads and uploads[-1].finished and uploads[-1].direction == TransferDirection.UPLOAD
    # The filter lives in the repository's own config; no hook was installed anywhere.
    assert git(a, "config", "--local", "filter.lfs.process") == "git-lfs filter-process"
    assert not [h for h in (a / ".git" / "hooks").iterdir() if not h.name.endswith(".sample")]

    engine_b.sync_now(b)
    await rec_b.until(lambda: rec_b.of(ActivityKind.PULLED), timeout=60, what="clip on b")
    assert (b / "clip.mp4").read_bytes() == payload
    assert any(p.what == "LFS download" and p.finished for p in rec_b.progress)
    await rec_b.until(lambda: engine_b.folder(b).state.value == "idle", what="b idle")
    assert git(b, "status", "--porcelain") == ""


async def test_lfs_conflict_and_restore(remote: Remote, lfs_server, start_engine) -> None:
    a, b = replicas(remote, lfs_server)
    engine_a, rec_a = await start_engine(a, hostname="alpha", large_file_size=LARGE)
    engine_b, rec_b = await start_engine(b, hostname="beta", large_file_size=LARGE)
    first = os.urandom(200_000)
    (a / "scan.tif").write_bytes(first)
    await rec_a.until(lambda: rec_a.of(ActivityKind.PUSHED), timeout=60, what="first push")
    engine_b.sync_now(b)
    await rec_b.until(lambda: rec_b.of(ActivityKind.PULLED), timeout=60, what="on b")
    assert (b / "scan.tif").read_bytes() == first
    first_commit = git(a, "rev-parse", "HEAD")

    engine_b.pause(b)
    ours, theirs = os.urandom(200_000), os.urandom(200_000)
    (b / "scan.tif").write_bytes(theirs)
    pushed = len(rec_a.of(ActivityKind.PUSHED))
    (a / "scan.tif").write_bytes(ours)
    await rec_a.until(lambda: len(rec_a.of(ActivityKind.PUSHED)) > pushed, timeout=60,
                      what="a's edit pushed")
    engine_b.resume(b)
    await rec_b.until(lambda: rec_b.of(ActivityKind.CONFLICT), timeout=60, what="conflict")
    conflict = rec_b.of(ActivityKind.CONFLICT)[-1].conflict
    assert conflict is not None and conflict.copy_path is not None
    versions = {(b / "scan.tif").read_bytes(), (b / conflict.copy_path).read_bytes()}
    assert versions == {ours, theirs}  # both real content, no pointer text
    await rec_b.until(lambda: remote.tree_names() >= {conflict.copy_path}, timeout=60,
                      what="the copy pushed")
    copy_pointer = pointer_on_remote(remote, conflict.copy_path)
    assert copy_pointer is not None and copy_pointer[0] in lfs_server.stored_objects()
    engine_a.sync_now(a)
    await rec_a.until(lambda: any(conflict.copy_path in x.files
                                  for x in rec_a.of(ActivityKind.PULLED)), timeout=60,
                      what="copy on a")
    assert {(a / "scan.tif").read_bytes(), (a / conflict.copy_path).read_bytes()} == versions

    # Restore the first version on b after dropping b's local copy of it: fetched again.
    oid = hashlib.sha256(first).hexdigest()
    local = b / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    local.unlink(missing_ok=True)  # (maintenance may have pruned it already)
    await engine_b.folder(b).restore(first_commit, "scan.tif")
    assert (b / "scan.tif").read_bytes() == first
    assert local.exists()
    await rec_b.until(lambda: pointer_on_remote(remote, "scan.tif") == (oid, len(first)),
                      timeout=60, what="the restored version synced")


async def test_without_git_lfs_large_files_stay_in_git_with_one_line(
        remote: Remote, lfs_server, start_engine, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    a = remote.clone("a")
    lfs_server.configure(a)  # an LFS server is configured, but this machine lacks git-lfs
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(bin_dir))
    engine, rec = await start_engine(a, large_file_size=LARGE)
    payload = os.urandom(150_000)
    (a / "clip.mp4").write_bytes(payload)
    await rec.until(lambda: rec.of(ActivityKind.PUSHED), timeout=60, what="pushed")
    assert remote.tree_files()["clip.mp4"] == payload  # plain git, no pointer
    lines = [x.summary for x in rec.of(ActivityKind.INFO) if "git-lfs" in x.summary]
    assert lines == [f"{a}: large files stay in git history: git-lfs is not installed "
                     "(Debian: apt install git-lfs)"]
    assert len(rec.of(ActivityKind.LARGE_FILE)) == 1


async def test_a_synced_lfsconfig_switches_lfs_off_with_one_line(remote: Remote, lfs_server,
                                                                 start_engine) -> None:
    a, b = replicas(remote, lfs_server)
    engine_a, rec_a = await start_engine(a, hostname="alpha", large_file_size=LARGE)
    payload = os.urandom(150_000)
    (a / "clip.mp4").write_bytes(payload)
    await rec_a.until(lambda: rec_a.of(ActivityKind.PUSHED), timeout=60, what="pushed")
    await engine_a.stop(flush=False)
    # Someone who can push adds a .lfsconfig naming their own server.
    (a / ".lfsconfig").write_text("[lfs]\n\turl = https://127.0.0.1:9/attacker\n\t"
                                  "pushurl = https://127.0.0.1:9/attacker\n")
    git(a, "add", ".lfsconfig")
    git(a, "commit", "-q", "-m", "lfsconfig")
    git(a, "push", "-q", "origin", "HEAD:main")
    engine_b, rec_b = await start_engine(b, hostname="beta", large_file_size=LARGE)
    await rec_b.until(lambda: rec_b.of(ActivityKind.PULLED), timeout=60, what="pulled")
    notes = [x.summary for x in rec_b.of(ActivityKind.INFO) if ".lfsconfig" in x.summary]
    assert len(notes) == 1 and "Git LFS is off here" in notes[0], [x.summary for x in rec_b.activities]
    assert parse_pointer((b / "clip.mp4").read_bytes()) is not None  # not fetched from it
    assert "filter=lfs" not in (b / ".git" / "info" / "attributes").read_text()
    assert not rec_b.of(ActivityKind.ERROR)


def test_only_rules_shaped_like_autosyncs_own_are_taken() -> None:
    from autosync_gui.engine.lfs import BEGIN, END, rule_for, rules_in, with_rules

    assert rule_for("films/raw take.mov") == "/films/raw[ ]take*.mov"
    assert rule_for("a*b[1].x") == "/a\\*b\\[1\\]*.x"
    assert rule_for("bad\tname.bin") is None
    text = "\n".join(["*.txt text", BEGIN,
                      "/clip*.mp4 filter=lfs diff=lfs merge=lfs -text",
                      "/evil* filter=evil diff=lfs merge=lfs -text",  # another driver
                      "* filter=lfs diff=lfs merge=lfs -text",  # everything
                      "/x*.bin filter=lfs diff=lfs merge=lfs -text text",  # extra attribute
                      "/a/**/b* filter=lfs diff=lfs merge=lfs -text",  # more than one glob
                      END, "/outside* filter=lfs diff=lfs merge=lfs -text"])
    assert rules_in(text) == ["/clip*.mp4"]
    rewritten = with_rules(text, ["/new*.iso", "/clip*.mp4"])
    assert rewritten.startswith("*.txt text\n")  # the user's lines stay
    assert rules_in(rewritten) == ["/clip*.mp4", "/new*.iso"]


async def test_large_file_waits_while_the_lfs_server_is_unreachable(
        remote: Remote, lfs_server, start_engine) -> None:
    a = remote.clone("a")
    lfs_server.configure(a)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once the socket is closed
    git(a, "config", "lfs.url", f"https://127.0.0.1:{closed}/autosync/shared.git/info/lfs")
    engine, rec = await start_engine(a, large_file_size=LARGE)
    payload = os.urandom(150_000)
    (a / "clip.mp4").write_bytes(payload)
    (a / "notes.txt").write_text("synced meanwhile\n")
    await rec.until(lambda: "notes.txt" in remote.tree_names(), timeout=60, what="notes")
    assert "clip.mp4" not in remote.tree_names()  # not into git history while offline
    waiting = [x.summary for x in rec.of(ActivityKind.INFO) if "cannot be reached" in x.summary]
    assert len(waiting) == 1 and "1 large file(s) wait" in waiting[0]
    git(a, "config", "lfs.url", lfs_server.url)  # the server answers again
    (a / "notes.txt").write_text("a later save\n")
    await rec.until(lambda: "clip.mp4" in remote.tree_names(), timeout=60, what="clip")
    assert pointer_on_remote(remote, "clip.mp4") == (hashlib.sha256(payload).hexdigest(),
                                                     len(payload))
