"""One `git checkout-index` that writes pulled files while the pull is still moving old
ones aside: it is handed each path once the path is free, and writes it at once.

A big pull spends most of its time on two things, moving the old versions aside (our
renames, with the checks that keep a save landing meanwhile) and creating the new files
(git). Run one after the other, they cost their sum; here git creates one folder's files
while the next folder's old versions go aside. One worker: git's parallel checkout
writes nothing before its input ends.

git's messages go to a temporary file, not a pipe: a pipe nobody reads while paths are
written could fill and stop both sides."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from pathlib import Path

from autosync_gui.engine.git_env import GitResult
from autosync_gui.engine.git_runner import GitRunner


class CheckoutStream:
    """`git checkout-index -u -z --stdin` from the index file `index`, fed path by path.
    Never with -f: each file is created exclusively (a save landing at that moment stays)
    and a leading folder that is not a real folder stops it; stat data is recorded as it
    writes, in `index`, when the input ends (finish)."""

    def __init__(self, runner: GitRunner, index: Path) -> None:
        self._messages = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                runner.command("checkout-index", "-u", "-z", "--stdin"), cwd=runner.root,
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._messages,
                env=runner.environment({"GIT_INDEX_FILE": str(index)}))
        except BaseException:
            self._messages.close()
            raise
        self.sent: list[str] = []  # every path handed to git, in order
        self._stopped = False  # git is gone: what it did not read, it does not write

    def write(self, paths: list[str]) -> None:
        """Hand git `paths`, each free now (its old version aside or never there)."""
        if not paths:
            return
        self.sent.extend(paths)
        if self._stopped:
            return  # (finish reports why)
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(b"".join(os.fsencode(p) + b"\0" for p in paths))
            stdin.flush()
        except BrokenPipeError:
            self._stopped = True  # git died: its messages say why (finish)

    def finish(self) -> GitResult:
        """End the input and wait for git to write the rest and the index."""
        stdin = self._process.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
        code = self._process.wait()
        return GitResult(code, b"", self._read_messages())

    def stop(self) -> None:
        """Kill git (the pull is being undone) and wait for it: nothing more is written."""
        if self._process.poll() is None:
            self._process.kill()
        with contextlib.suppress(OSError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        self._process.wait()
        self._messages.close()

    def _read_messages(self) -> str:
        try:
            self._messages.seek(0)
            return self._messages.read().decode("utf-8", "replace")
        finally:
            self._messages.close()
