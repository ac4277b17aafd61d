"""hg merges built in the scratch share, on real repositories: what only the Mercurial
backend can get wrong (the shared behaviours run on both backends in test_two_replicas)."""

from __future__ import annotations

import shutil

import pytest

from autosync_gui.engine import conflict_rules as rules
from autosync_gui.engine.hg.repository import HgRepository
from tests.fixtures.hg_remotes import HgRemote, hg

pytestmark = pytest.mark.skipif(shutil.which("hg") is None, reason="Mercurial is not installed")


def test_a_conflict_writes_the_heads_versions_whatever_the_dates(hg_remote: HgRemote) -> None:
    """The other side deleted the file and then brought it back in a changeset dated
    earlier (clocks differ between machines): its newest changeset touching the file is
    the deletion, yet its version is the one at its head."""
    a, b = hg_remote.clone("a"), hg_remote.clone("b")
    (a / "f.txt").write_text("base\n")
    hg_remote.commit(a, "base", push=True)
    hg_remote.pull(b)
    (b / "f.txt").unlink()
    hg(b, "commit", "-q", "-A", "-m", "delete", "-d", "2030-01-02 00:00 +0000")
    (b / "f.txt").write_text("b's version\n")
    hg(b, "commit", "-q", "-A", "-m", "back", "-d", "2001-01-01 00:00 +0000")
    hg(b, "push", "-q")
    (a / "f.txt").write_text("a's version\n")
    hg_remote.commit(a, "edit")
    repo = HgRepository.open(a, "alpha")
    try:
        repo.recover()
        repo.fetch()
        result = repo.integrate()
    finally:
        repo.release()
    copies = [p.name for p in a.iterdir() if rules.parse_copy_name(p.name)]
    assert len(copies) == 1 and len(result.conflicts) == 1
    contents = {(a / "f.txt").read_text(), (a / copies[0]).read_text()}
    assert contents == {"a's version\n", "b's version\n"}
    assert hg(a, "status") == ""


def test_scratch_shares_are_gone_after_a_merge(hg_remote: HgRemote) -> None:
    a, b = hg_remote.clone("a"), hg_remote.clone("b")
    (b / "theirs.txt").write_text("b\n")
    hg_remote.commit(b, "b", push=True)
    (a / "mine.txt").write_text("a\n")
    hg_remote.commit(a, "a")
    repo = HgRepository.open(a, "alpha")
    try:
        repo.recover()
        repo.fetch()
        repo.integrate()
    finally:
        repo.release()
    assert (a / "theirs.txt").read_text() == "b\n"
    assert not list((a / ".hg" / "autosync").glob("merge-*"))
    assert hg(a, "log", "-r", ".", "-T", "{p2.node}") != "0" * 40, "a merge changeset"


def test_a_remote_left_mid_transaction_gets_one_line_naming_hg_recover(
        hg_remote: HgRemote) -> None:
    """A push cut off (the remote's disk unplugged, torture) leaves a journal in the
    remote: every later push aborts, and the user is told what to run where."""
    from autosync_gui.engine.remote import RemoteError

    a = hg_remote.clone("a")
    (a / "f.txt").write_text("one\n")
    hg_remote.commit(a, "one", push=True)
    (hg_remote.bare / ".hg" / "store" / "journal").write_bytes(b"")
    (a / "f.txt").write_text("two\n")
    hg_remote.commit(a, "two")
    repo = HgRepository.open(a, "alpha")
    try:
        with pytest.raises(RemoteError) as raised:
            repo.push()
    finally:
        repo.release()
    assert "\n" not in str(raised.value)
    assert f"hg recover -R {hg_remote.bare}" in str(raised.value)
    assert not raised.value.offline
