"""Issue 15, items 3 and 4: every built-in and folder pattern reaches git as that pattern
(Emacs' `#*#` used to be a comment), and the user's own plain git ignores what autosync
ignores, through a marked block in .git/info/exclude that leaves the user's lines and the
global excludes alone. Real git answers every question here (`git check-ignore`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from autosync_gui.engine.gitrepo import GitRepository
from autosync_gui.engine.ignore import BUILTIN_PATTERNS, is_temporary
from tests.fixtures.git_remotes import Remote, git


def example_names(pattern: str) -> list[str]:
    """A name the pattern matches, and near misses (one more character at the end, one
    fewer at the start)."""
    name = re.sub(r"\[[^\]]*\]", "p", pattern).replace("*", "x").replace("?", "p")
    return [name, name + "z", name[1:] or "z", "x" + name]


def ignored_by_git(clone: Path, paths: list[str], *config: str) -> set[str]:
    """The paths git ignores, asked the way a user's plain git would (plus `config`)."""
    args = ["git", *config, "check-ignore", "-z", "--stdin"]
    result = subprocess.run(args, cwd=clone, input="\0".join(paths).encode() + b"\0",
                            capture_output=True, check=False)
    assert result.returncode in (0, 1), result.stderr
    return {p.decode() for p in result.stdout.split(b"\0") if p}


def test_git_agrees_with_is_temporary_for_every_builtin_pattern(remote: Remote) -> None:
    a = remote.clone("a")
    repo = GitRepository.open(a, "host")
    names = sorted({n for p in BUILTIN_PATTERNS for n in example_names(p)})
    paths = names + [f"sub dir/{n}" for n in names]
    expected = {p for p in paths if is_temporary(p.rsplit("/", 1)[-1])}
    assert "#x#" in expected and "sub dir/#x#" in expected  # Emacs auto-save, at any depth
    private = ["-c", f"core.excludesFile={repo.state_dir / 'exclude'}"]
    assert ignored_by_git(a, paths, *private) == expected  # what autosync's git sees
    assert ignored_by_git(a, paths) == expected  # what the user's plain git sees


async def test_emacs_auto_save_file_is_never_committed(remote: Remote, start_engine) -> None:
    a = remote.clone("a")
    engine, rec = await start_engine(a)
    await rec.until(lambda: engine.folder(a).ready.is_set(), what="ready")
    (a / "#notes.txt#").write_text("emacs auto-save\n")
    (a / "notes.txt").write_text("the real file\n")
    await rec.until(lambda: "notes.txt" in remote.tree_names(), what="notes.txt pushed")
    assert "#notes.txt#" not in remote.tree_names()
    assert "#notes.txt#" not in git(a, "ls-files")


def test_folder_patterns_are_read_as_written(remote: Remote) -> None:
    """A leading `#` and trailing spaces are part of the pattern; `!` still negates."""
    a = remote.clone("a")
    GitRepository.open(a, "host", ignore=["#draft#", "notes ", "*.log", "!keep.log"])
    paths = ["#draft#", "notes ", "notes", "x.log", "keep.log", "sub/#draft#"]
    assert ignored_by_git(a, paths) == {"#draft#", "notes ", "x.log", "sub/#draft#"}


def test_users_plain_git_ignores_what_autosync_ignores(remote: Remote,
                                                       isolated_home: Path) -> None:
    a = remote.clone("a")
    exclude = a / ".git" / "info" / "exclude"
    user_lines = "# my own rules\nsecret.txt\n!notes.txt~\n"
    exclude.write_text(user_lines)
    global_ignore = isolated_home / ".config" / "git" / "ignore"
    global_ignore.parent.mkdir(parents=True)
    global_ignore.write_text("*.bak\n")
    GitRepository.open(a, "host", ignore=["*.log"])
    for name in ("vim.txt~", "4913", ".vim.txt.swp", "#auto#", "run.log", "secret.txt",
                 "old.bak", "notes.txt~", "kept.txt"):
        (a / name).write_text("x\n")
    status = git(a, "status", "--porcelain", "--untracked-files=all")
    untracked = {line[3:].strip('"') for line in status.splitlines()}
    # The user's `!notes.txt~` comes after autosync's block, so it wins, as it would over
    # global excludes; everything else autosync ignores, plain git ignores too.
    assert untracked == {"notes.txt~", "kept.txt"}, status
    text = exclude.read_text()
    assert text.endswith(user_lines) and text.count("# >>> autosync's block") == 1
    assert global_ignore.read_text() == "*.bak\n"
    GitRepository.open(a, "host", ignore=["*.tmp"])  # the block is replaced, not appended
    text = exclude.read_text()
    assert text.count("# >>> autosync's block") == 1 and "*.tmp" in text and "*.log" not in text
    assert text.endswith(user_lines)


def test_sub_folder_patterns_stay_inside_the_sub_folder(remote: Remote) -> None:
    a = remote.clone("a")
    (a / "sub").mkdir()
    GitRepository.open(a / "sub", "host", ignore=["*.log"])
    assert ignored_by_git(a, ["sub/x.log", "sub/deep/x.log", "top.log"]) == {"sub/x.log",
                                                                           "sub/deep/x.log"}
