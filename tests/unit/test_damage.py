"""How git's complaints about its own repository are told apart (engine/damage.py), on
the words git 2.39 really printed for each damage, and the index check on real index
files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from autosync_gui.engine.damage import (
    Part,
    damage_in,
    damaged,
    index_damage,
    last_logged,
    loose_ref_broken,
    object_ids,
)

BLOB = "3e757656cf36eca53338e520d134963a44f793f8"

# (git's stderr, the part it says is damaged, or None when it is not about our repository)
SAYINGS: list[tuple[str, Part | None]] = [
    # a push whose pack-objects cannot read an object: local damage, whatever the server adds
    (f"fatal: unable to read {BLOB}\nerror: remote unpack failed: eof before pack header "
     "was fully read\nTo /tmp/r.git\n ! [remote rejected] HEAD -> main (unpacker error)\n"
     "error: failed to push some refs to '/tmp/r.git'\n", Part.OBJECTS),
    ("fatal: .git/index: index file smaller than expected\n", Part.INDEX),
    ("error: bad signature 0x00000000\nfatal: index file corrupt\n", Part.INDEX),
    ("error: cache entry has null sha1: \nfatal: unable to write new_index file\n",
     Part.INDEX),
    (f"error: corrupt loose object '{BLOB}'\nfatal: loose object {BLOB} (stored in "
     f".git/objects/3e/{BLOB[2:]}) is corrupt\n", Part.OBJECTS),
    ("error: bad tree object HEAD\n", Part.OBJECTS),
    (f"error: invalid object 100644 {BLOB} for 'f.txt'\nfatal: git-write-tree: error "
     "building trees\n", Part.OBJECTS),
    ("error: /tmp/r.git did not send all necessary objects\n", Part.OBJECTS),
    (f"fatal: bad object {BLOB}\n", Part.OBJECTS),
    (f"error: unable to read sha1 file of f.txt ({BLOB})\n", Part.OBJECTS),
    ("fatal: unexpected line in .git/packed-refs: garbage here\n", Part.REF),
    ("fatal: unterminated line in .git/packed-refs: ce7bc514e4d43d\n", Part.REF),
    ("fatal: cannot lock ref 'HEAD': unable to resolve reference 'refs/heads/main': "
     "reference broken\n", Part.REF),
    ("fatal: your current branch appears to be broken\n", Part.REF),
    # the server's own trouble, or no damage at all
    (f"remote: fatal: bad object {BLOB}\nfatal: the remote end hung up unexpectedly\n", None),
    ("fatal: remote error: upload-pack: not our ref " + BLOB + "\n", None),
    ("fatal: could not read Username for 'https://127.0.0.1:9': terminal prompts "
     "disabled\n", None),
    ("ssh: connect to host 127.0.0.1 port 9: Connection refused\n", None),
    (" ! [rejected]        HEAD -> main (fetch first)\n", None),
    ("fatal: Unable to create '/tmp/a/.git/index.lock': File exists.\n", None),
    ("error: unable to write file f.txt: No space left on device\n", None),
]


@pytest.mark.parametrize(("stderr", "part"), SAYINGS)
def test_what_git_says_is_damaged(stderr: str, part: Part | None) -> None:
    found = damage_in(stderr)
    assert (found[0] if found else None) == part
    if found:
        assert not found[1].startswith(("fatal:", "error:")), "git's line, without its prefix"


def test_the_line_names_what_and_how_to_repair(tmp_path: Path) -> None:
    for part, must in ((Part.INDEX, "rm .git/index && git reset"),
                       (Part.OBJECTS, "git fsck"), (Part.REF, "git reflog")):
        exc = damaged(tmp_path, part, "what git said", remote="ssh://server/repo.git")
        line = str(exc)
        assert "\n" not in line and str(tmp_path) in line and "what git said" in line
        assert must in line and exc.part == part.value and exc.detail == "what git said"
    assert "no damage reaches ssh://server/repo.git" in str(
        damaged(tmp_path, Part.OBJECTS, "x", remote="ssh://server/repo.git"))


def test_object_ids() -> None:
    assert object_ids(f"unable to read {BLOB}; again {BLOB}, not {BLOB[:12]}") == [BLOB]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main", "r")
    root = tmp_path / "r"
    for i in range(50):
        (root / f"file-{i}.txt").write_text(f"{i}\n")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "one")
    return root


def test_index_checked_like_git_writes_it(repo: Path) -> None:
    index = repo / ".git" / "index"
    good = index.read_bytes()
    assert index_damage(index) is None
    assert index_damage(repo / ".git" / "no-such-index") is None
    for size in (0, 20, len(good) // 2, len(good) - 1):  # a power cut mid-write
        index.write_bytes(good[:size])
        assert index_damage(index) is not None, size
    index.write_bytes(bytes(len(good)))  # a block of zeros from a bad disk
    assert "bad signature" in (index_damage(index) or "")
    flipped = bytearray(good)
    flipped[40] ^= 0x01  # one bit of an entry's stat data: git itself reads on unaware
    index.write_bytes(bytes(flipped))
    assert "checksum" in (index_damage(index) or "")


def test_refs_read_as_git_wrote_them(repo: Path) -> None:
    git_dir = repo / ".git"
    head = _git(repo, "rev-parse", "HEAD")
    assert loose_ref_broken(git_dir, "refs/heads/main") is None
    assert last_logged(git_dir, "refs/heads/main") == head
    (git_dir / "refs" / "heads" / "main").write_bytes(b"")
    assert "empty" in (loose_ref_broken(git_dir, "refs/heads/main") or "")
    (git_dir / "refs" / "heads" / "main").write_bytes(head[:17].encode())
    assert "no object id" in (loose_ref_broken(git_dir, "refs/heads/main") or "")
    assert loose_ref_broken(git_dir, "refs/heads/none") is None
    assert last_logged(git_dir, "refs/heads/none") is None
