"""The remote of a torture run, for each backend: make it (one seed commit), clone the
replicas, and answer the oracle's questions (the tip, each replica's head and whether its
work tree is clean, the tip's files, every content in the history). Contents are named by
git's blob id of their bytes for both backends, so the oracle compares one kind of id."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's mercurial package installs its module there


def blob_id(data: bytes) -> str:
    """git hash-object of `data` (SHA-1 repositories)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def run_git(cwd: Path, *args: str, check: bool = True) -> bytes:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {cwd} failed: "
                           f"{result.stderr.decode(errors='replace')}")
    return result.stdout


def run_hg(cwd: Path, *args: str, check: bool = True) -> bytes:
    result = subprocess.run(["hg", *args], cwd=cwd, capture_output=True, check=False,
                            env={**os.environ, "HGPLAIN": "1"})
    if check and result.returncode != 0:
        raise RuntimeError(f"hg {' '.join(args)} in {cwd} failed: "
                           f"{result.stderr.decode(errors='replace')}")
    return result.stdout


class GitStore:
    """A bare git remote."""

    kind = "git"
    data_dir = ".git"

    def __init__(self, base: Path) -> None:
        self.base = base
        self.path = base / "remote.git"
        self.hidden = base / "remote-away.git"

    def create(self) -> None:
        run_git(self.base, "init", "-q", "--bare", "-b", "main", str(self.path))
        seed = self.base / "seed"
        run_git(self.base, "clone", "-q", str(self.path), str(seed))
        (seed / "README.txt").write_text("shared folder\n")
        run_git(seed, "add", "README.txt")
        run_git(seed, "-c", "user.name=seed", "-c", "user.email=seed@example.invalid",
                "commit", "-q", "-m", "initial")
        run_git(seed, "push", "-q", "origin", "HEAD:main")

    def clone(self, dest: Path) -> None:
        run_git(self.base, "clone", "-q", str(self.path), str(dest))

    def tip(self) -> str:
        return run_git(self.path, "rev-parse", "refs/heads/main").decode().strip()

    def head(self, root: Path) -> str:
        return run_git(root, "rev-parse", "HEAD", check=False).decode().strip()

    def dirty(self, root: Path) -> bytes:
        return run_git(root, "status", "--porcelain", "-z", "--untracked-files=all",
                       check=False).strip(b"\0")

    def tree(self) -> dict[str, tuple[str, str]]:
        """{path: (mode, blob id)} of the remote's tip."""
        out = run_git(self.path, "ls-tree", "-r", "-z", "refs/heads/main")
        tree: dict[str, tuple[str, str]] = {}
        for entry in out.split(b"\0"):
            if entry:
                meta, _, path = entry.partition(b"\t")
                mode, _type, sha = meta.decode().split()
                tree[path.decode("utf-8", "surrogateescape")] = (mode, sha)
        return tree

    def history_blobs(self) -> set[str]:
        return set(run_git(self.path, "rev-list", "--objects", "--all").decode(
            "utf-8", "surrogateescape").split())

    def blob(self, blob: str) -> bytes:
        return run_git(self.path, "cat-file", "blob", blob)


# The tip's files (mode, blob id, content) or every file version in the history (blob
# ids), read through Mercurial's own Python API: one process, not one per file.
_HG_DUMP = r'''
import base64, hashlib, json, sys
from mercurial import hg, ui as uimod
repo = hg.repository(uimod.ui.load(), sys.argv[1].encode())
def bid(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
heads = [repo[n] for n in repo.branchheads(b"default")] if len(repo) else []
tip = max(heads, key=lambda c: c.rev()) if heads else None
out = {"tip": tip.hex().decode() if tip is not None else "", "tree": {}, "history": [],
       "data": {}}
if sys.argv[2] == "tree" and tip is not None:
    for f in tip.manifest():
        fctx = tip[f]
        data = fctx.data()
        out["tree"][f.decode("utf-8", "surrogateescape")] = [
            "100755" if b"x" in fctx.flags() else ("120000" if b"l" in fctx.flags()
                                                   else "100644"), bid(data)]
        out["data"][bid(data)] = base64.b64encode(data).decode()
if sys.argv[2] == "history":
    seen = set()
    for rev in repo:
        ctx = repo[rev]
        for f in ctx.files():
            if f in ctx:
                node = ctx[f].filenode()
                if (f, node) not in seen:
                    seen.add((f, node))
                    out["history"].append(bid(ctx[f].data()))
print(json.dumps(out))
'''


class HgStore:
    """An hg remote (a repository without a working copy)."""

    kind = "hg"
    data_dir = ".hg"

    def __init__(self, base: Path) -> None:
        self.base = base
        self.path = base / "remote-hg"
        self.hidden = base / "remote-hg-away"
        self._blobs: dict[str, bytes] = {}

    def create(self) -> None:
        run_hg(self.base, "init", str(self.path))
        seed = self.base / "seed"
        run_hg(self.base, "clone", "-q", str(self.path), str(seed))
        (seed / "README.txt").write_text("shared folder\n")
        run_hg(seed, "add", "-q", "README.txt")
        run_hg(seed, "commit", "-q", "-u", "seed <seed@example.invalid>", "-m", "initial")
        run_hg(seed, "push", "-q")

    def clone(self, dest: Path) -> None:
        run_hg(self.base, "clone", "-q", str(self.path), str(dest))

    def _dump(self, what: str) -> dict[str, object]:
        done = subprocess.run([SYSTEM_PYTHON, "-c", _HG_DUMP, str(self.path), what],
                              capture_output=True, check=False, env={**os.environ,
                                                                    "HGPLAIN": "1"})
        if done.returncode != 0:
            raise RuntimeError(f"reading {self.path} failed: {done.stderr.decode()}")
        data: dict[str, object] = json.loads(done.stdout)
        return data

    def tip(self) -> str:
        return run_hg(self.path, "log", "-r", "max(head() and branch(default))", "-T",
                      "{node}").decode().strip()

    def head(self, root: Path) -> str:
        return run_hg(root, "log", "-r", ".", "-T", "{node}", check=False).decode().strip()

    def dirty(self, root: Path) -> bytes:
        return run_hg(root, "status", "-0", check=False).strip(b"\0")

    def tree(self) -> dict[str, tuple[str, str]]:
        dump = self._dump("tree")
        tree, data = dump["tree"], dump["data"]
        assert isinstance(tree, dict) and isinstance(data, dict)
        self._blobs = {bid: base64.b64decode(text) for bid, text in data.items()}
        return {path: (mode, bid) for path, (mode, bid) in tree.items()}

    def history_blobs(self) -> set[str]:
        history = self._dump("history")["history"]
        assert isinstance(history, list)
        return set(history)

    def blob(self, blob: str) -> bytes:
        """The content of a file of the tip (as read by the last tree())."""
        return self._blobs[blob]


def make_store(kind: str, base: Path) -> GitStore | HgStore:
    if kind == "git":
        return GitStore(base)
    if kind == "hg":
        return HgStore(base)
    raise ValueError(f"unknown backend {kind}")
