"""Keeping a clone's object store small without blocking sync.

What a sync receives is kept as packs (transfer.unpackLimit=1). A pack received for a
small edit of a large file holds the edit as a delta plus, appended by git to make the
pack complete, the whole previous version again; an edit made here is first stored whole
as a loose object. Both are duplicates until the packs are combined: `git repack -a -d`
writes one pack, reusing every delta already computed (mostly a copy at disk speed). It
runs when what lies outside the largest pack is a sizeable share of it, else small packs
are rolled up geometrically (cheap). With Git LFS, local copies of LFS objects that are
on the server and no longer needed are pruned. Runs in a worker thread, never under the
repository's sync lock: git's repack is safe beside a fetch, commit or push."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from autosync_gui.disk_space import MB, room_at
from autosync_gui.engine.git_runner import GitRunner

log = logging.getLogger(__name__)

FULL_REPACK_SHARE = 0.25  # outside the largest pack / the largest pack
MAX_PACKS = 16
MAX_LOOSE = 200


@dataclass(frozen=True)
class StoreSize:
    packs: tuple[int, ...]  # bytes of each pack, largest first
    loose_count: int
    loose_bytes: int

    @property
    def total(self) -> int:
        return sum(self.packs) + self.loose_bytes


def store_size(runner: GitRunner, git_dir: Path) -> StoreSize:
    pack_dir = git_dir / "objects" / "pack"
    packs = sorted((entry.stat().st_size for entry in os.scandir(pack_dir)
                    if entry.name.endswith(".pack")), reverse=True) \
        if pack_dir.is_dir() else []
    counts: dict[str, int] = {}
    for line in runner.run("count-objects", "-v", check=False).text.splitlines():
        key, _, value = line.partition(":")
        if value.strip().isdigit():
            counts[key.strip()] = int(value)
    return StoreSize(tuple(packs), counts.get("count", 0), counts.get("size", 0) * 1024)


def plan(size: StoreSize) -> list[str] | None:
    """The repack to run for a store of this shape, or None when it is fine as it is."""
    largest = size.packs[0] if size.packs else 0
    outside = size.total - largest
    if outside == 0:
        return None
    if outside >= FULL_REPACK_SHARE * largest or len(size.packs) > MAX_PACKS:
        return ["repack", "-a", "-d", "-q", "-n"]
    if len(size.packs) > 2 or size.loose_count >= MAX_LOOSE:
        return ["repack", "-d", "-q", "-n", "--geometric=2"]
    return None


def run_maintenance(runner: GitRunner, git_dir: Path, prune_lfs: bool) -> str:
    """One round (blocking; a worker thread). Returns a line about what it did."""
    before = store_size(runner, git_dir)
    args = plan(before)
    done: list[str] = []
    if args is not None:
        # A repack writes its new pack before it deletes the old ones: never into the
        # reserve left free for everything else (disk_space.py).
        need = before.total if "-a" in args else before.total - max(before.packs, default=0)
        try:
            free, reserve = room_at(git_dir)
        except OSError:
            free, reserve = 0, 0
        if free < reserve + need:
            done.append(f"skipped repacking: it needs about {need // MB + 1} MB and only "
                        f"{free // MB} MB are free")
            args = None
    if args is not None:
        result = runner.run(*args, check=False)
        if not result.ok:
            log.warning("%s: git %s failed: %s", git_dir, " ".join(args), result.err.strip())
        else:
            after = store_size(runner, git_dir)
            done.append(f"repacked: {before.total >> 20} MB -> {after.total >> 20} MB")
    if prune_lfs:
        result = runner.run("-c", "lfs.locksverify=false", "lfs", "prune", "--verify-remote",
                            check=False, timeout=600)
        if result.ok:
            done.append("pruned local Git LFS copies that are on the server")
    return "; ".join(done) or f"nothing to do ({before.total >> 20} MB in " \
        f"{len(before.packs)} pack(s), {before.loose_count} loose objects)"
