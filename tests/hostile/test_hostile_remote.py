"""A hostile remote: an attacker with push access crafts commits with plain git plumbing,
and a victim runs the real engine. Nothing may be written into .git or outside the
folder, no hook or driver named by pulled content may run, the victim's own later saves
are still committed, and no byte of the victim's files is lost. Each case runs for both
sizes of pull (a few files, and more than 200)."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autosync_gui.engine.events import ActivityKind, Conflict, FolderState
from autosync_gui.engine.repository import RepositoryError
from tests.fixtures.attacker import Attacker, snapshot
from tests.fixtures.files import bytes_unless_aside
from tests.fixtures.git_remotes import Remote, commit, git

BULK = 250  # above the old limit where big pulls went through git's own checkout


@pytest.fixture(params=["small", "big"])
def bulk(request: pytest.FixtureRequest) -> dict[str, tuple[str, bytes | str]]:
    n = 0 if request.param == "small" else BULK
    return {f"bulk/file {i}.txt": ("100644", f"bulk {i}\n") for i in range(n)}


class Victim:
    """The victim's folder, engine and everything it owns outside the folder."""

    def __init__(self, remote: Remote, attacker: Attacker, home: Path, engine, rec,
                 folder: Path) -> None:
        self.remote, self.attacker, self.home = remote, attacker, home
        self.engine, self.rec, self.path = engine, rec, folder
        self.marker = remote.base / "PWNED"
        self._before = self._outside()

    @property
    def folder(self):
        return self.engine.folder(self.path)

    def _outside(self) -> dict[str, str]:
        git_dir = self.path / ".git"
        return {**snapshot(self.home, self.remote.base,
                           skip=(self.path, self.remote.bare, self.attacker.clone,
                                 self.remote.base / "seed")),
                **snapshot(git_dir / "hooks", git_dir / "info", git_dir / "config")}

    def assert_nothing_outside_changed(self) -> None:
        assert not self.marker.exists(), "a hook or driver named by pulled content ran"
        after = self._outside()
        changed = {k for k in set(after) | set(self._before)
                   if after.get(k) != self._before.get(k)}
        assert not changed, f"written outside the folder or inside .git: {sorted(changed)}"

    async def pull(self) -> None:
        self.folder.request_sync()

    async def refused(self, commit: str) -> str:
        await self.rec.until(lambda: self.folder.state == FolderState.ERROR
                             and "refused" in self.folder.detail, timeout=30,
                             what="the pull refused")
        errors = [e.summary for e in self.rec.of(ActivityKind.ERROR, self.path)]
        assert any(commit[:12] in e for e in errors), errors
        assert all("\n" not in e for e in errors)
        return self.folder.detail

    async def own_save_is_committed(self, name: str = "mine.txt") -> None:
        (self.path / name).write_text("the victim's own save\n")
        await self.rec.until(
            lambda: name in git(self.path, "log", "-1", "--name-only", "--format="),
            timeout=30, what="the victim's save committed locally")

    async def fixed(self, name: str) -> None:
        await self.rec.until(lambda: (self.path / name).exists()
                             and self.folder.state == FolderState.IDLE, timeout=40,
                             what="the fix applied")


@pytest.fixture
async def victim(remote: Remote, attacker: Attacker, isolated_home: Path, start_engine
                 ) -> Victim:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    return Victim(remote, attacker, isolated_home, engine, rec, a)


def _hook(marker: Path) -> str:
    return f"#!/bin/sh\ntouch '{marker}'\n"


# ------------------------------------------------------------------ 1. .git and ..
@pytest.mark.parametrize("dotgit", [".git", ".GIT", ".Git ", "git~1", ".git.",
                                    ".g\u200cit"])
async def test_entry_into_dot_git_is_refused(victim: Victim, attacker: Attacker, bulk,
                                             dotgit: str) -> None:
    hook = ("100755", _hook(victim.marker))
    sha = attacker.push_files({f"{dotgit}/hooks/reference-transaction": hook,
                               f"{dotgit}/hooks/post-merge": hook,
                               "innocent.txt": ("100644", "hello\n"), **bulk})
    await victim.pull()
    await victim.refused(sha)
    assert not (victim.path / "innocent.txt").exists(), "nothing of the commit is written"
    await victim.own_save_is_committed()
    assert not victim.marker.exists()
    # the owner removes the entry: the fix is applied normally, the victim's save pushed
    attacker.push_tree(attacker.tree({"fixed.txt": ("100644", "fixed\n"), **bulk},
                                     keep_current=False), "remove the bad entry")
    await victim.pull()
    await victim.fixed("fixed.txt")
    await victim.rec.until(lambda: "mine.txt" in victim.remote.tree_names(), timeout=30,
                           what="the victim's save pushed")
    victim.assert_nothing_outside_changed()


async def test_dot_dot_entry_is_refused(victim: Victim, attacker: Attacker, bulk) -> None:
    sha = attacker.push_files({"../escaped.txt": ("100644", "outside\n"),
                               "..": ("100644", "dotdot\n"), **bulk})
    await victim.pull()
    await victim.refused(sha)
    assert not (victim.path.parent / "escaped.txt").exists()
    await victim.own_save_is_committed()
    victim.assert_nothing_outside_changed()


# ------------------------------------------------------------------ 2. symbolic links
async def _link_to_outside(victim: Victim, attacker: Attacker, tmp_path: Path) -> Path:
    """A pulled link `evil` to a folder outside the victim's (legitimate content)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim._before = victim._outside()
    attacker.push_files({"evil": ("120000", str(outside))})
    await victim.pull()
    await victim.rec.until(lambda: (victim.path / "evil").is_symlink(), what="link pulled")
    return outside


async def test_no_write_through_a_pulled_symlink(victim: Victim, attacker: Attacker, bulk,
                                                 tmp_path: Path) -> None:
    outside = await _link_to_outside(victim, attacker, tmp_path)
    # a tree that holds both the link and a folder of the same name
    attacker.sync()
    keys = attacker.blob("ssh-ed25519 AAAA attacker\n")
    folder = attacker.raw_tree([("100644", b"authorized_keys", keys)])
    current = attacker.tree({})
    listing = git(attacker.clone, "ls-tree", current).splitlines()
    entries = []
    for line in listing:
        meta, name = line.split("\t", 1)
        mode, _kind, oid = meta.split()
        entries.append((mode, name.encode(), oid))
    entries.append(("40000", b"evil", folder))
    for path, (mode, data) in bulk.items():
        entries.append((mode, path.encode().replace(b"/", b"-"), attacker.blob(data)))
    sha = attacker.push_tree(attacker.raw_tree(sorted(entries, key=lambda e: e[1])))
    await victim.pull()
    await victim.refused(sha)
    assert list(outside.iterdir()) == []
    await victim.own_save_is_committed()
    victim.assert_nothing_outside_changed()


async def test_link_replaced_by_a_folder_writes_inside(victim: Victim, attacker: Attacker,
                                                       bulk, tmp_path: Path) -> None:
    outside = await _link_to_outside(victim, attacker, tmp_path)
    attacker.push_tree(_without(attacker, "evil",
                                {"evil/authorized_keys": ("100644", "key\n"), **bulk}))
    await victim.pull()
    await victim.rec.until(lambda: (victim.path / "evil" / "authorized_keys").is_file()
                           and not (victim.path / "evil").is_symlink(), timeout=30,
                           what="the folder replaced the link")
    assert list(outside.iterdir()) == []
    victim.assert_nothing_outside_changed()


def _without(attacker: Attacker, name: str, files: dict) -> str:
    """The remote's tree without `name`, plus `files`."""
    attacker.sync()
    listing = git(attacker.clone, "ls-tree", "-r", "origin/main").splitlines()
    entries = {}
    for line in listing:
        meta, path = line.split("\t", 1)
        mode, _kind, oid = meta.split()
        if path != name:
            entries[path] = (mode, "sha:" + oid)
    entries.update(files)
    return attacker.tree(entries, keep_current=False)


async def test_symlink_named_like_an_old_temporary_is_harmless(victim: Victim,
                                                                attacker: Attacker,
                                                                bulk) -> None:
    bashrc = victim.home / ".bashrc"
    bashrc.write_text("the victim's shell set-up\n")
    bashrc.chmod(0o600)
    victim._before = victim._outside()
    digest = hashlib.sha1(b"README.txt", usedforsecurity=False).hexdigest()[:16]
    traps = {f".autosync-ff-{kind}-{digest}.part": ("120000", str(bashrc))
             for kind in ("new", "old")}
    attacker.push_files(traps)
    await victim.pull()
    await victim.rec.until(lambda: os.path.islink(victim.path / next(iter(traps))),
                           what="links pulled")
    attacker.push_files({"README.txt": ("100644", "changed by the peer\n"), **bulk})
    await victim.pull()
    await victim.rec.until(lambda: bytes_unless_aside(victim.path / "README.txt")
                           == b"changed by the peer\n", timeout=30, what="pulled")
    assert bashrc.read_text() == "the victim's shell set-up\n"
    assert bashrc.stat().st_mode & 0o777 == 0o600
    victim.assert_nothing_outside_changed()


async def test_restore_and_conflict_actions_never_follow_a_link(victim: Victim,
                                                                 tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (victim.path / "docs").mkdir()
    (victim.path / "docs" / "x.txt").write_text("old version\n")
    commit(victim.path, "docs")
    old = git(victim.path, "rev-parse", "HEAD")
    git(victim.path, "rm", "-rq", "docs")
    (victim.path / "docs").symlink_to(outside)
    commit(victim.path, "docs is a link now")
    with pytest.raises(RepositoryError, match="symbolic link"):
        await victim.folder.restore(old, "docs/x.txt")
    now = datetime.now(UTC)
    bait = Conflict(path="docs/x.txt", copy_path="docs/x (conflict from m 2026-01-01 00.00).txt",
                    kind="content", kept_host="a", kept_time=now, copy_host="m",
                    copy_time=now)
    (outside / "x (conflict from m 2026-01-01 00.00).txt").write_text("outside\n")
    for keep in ("original", "copy", "both"):
        with pytest.raises(RepositoryError, match="symbolic link"):
            await victim.folder.resolve_conflict(bait, keep)  # type: ignore[arg-type]
    assert sorted(p.name for p in outside.iterdir()) == [
        "x (conflict from m 2026-01-01 00.00).txt"]


# ------------------------------------------------------------------ 4. attributes
async def test_pulled_attributes_change_no_byte_and_run_no_driver(
        victim: Victim, attacker: Attacker, remote: Remote, bulk) -> None:
    marker = victim.marker
    script = f"touch '{marker}'; cat"
    with open(victim.home / ".gitconfig", "a") as fh:  # drivers this user has configured
        fh.write(f"[filter \"evil\"]\n\tclean = sh -c \"{script}\"\n\tsmudge = sh -c "
                 f"\"{script}\"\n[diff \"evil\"]\n\ttextconv = sh -c \"{script}\"\n"
                 f"[merge \"evil\"]\n\tdriver = sh -c \"touch '{marker}'\"\n")
    victim._before = victim._outside()
    attacker.push_files({".gitattributes": ("100644", "* text eol=crlf filter=evil "
                                            "diff=evil merge=evil ident\n"), **bulk})
    await victim.pull()
    await victim.rec.until(lambda: (victim.path / ".gitattributes").exists(), what="pulled")
    data = b"\x00binary\r\nwith\nmixed\r\nline ends $Id$\n"
    (victim.path / "photo.bin").write_bytes(data)
    (victim.path / "notes.txt").write_bytes(b"one\ntwo\n")
    await victim.rec.until(lambda: {"photo.bin", "notes.txt"} <= remote.tree_names(),
                           timeout=30, what="pushed")
    files = remote.tree_files()
    assert files["photo.bin"] == data
    assert files["notes.txt"] == b"one\ntwo\n"
    # a true merge of a conflicting edit: no merge driver runs either
    attacker.push_files({"notes.txt": ("100644", "one\nTWO from the peer\n")})
    (victim.path / "notes.txt").write_bytes(b"one\ntwo from the victim\n")
    await victim.pull()
    await victim.rec.until(lambda: any("conflict from" in n for n in remote.tree_names()),
                           timeout=30, what="conflict resolved and pushed")
    assert (victim.path / "photo.bin").read_bytes() == data
    victim.assert_nothing_outside_changed()


# ------------------------------------------------------------------ 5. ignored files
@pytest.mark.parametrize("merge", [False, True], ids=["fast-forward", "true-merge"])
async def test_pull_never_replaces_an_ignored_file(remote: Remote, attacker: Attacker,
                                                   start_engine, bulk, merge: bool) -> None:
    a = remote.clone("a")
    (a / ".gitignore").write_text("private/\n")
    commit(a, "ignore private/", push=True)
    (a / "private").mkdir()
    (a / "private" / "diary.txt").write_bytes(b"dear diary\n")
    if merge:
        (a / "local.txt").write_text("a local commit, not pushed\n")
        commit(a, "local")
    attacker.push_files({"private/diary.txt": ("100644", "the peer's diary\n"), **bulk})
    engine, rec = await start_engine(a)
    await rec.until(lambda: git(a, "rev-parse", "HEAD") == git(a, "rev-parse", "origin/main")
                    and engine.folder(a).state == FolderState.IDLE
                    and (a / "private" / "diary.txt").read_bytes() == b"the peer's diary\n",
                    timeout=40, what="pulled and settled")
    kept = a / "private" / "diary (local, not synced).txt"
    assert kept.read_bytes() == b"dear diary\n"
    notes = [e.summary for e in rec.activities if "diary (local, not synced).txt" in e.summary]
    assert len(notes) == 1, notes
    (kept).write_bytes(b"dear diary, more\n")
    (a / "other.txt").write_text("x\n")
    await rec.until(lambda: "other.txt" in remote.tree_names(), timeout=30, what="pushed")
    assert not [n for n in remote.tree_names() if "not synced" in n]
    assert git(a, "status", "--porcelain") == ""


# ------------------------------------------------------------------ 6. one blob, many names
async def test_one_blob_under_many_names_is_streamed(victim: Victim, attacker: Attacker
                                                     ) -> None:
    blob = os.urandom(1 << 20)
    files = {f"copies/{i}.bin": ("100644", blob) for i in range(150)}
    attacker.push_files(files)
    await victim.pull()
    await victim.rec.until(lambda: len(list((victim.path / "copies").glob("*.bin"))) == 150
                           and victim.folder.state == FolderState.IDLE, timeout=60,
                           what="pulled")
    for i in (0, 77, 149):
        assert (victim.path / "copies" / f"{i}.bin").read_bytes() == blob
    inodes = {(victim.path / "copies" / f"{i}.bin").stat().st_ino for i in range(150)}
    assert len(inodes) == 150, "each name is its own file (an edit of one changes one)"


# ------------------------------------------------------------------ 7. wedged folders
def _gitmodules_running(marker: Path) -> str:
    """A .gitmodules whose submodule `sub` names a command to run on update (git refuses
    it: fsck's gitmodulesUpdate, and a fatal parse in status, diff and log)."""
    return (f"[submodule \"sub\"]\n\tpath = sub\n\turl = ../elsewhere\n"
            f"\tupdate = !touch '{marker}'\n")


async def test_gitmodules_command_never_runs_and_fetches_keep_working(
        victim: Victim, attacker: Attacker, bulk) -> None:
    attacker.sync()
    gitlink = git(attacker.clone, "rev-parse", "origin/main")
    modules = _gitmodules_running(victim.marker)
    attacker.push_files({".gitmodules": ("100644", modules), "sub": ("160000", gitlink),
                         **bulk})
    await victim.pull()
    await victim.rec.until(lambda: (victim.path / ".gitmodules").exists(), timeout=40,
                           what=".gitmodules arrives (after being reported once)")
    attacker.push_files({"later.txt": ("100644", "a later commit\n")})
    await victim.pull()
    await victim.fixed("later.txt")
    assert (victim.path / "sub").is_dir() and not list((victim.path / "sub").iterdir())
    victim.assert_nothing_outside_changed()


async def test_malformed_tree_is_refused_then_a_fix_applies(victim: Victim,
                                                            attacker: Attacker, bulk) -> None:
    attacker.sync()
    one, two = attacker.blob("one\n"), attacker.blob("two\n")
    readme = git(attacker.clone, "rev-parse", "origin/main:README.txt")
    entries = [("100644", b"README.txt", readme), ("100644", b"dup.txt", one),
               ("100644", b"dup.txt", two)]
    entries += [(m, p.encode().replace(b"/", b"-"), attacker.blob(d))
                for p, (m, d) in bulk.items()]
    sha = attacker.push_tree(attacker.raw_tree(entries), "malformed")
    await victim.pull()
    await victim.refused(sha)
    assert not (victim.path / "dup.txt").exists()
    await victim.own_save_is_committed()
    attacker.push_tree(_without(attacker, "dup.txt", {"fixed.txt": ("100644", "fixed\n")}),
                       "fix")
    await victim.pull()
    await victim.fixed("fixed.txt")
    victim.assert_nothing_outside_changed()


# ------------------------------------------------------------------ 9. honest display
async def test_control_characters_in_names_are_escaped(victim: Victim, attacker: Attacker
                                                       ) -> None:
    name = "bad\nname\x1b[31m\u202eevil.txt"
    attacker.push_files({name: ("100644", "x\n"), "my notes.txt": ("100644", "y\n")})
    await victim.pull()
    await victim.rec.until(lambda: victim.rec.of(ActivityKind.PULLED, victim.path),
                           what="pulled")
    summary = victim.rec.of(ActivityKind.PULLED, victim.path)[-1].summary
    assert "\n" not in summary and "\x1b" not in summary and "\u202e" not in summary
    assert "\\n" in summary and "my notes.txt" in summary


async def test_pulled_gitignore_that_hides_new_files_is_reported_once(
        victim: Victim, attacker: Attacker) -> None:
    attacker.push_files({".gitignore": ("100644", "*\n")})
    await victim.pull()
    await victim.rec.until(lambda: (victim.path / ".gitignore").exists(), what="pulled")
    for i in range(3):
        (victim.path / f"new {i}.txt").write_text("never synced\n")
    await victim.rec.until(lambda: [e for e in victim.rec.activities
                                    if "ignored by .gitignore" in e.summary], timeout=30,
                           what="reported")
    (victim.path / "new 4.txt").write_text("also ignored\n")
    (victim.path / "README.txt").write_text("tracked files still sync\n")
    await victim.rec.until(lambda: victim.remote.tree_files().get("README.txt")
                           == b"tracked files still sync\n", timeout=30, what="pushed")
    reports = [e for e in victim.rec.activities if "ignored by .gitignore" in e.summary]
    assert len(reports) == 1, [e.summary for e in reports]
    assert "3 new files" in reports[0].summary


# ------------------------------------------------------------------ 10. umask
async def test_pulled_files_get_the_users_umask(victim: Victim, attacker: Attacker) -> None:
    old = os.umask(0o077)
    try:
        attacker.push_files({"secret.txt": ("100644", "x\n"), "tool.sh": ("100755", "x\n")})
        await victim.pull()
        await victim.rec.until(lambda: (victim.path / "tool.sh").exists(), what="pulled")
        assert (victim.path / "secret.txt").stat().st_mode & 0o777 == 0o600
        assert (victim.path / "tool.sh").stat().st_mode & 0o777 == 0o700
    finally:
        os.umask(old)


# ------------------------------------------------------------------ set-up: the first clone
def test_first_clone_runs_no_driver_and_refuses_dot_git(remote: Remote, attacker: Attacker,
                                                        isolated_home: Path) -> None:
    """The wizard's and `autosync add --clone`'s clone treats the remote like any pull:
    fsck'ed objects, no hook, files written only once info/attributes is neutral."""
    from autosync_gui.engine.setup import SetupError, clone_remote

    marker = remote.base / "PWNED"
    with open(isolated_home / ".gitconfig", "a") as fh:
        fh.write(f"[filter \"evil\"]\n\tsmudge = sh -c \"touch '{marker}'; cat\"\n")
    attacker.push_files({".gitattributes": ("100644", "* filter=evil text eol=crlf\n"),
                         "data.bin": ("100644", b"one\ntwo\r\n\x00")})
    clone_remote(remote.url, remote.base / "fresh")
    assert (remote.base / "fresh" / "data.bin").read_bytes() == b"one\ntwo\r\n\x00"
    assert not marker.exists()
    assert git(remote.base / "fresh", "status", "--porcelain") == ""
    attacker.push_files({".git/hooks/post-checkout": ("100755", f"#!/bin/sh\ntouch '{marker}'\n")})
    with pytest.raises(SetupError) as info:
        clone_remote(remote.url, remote.base / "second")
    assert "\n" not in str(info.value)
    assert not marker.exists() and not (remote.base / "second").exists()


def test_a_gitmodules_git_finds_invalid_never_wedges_commits(remote: Remote,
                                                             tmp_path: Path) -> None:
    """A pulled .gitmodules with `update = !command` beside a gitlink: git's status and diff
    die parsing it ("invalid value for 'submodule.sub.update'") unless told not to look
    up submodule settings. The start-up's look for changes, the look for saves after a
    pull and the list of pulled files never parse it: saves are still committed."""
    from autosync_gui.engine.gitrepo import GitRepository
    a = remote.clone("a")
    head = git(a, "rev-parse", "HEAD")
    (a / ".gitmodules").write_text(_gitmodules_running(tmp_path / "PWNED"))
    git(a, "update-index", "--add", "--cacheinfo", f"160000,{head},sub")
    (a / "sub").mkdir()
    git(a, "add", ".gitmodules")
    git(a, "commit", "-qm", "submodule")
    after = git(a, "rev-parse", "HEAD")
    repo = GitRepository.open(a, "alpha")
    assert not repo.is_dirty()
    (a / "saved while stopped.txt").write_text("mine\n")
    assert repo.is_dirty()
    result = repo.commit_pending()  # (no list of changes from a watcher: git status)
    assert result is not None and any(c.endswith("saved while stopped.txt")
                                      for c in result.files)
    assert not repo.is_dirty()
    assert not (tmp_path / "PWNED").exists()
    listed = git(a, "diff", "--name-only", "--ignore-submodules=none", head, after)
    assert set(listed.split()) == {".gitmodules", "sub"}


def test_a_moved_gitlink_beside_such_a_gitmodules_never_wedges_pulls_or_history(
        remote: Remote, attacker: Attacker) -> None:
    """Once such a .gitmodules has been pulled (its fetch refused and reported once, as
    above), the attacker moves the gitlink and deletes a file. The pull's raw diff and its
    stat check, the history list, a commit's diff, the deleted files and the count of
    pending changes all compare that gitlink, and git would die parsing .gitmodules in
    each: none does, and the command in it never runs."""
    from autosync_gui.engine.gitrepo import GitRepository
    from autosync_gui.engine.repository import HostileContent
    a = remote.clone("a")
    marker = remote.base / "PWNED"
    first = git(a, "rev-parse", "HEAD")
    modules = _gitmodules_running(marker)
    added = attacker.push_files({".gitmodules": ("100644", modules), "sub": ("160000", first),
                                 "doomed.txt": ("100644", "deleted later\n")})
    repo = GitRepository.open(a, "alpha")
    with pytest.raises(HostileContent):
        repo.fetch()
    repo.fetch()  # (reported once: the object is skipped from now on)
    assert repo.integrate().changed
    assert (a / ".gitmodules").exists() and (a / "doomed.txt").exists()
    moved = attacker.push_tree(_without(attacker, "doomed.txt", {
        "sub": ("160000", added), "later.txt": ("100644", "a later commit\n")}),
        "move the gitlink")
    repo.fetch()
    result = repo.integrate()  # the raw diff of the pull names the moved gitlink
    assert result.changed and repo.head() == moved
    assert (a / "later.txt").read_text() == "a later commit\n"
    assert not (a / "doomed.txt").exists()
    assert git(a, "ls-files", "-s", "sub").startswith(f"160000 {added} ")
    listed = repo.history(0, 10, None)  # each commit's files, the gitlink among them
    assert [c.sha for c in listed][:2] == [moved, added]
    assert "sub" in listed[0].files
    assert "sub" in repo.diff(moved)
    since = datetime(2000, 1, 1, tzinfo=UTC)
    assert [d.path for d in repo.file_history.deleted_files(since, "")] == ["doomed.txt"]
    (a / "mine.txt").write_text("saved\n")
    assert repo.file_history.pending_changes() == 1
    assert not marker.exists()
