"""What never gets committed (engine/ignore.py): folder patterns scoped to the repository,
the excludes file autosync hands to git, and the editor/office temporaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from autosync_gui.engine.ignore import (
    BUILTIN_PATTERNS,
    as_gitignore_line,
    global_excludes_file,
    is_temporary,
    render_excludes,
    scoped_pattern,
)


@pytest.mark.parametrize(("pattern", "scope", "expected"), [
    # the watched folder is the repository root: patterns stay as written
    ("*.log", "", "*.log"),
    ("build/", "", "build/"),
    ("/top.txt", "", "/top.txt"),
    ("docs/*.pdf", "", "docs/*.pdf"),
    # the watched folder is a subfolder "sub/dir" of the repository
    ("*.log", "sub/dir", "*.log"),  # no inner slash: matches at any depth, as written
    ("build/", "sub/dir", "build/"),  # a trailing slash alone is not an inner one
    ("!keep.log", "sub/dir", "!keep.log"),
    ("docs/*.pdf", "sub/dir", "/sub/dir/docs/*.pdf"),
    ("/top.txt", "sub/dir", "/sub/dir/top.txt"),
    ("/cache/", "sub/dir", "/sub/dir/cache/"),
    ("!docs/keep.pdf", "sub/dir", "!/sub/dir/docs/keep.pdf"),
    ("**/tmp/*", "sub", "/sub/**/tmp/*"),
])
def test_scoped_pattern(pattern: str, scope: str, expected: str) -> None:
    assert scoped_pattern(pattern, scope) == expected


def _sections(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("# autosync:")]


def test_render_excludes_order_and_content(tmp_path: Path) -> None:
    user = tmp_path / "ignore"
    user.write_text("*.user-global\n")
    text = render_excludes(user, ["*.log", "docs/*.pdf"], "sub", ["nested", "we ird[1]"],
                           ["kept/a#1.txt"])
    lines = text.splitlines()
    assert lines[0] == "*.user-global", "the user's global excludes come first"
    assert _sections(text) == ["# autosync: editor and office temporaries",
                               "# autosync: the folder's ignore patterns",
                               "# autosync: nested repositories are never synced as part of this one",
                               "# autosync: ignored files kept under another name when a pull "
                               "took their path"]
    # each built-in pattern as a gitignore line (a leading '#' or '!' escaped)
    assert {as_gitignore_line(p, negation=False) for p in BUILTIN_PATTERNS} <= set(lines)
    assert "\\#*#" in lines, "Emacs auto-save files, not a comment"
    assert "*.log" in lines and "/sub/docs/*.pdf" in lines
    assert "/nested/" in lines and "/we\\ ird\\[1\\]/" in lines
    assert "/kept/a\\#1.txt" in lines  # exactly that file, not a comment
    assert text.endswith("\n")


@pytest.mark.parametrize("global_file", [None, "missing"])
def test_render_excludes_without_a_global_file(tmp_path: Path, global_file: str | None) -> None:
    path = None if global_file is None else tmp_path / global_file
    text = render_excludes(path, [], "", [])
    assert text.splitlines()[0] == "# autosync: editor and office temporaries"


@pytest.mark.parametrize(("configured", "xdg", "expected"), [
    ("~/my-ignores", None, "HOME/my-ignores"),
    ("/etc/gitignore", "/xdg", "/etc/gitignore"),
    (None, "/xdg", "/xdg/git/ignore"),
    (None, None, "HOME/.config/git/ignore"),
])
def test_global_excludes_file(configured: str | None, xdg: str | None, expected: str,
                              isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert global_excludes_file(configured) == Path(expected.replace("HOME", str(isolated_home)))


@pytest.mark.parametrize(("name", "temporary"), [
    ("4913", True), ("5036", True), (".report.txt.swp", True), ("report.txt.swp", True),
    (".x.swx", True), ("notes.txt~", True), (".~lock.report.odt#", True), ("~$report.docx", True),
    (".#notes.org", True), ("#notes.org#", True), ("film.mkv.part", True),
    ("setup.exe.crdownload", True), (".goutputstream-ABC123", True), ("a.kate-swp", True),
    (".fuse_hidden0001", True), (".nfs000123", True),
    ("report.odt", False), ("4914", False), ("swp", False), ("notes~.txt", False),
    ("partial.txt", False), ("#hashtag", False), ("~tilde-first", False),
])
def test_is_temporary(name: str, temporary: bool) -> None:
    assert is_temporary(name) is temporary
