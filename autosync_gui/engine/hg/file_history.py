"""The per-file history queries (versions, deleted files, restore commits) for hg
folders: not built yet. Each query says so in one line instead of answering wrongly;
the counts the status line needs are answered."""

from __future__ import annotations

import os
from datetime import datetime

from autosync_gui.engine.events import Conflict
from autosync_gui.engine.hg.runner import HgRunner
from autosync_gui.engine.repository import (
    CommitResult,
    DeletedFile,
    FileVersion,
    RepositoryError,
)


class HgFileHistory:
    def __init__(self, runner: HgRunner, scope: str) -> None:
        self._runner = runner
        self._scope = [f"path:{scope}"] if scope else []

    def _missing(self, what: str) -> RepositoryError:
        return RepositoryError(f"{self._runner.root}: {what} is not available for Mercurial "
                               "folders yet; use the history window")

    def versions(self, path: str) -> list[FileVersion]:
        raise self._missing("the versions of a file")

    def deleted_files(self, since: datetime, under: str) -> list[DeletedFile]:
        raise self._missing("the list of deleted files")

    def commit_restore(self, path: str, title: str) -> CommitResult | None:
        raise self._missing("restoring from the command line")

    def describe_conflict(self, path: str, copy_path: str, fallback: Conflict) -> Conflict:
        return fallback

    def pending_changes(self) -> int:
        result = self._runner.run("status", "-0", "-mardu", *self._scope)
        return len([e for e in result.out.split(b"\0") if e])

    def ignored_files(self, limit: int) -> list[str]:
        result = self._runner.run("status", "-0", "--ignored", "--no-status", *self._scope)
        names = sorted(os.fsdecode(e) for e in result.out.split(b"\0") if e)
        return names[:limit]

    def unpushed_commits(self) -> int:
        result = self._runner.run("log", "-r", "draft() and ::.", "-T", "x")
        return len(result.out)
