"""A hostile Mercurial remote: an attacker with push access writes changesets hg's own
commands would refuse (through Mercurial's Python API, as any modified client can), and
a victim runs the real engine on an hg clone. A changeset bringing a path into .hg or
outside the folder, or writing through a link, is refused: the folder goes to error
naming the changeset and the path, nothing is written; a later changeset that removes
the path lets sync go on. No hook of any hgrc runs for autosync's own operations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from autosync_gui.engine.events import ActivityKind, FolderState
from tests.fixtures.attacker import snapshot
from tests.fixtures.hg_remotes import HgRemote, hg, make_hg_remote

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's mercurial package installs its module there
_CRAFT = r'''
import json, sys
from mercurial import context, hg, ui as uimod
from mercurial.node import hex
repo = hg.repository(uimod.ui.load(), sys.argv[1].encode())
spec = {k.encode("utf-8", "surrogateescape"): v for k, v in json.loads(sys.argv[2]).items()}
def filectx(repo, memctx, path):
    item = spec[path]
    if item is None:
        return None
    return context.memfilectx(repo, memctx, path, item[0].encode(), islink="l" in item[1],
                              isexec="x" in item[1])
ctx = context.memctx(repo, (repo[b"tip"].node(), None),
                     b"mallory's change\n\nAutosync-Host: mallory", list(spec), filectx,
                     user=b"mallory <m@example.invalid>", extra={b"branch": b"default"})
with repo.wlock(), repo.lock():
    print(hex(ctx.commit()).decode())
'''


def craft(remote: HgRemote, files: dict[str, tuple[str, str] | None]) -> str:
    """A changeset on the remote with exactly these files ((content, flags); None removes
    the file); returns its node."""
    done = subprocess.run([SYSTEM_PYTHON, "-c", _CRAFT, str(remote.repo), json.dumps(files)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "HGPLAIN": "1"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


pytestmark = [
    pytest.mark.skipif(subprocess.run([SYSTEM_PYTHON, "-c", "import mercurial"],
                                      capture_output=True).returncode != 0,
                       reason="Mercurial's Python module is needed to craft changesets"),
    pytest.mark.skipif(shutil.which("hg") is None, reason="Mercurial is not installed"),
]


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[HgRemote]:
    remote = make_hg_remote(tmp_path)
    yield remote
    remote.close()


def _outside(victim: Path, remote: HgRemote, home: Path) -> dict[str, str]:
    """Everything outside the victim's folder, and its .hg/hgrc (the store takes pulled
    changesets in, as git's object database does: that is not applying them)."""
    return {**snapshot(home, remote.base, skip=(victim, remote.repo, remote.base / "seed-hg")),
            "hgrc": (victim / ".hg" / "hgrc").read_text(),
            "hg folder": " ".join(sorted(p.name for p in (victim / ".hg").iterdir()
                                         if p.name not in ("autosync", "wlock", "undo.desc",
                                                           "undo.dirstate", "undo.branch",
                                                           "undo.bookmarks", "dirstate",
                                                           "cache", "undo.backupfiles",
                                                           "undo.backup.dirstate")))}


HOSTILE_PATHS = [".hg/hgrc", "../x", ".HG/hgrc", "sub/.hg/hgrc", "hg~1/hgrc", ".hg./hgrc",
                 ".h\u200cg/hgrc"]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
async def test_path_into_dot_hg_or_outside_is_refused(hostile: HgRemote, start_engine,
                                                      isolated_home: Path, path: str) -> None:
    victim = hostile.clone("victim")
    engine, rec = await start_engine(victim, hostname="victim")
    folder = engine.folder(victim)
    await rec.until(lambda: folder.ready.is_set(), what="ready")
    before = _outside(victim, hostile, isolated_home)
    node = craft(hostile, {path: (f"[hooks]\nupdate = touch {hostile.base}/PWNED\n", ""),
                           "harmless.txt": ("ok\n", "")})
    folder.request_sync()
    await rec.until(lambda: folder.state == FolderState.ERROR and "refused" in folder.detail,
                    timeout=40, what="the pull refused")
    errors = [e.summary for e in rec.of(ActivityKind.ERROR, victim)]
    assert any(node[:12] in e and "path" in e for e in errors), errors
    assert not (victim / "harmless.txt").exists(), "nothing of the changeset is written"
    assert not (hostile.base / "PWNED").exists()
    assert not (hostile.base / "x").exists()
    assert _outside(victim, hostile, isolated_home) == before
    # The victim's own saves are still committed while the remote is refused.
    (victim / "mine.txt").write_text("the victim's own save\n")
    await rec.until(lambda: "mine.txt" in hostile.last_files(victim), timeout=30,
                    what="own save committed")
    # A changeset removing the path lets sync go on.
    craft(hostile, {path: None, "fixed.txt": ("fixed\n", "")})
    folder.sync_now()
    await rec.until(lambda: (victim / "fixed.txt").exists()
                    and folder.state == FolderState.IDLE, timeout=40, what="the fix applied")
    assert not (hostile.base / "PWNED").exists()


async def test_write_through_a_pulled_link_is_refused(hostile: HgRemote, start_engine,
                                                      isolated_home: Path) -> None:
    victim = hostile.clone("victim")
    target = isolated_home / "precious"
    target.mkdir()
    engine, rec = await start_engine(victim, hostname="victim")
    folder = engine.folder(victim)
    await rec.until(lambda: folder.ready.is_set(), what="ready")
    craft(hostile, {"evil": (str(target), "l")})
    folder.request_sync()
    await rec.until(lambda: os.path.islink(victim / "evil"), what="the link arrived")
    # The link stays in the changeset and a file arrives below it (a manifest hg's own
    # commands would never write); removing the link first would be a plain folder.
    node = craft(hostile, {"evil/owned.txt": ("owned\n", "")})
    folder.request_sync()
    await rec.until(lambda: folder.state == FolderState.ERROR and "refused" in folder.detail,
                    timeout=40, what="the pull refused")
    assert not (target / "owned.txt").exists()
    assert any(node[:12] in e.summary for e in rec.of(ActivityKind.ERROR, victim))


async def test_no_hook_of_any_hgrc_runs(hg_remote: HgRemote, start_engine,
                                        isolated_home: Path) -> None:
    """The user's own hooks and extensions (~/.hgrc, .hg/hgrc) are not run by autosync's
    commits, pulls and pushes; the `default` path and user name from .hg/hgrc are used."""
    marker = isolated_home / "HOOK-RAN"
    hooks = (f"[hooks]\nprecommit = touch {marker}\npre-pull = touch {marker}\n"
             f"pre-push = touch {marker}\n[extensions]\nnosuchextension = /nonexistent.py\n")
    a, b = hg_remote.clone("a"), hg_remote.clone("b")
    (isolated_home / ".hgrc").write_text(hooks)
    with open(a / ".hg" / "hgrc", "a", encoding="utf-8") as fh:
        fh.write(hooks)
    engine, rec = await start_engine(a, b)
    (a / "note.txt").write_text("hello\n")
    await rec.until(lambda: "note.txt" in hg_remote.tree_names(), timeout=60, what="pushed")
    engine.sync_now(b)
    await rec.until(lambda: (b / "note.txt").exists(), timeout=60, what="pulled")
    assert not marker.exists()
    assert "Test a" in hg(a, "log", "-r", ".", "-T", "{author}")


def test_child_environment_has_no_secret(hg_remote: HgRemote, monkeypatch) -> None:
    from autosync_gui.engine.hg.repository import HgRepository

    monkeypatch.setenv("AUTOSYNC_XMPP_PASSWORD", "hg-secret-Pa55")
    a = hg_remote.clone("a")
    repo = HgRepository.open(a, "h")
    try:
        env = repo.runner.environment()
        assert "AUTOSYNC_XMPP_PASSWORD" not in env
        assert env["HGPLAIN"] == "1" and env["HGRCSKIPREPO"] == "1"
        assert env["HGRCPATH"] == str(a / ".hg" / "autosync" / "hgrc")
        assert oct((a / ".hg" / "autosync" / "hgrc").stat().st_mode & 0o777) == "0o600"
    finally:
        repo.release()


if sys.platform != "linux":  # pragma: no cover
    pytest.skip("Linux only", allow_module_level=True)
