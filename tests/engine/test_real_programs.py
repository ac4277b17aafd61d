"""What people really run in a synced folder (issue 15, the README's interop table):
real `sed -i`, `perl -pi`, vim, cp, tar, unzip, gio and `git clone`, and the way
LibreOffice and JetBrains IDEs save (their file dance, played here without the
programs, which are not installed). Each save arrives complete on the remote, and no
temporary of theirs ever enters history."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from autosync_gui.engine.events import FolderState
from tests.fixtures.git_remotes import Remote
from tests.fixtures.writers import blob_size, commits_touching, paths_ever_committed

pytestmark = pytest.mark.slow  # a real program and a sync each

TEXT = "".join(f"the colour of line {i}\n" for i in range(200))
EDITED = TEXT.replace("colour", "color")


def needs(*programs: str) -> pytest.MarkDecorator:
    missing = [p for p in programs if shutil.which(p) is None]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")


async def run(*argv: str, cwd: Path, stdin: bytes | None = None) -> None:
    """A program as a user runs it (without blocking the engine's loop)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode == 0, f"{argv[0]}: {err.decode()}{out.decode()}"


async def started_with_notes(remote: Remote, start_engine) -> tuple[Path, object, object]:
    """A running folder whose notes.txt (TEXT) is synced."""
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    (a / "notes.txt").write_text(TEXT)
    await rec.until(lambda: remote.tree_files().get("notes.txt") == TEXT.encode(),
                    what="notes.txt synced")
    return a, engine, rec


def never_missing(remote: Remote, path: str) -> None:
    """No commit ever deleted `path`: an in-place edit never looked like a deletion."""
    for commit in commits_touching(remote.bare, path):
        assert blob_size(remote.bare, commit, path) >= 0, f"{commit} deleted {path}"


@needs("sed")
async def test_sed_in_place(remote: Remote, start_engine) -> None:
    a, engine, rec = await started_with_notes(remote, start_engine)
    await run("sed", "-i", "s/colour/color/", "notes.txt", cwd=a)  # via ./sedXXXXXX
    await rec.until(lambda: remote.tree_files().get("notes.txt") == EDITED.encode(),
                    what="the edit synced")
    assert paths_ever_committed(remote.bare) == {"README.txt", "notes.txt"}
    never_missing(remote, "notes.txt")


@needs("perl")
async def test_perl_in_place(remote: Remote, start_engine) -> None:
    a, engine, rec = await started_with_notes(remote, start_engine)
    await run("perl", "-pi", "-e", "s/colour/color/", "notes.txt", cwd=a)
    await rec.until(lambda: remote.tree_files().get("notes.txt") == EDITED.encode(),
                    what="the edit synced")
    assert paths_ever_committed(remote.bare) == {"README.txt", "notes.txt"}
    never_missing(remote, "notes.txt")


@needs("vim")
async def test_vim_with_swap_and_backup_files(remote: Remote, start_engine) -> None:
    a, engine, rec = await started_with_notes(remote, start_engine)
    # vim without a vimrc, with a backup file (notes.txt~) besides its swap file (vim
    # skips backups below /tmp unless told otherwise: the test folders are there)
    await run("vim", "-Nu", "NONE", "-i", "NONE", "-es", "-c", "set backup backupskip=",
              "-c", "%s/colour/color/", "-c", "wq", "notes.txt", cwd=a)
    await rec.until(lambda: remote.tree_files().get("notes.txt") == EDITED.encode(),
                    what="the edit synced")
    assert (a / "notes.txt~").exists(), "vim kept its backup file beside the file"
    assert paths_ever_committed(remote.bare) == {"README.txt", "notes.txt"}
    never_missing(remote, "notes.txt")


@pytest.mark.parametrize("how", ["cp", "tar", "unzip"])
async def test_a_tree_copied_in(remote: Remote, start_engine, tmp_path: Path,
                                how: str) -> None:
    if shutil.which(how) is None or (how == "unzip" and shutil.which("zip") is None):
        pytest.skip(f"needs {how}")
    source = tmp_path / "source"
    files = {f"dir{i % 4}/sub{i % 3}/file-{i}.txt": f"file {i}\n" * (i + 1)
             for i in range(60)}
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    if how == "cp":
        await run("cp", "-a", str(source), str(a / "copied"), cwd=tmp_path)
    elif how == "tar":
        await run("tar", "-cf", str(tmp_path / "tree.tar"), "-C", str(source), ".",
                  cwd=tmp_path)
        (a / "copied").mkdir()
        await run("tar", "-xf", str(tmp_path / "tree.tar"), "-C", str(a / "copied"),
                  cwd=tmp_path)
    else:
        await run("zip", "-qr", str(tmp_path / "tree.zip"), ".", cwd=source)
        await run("unzip", "-q", str(tmp_path / "tree.zip"), "-d", str(a / "copied"),
                  cwd=tmp_path)
    expected = {f"copied/{name}": text.encode() for name, text in files.items()}
    await rec.until(lambda: {k: v for k, v in remote.tree_files().items()
                             if k.startswith("copied/")} == expected, what="the tree synced")
    assert paths_ever_committed(remote.bare) == {"README.txt", *expected}


@needs("gio")
async def test_gio_save_copy_move_and_trash(remote: Remote, start_engine,
                                            tmp_path: Path) -> None:
    a, engine, rec = await started_with_notes(remote, start_engine)
    await run("gio", "save", "notes.txt", cwd=a, stdin=EDITED.encode())  # .goutputstream-*
    (tmp_path / "outside.txt").write_text("copied in by gio\n")
    await run("gio", "copy", str(tmp_path / "outside.txt"), str(a / "copy.txt"), cwd=a)
    await run("gio", "move", str(a / "README.txt"), str(a / "READ-ME.txt"), cwd=a)
    await rec.until(lambda: remote.tree_files() == {
        "notes.txt": EDITED.encode(), "copy.txt": b"copied in by gio\n",
        "READ-ME.txt": b"shared folder\n"}, what="gio's changes synced")
    await run("gio", "trash", str(a / "copy.txt"), cwd=a)  # to the trash: gone from here
    await rec.until(lambda: "copy.txt" not in remote.tree_names(), what="the trashing synced")
    assert paths_ever_committed(remote.bare) == {"README.txt", "READ-ME.txt", "notes.txt",
                                                 "copy.txt"}
    never_missing(remote, "notes.txt")


async def test_libreoffice_style_lock_file(remote: Remote, start_engine) -> None:
    """LibreOffice holds `.~lock.NAME#` while a document is open, and writes the document
    when saved (played here: LibreOffice itself is not installed)."""
    a, engine, rec = await started_with_notes(remote, start_engine)
    lock = a / ".~lock.notes.txt#"
    lock.write_text("Test User,user,host,26.11.2026 10:00,file:///home/user/.config;")
    (a / "notes.txt").write_text(EDITED)
    await rec.until(lambda: remote.tree_files().get("notes.txt") == EDITED.encode(),
                    what="the save synced")
    lock.unlink()  # the document is closed
    (a / "after.txt").write_text("after\n")
    await rec.until(lambda: "after.txt" in remote.tree_names(), what="synced again")
    assert ".~lock.notes.txt#" not in paths_ever_committed(remote.bare)


async def test_jetbrains_style_safe_write(remote: Remote, start_engine) -> None:
    """A JetBrains IDE's safe write (played here): the new content goes to
    NAME___jb_tmp___ (slowly, for a large file), the old file is renamed to
    NAME___jb_old___, the new one takes its name, the old one is deleted. Neither
    temporary is ever committed, and the file never looks deleted."""
    a, engine, rec = await started_with_notes(remote, start_engine)
    tmp, old = a / "notes.txt___jb_tmp___", a / "notes.txt___jb_old___"
    tmp.write_text(EDITED)
    await asyncio.sleep(1.0)  # the IDE still writing: longer than commit_delay (0.2 s)
    (a / "notes.txt").rename(old)
    tmp.rename(a / "notes.txt")
    old.unlink()
    await rec.until(lambda: remote.tree_files().get("notes.txt") == EDITED.encode(),
                    what="the save synced")
    assert paths_ever_committed(remote.bare) == {"README.txt", "notes.txt"}
    never_missing(remote, "notes.txt")


async def test_git_clone_inside_the_folder(remote: Remote, start_engine) -> None:
    """A project cloned into the synced folder is a repository of its own: never synced
    as part of this one, and the folder goes on syncing around it."""
    a, engine, rec = await started_with_notes(remote, start_engine)
    await run("git", "clone", "-q", str(remote.bare), "project", cwd=a)
    (a / "project" / "work.txt").write_text("work in the inner clone\n")
    (a / "top.txt").write_text("beside the inner clone\n")
    await rec.until(lambda: "top.txt" in remote.tree_names()
                    and engine.folder(a).state == FolderState.IDLE, what="synced")
    assert not [n for n in paths_ever_committed(remote.bare) if n.startswith("project")]
