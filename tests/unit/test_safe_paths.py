"""verify_path: git's checkout rules for a pulled path, also when many paths in a row
share folders (each folder is checked once)."""

from __future__ import annotations

import pytest

from autosync_gui.engine.safe_paths import UnsafePath, verify_path


@pytest.mark.parametrize("path", ["", "/etc/passwd", "a//b", "a/../b", "./a", ".git/config",
                                  "docs/.GIT/hooks/post-checkout", "x/git~1/config",
                                  "x/.git./y", "x/.g\u200cit/y", "a\0b"])
def test_paths_git_would_not_check_out_are_refused(path: str) -> None:
    with pytest.raises(UnsafePath):
        verify_path(path)
    with pytest.raises(UnsafePath):
        verify_path(path, folders_ok=set())


def test_a_symbolic_link_may_not_be_named_like_gitmodules() -> None:
    with pytest.raises(UnsafePath):
        verify_path("sub/.gitmodules", symlink=True)
    verify_path("sub/.gitmodules")


def test_folders_found_good_are_checked_once_and_names_in_them_always() -> None:
    folders_ok: set[str] = set()
    verify_path("photos/2024/a.jpg", folders_ok=folders_ok)
    assert folders_ok == {"photos/2024"}
    verify_path("photos/2024/b.jpg", folders_ok=folders_ok)
    with pytest.raises(UnsafePath):
        verify_path("photos/2024/.git", folders_ok=folders_ok)  # the name itself
    with pytest.raises(UnsafePath):
        verify_path("photos/.git/hooks/x", folders_ok=folders_ok)  # a new folder
    assert folders_ok == {"photos/2024"}, "a refused folder is never taken as good"
    with pytest.raises(UnsafePath):
        verify_path("photos/2024/../../x", folders_ok=folders_ok)
    verify_path("top.txt", folders_ok=folders_ok)
