"""Writing a pull's files while the pull is still moving old ones aside: one
`git checkout-index` is handed each path once the path is free, and writes it at once.

A big pull spends most of its time on two things, moving the old versions aside (our
renames, with the checks that keep a save landing meanwhile) and creating the new files
(git). Run one after the other, they cost their sum; here git creates one folder's files
while the next folder's old versions go aside. That git has one worker (git's parallel
checkout writes nothing before its input ends), so where creating files is slower than
moving them (on ext4 without a journal, right after many deletions, by several times)
it would hold the pull back: paths it cannot take at once wait, and are written when the
moving is done, by a second checkout-index with parallel workers.

git's messages go to a temporary file, not a pipe: a pipe nobody reads while paths are
written could fill and stop both sides."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import tempfile
from pathlib import Path

from autosync_gui.engine.git_env import GitResult
from autosync_gui.engine.git_runner import GitRunner

CHECKOUT_WORKERS = 4  # git's parallel checkout (checkout_paths)
_ATOMIC = select.PIPE_BUF  # a write this long or shorter goes into a pipe whole or not at all


def checkout_paths(runner: GitRunner, index: Path, paths: list[str]) -> GitResult:
    """Write `paths` (each free now) from the index file `index` with one
    `git checkout-index -u` and parallel workers (git's parallel checkout: each file
    still created with O_EXCL after its leading folders are checked for links; creating
    files is latency-bound, 20,000 files took 5.7-16.5 s with one worker, 2.4-3.2 s with
    four on the benchmark machine). Never with -f: see CheckoutStream."""
    return runner.run("-c", f"checkout.workers={CHECKOUT_WORKERS}",
                      "checkout-index", "-u", "-z", "--stdin",
                      env={"GIT_INDEX_FILE": str(index)},
                      stdin=b"\0".join(os.fsencode(p) for p in paths) + b"\0", check=False)


class CheckoutStream:
    """`git checkout-index -u -z --stdin` from the index file `index`, fed path by path.
    Never with -f: each file is created exclusively (a save landing at that moment stays)
    and a leading folder that is not a real folder stops it; stat data is recorded as it
    writes, in `index`, when the input ends (finish)."""

    def __init__(self, runner: GitRunner, index: Path) -> None:
        self._runner = runner
        self._index = index
        self._messages = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                runner.command("checkout-index", "-u", "-z", "--stdin"), cwd=runner.root,
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._messages,
                env=runner.environment({"GIT_INDEX_FILE": str(index)}))
        except BaseException:
            self._messages.close()
            raise
        assert self._process.stdin is not None
        self._stdin = self._process.stdin.fileno()
        os.set_blocking(self._stdin, False)
        self.sent: list[str] = []  # every path handed over, in order
        self.waiting: list[str] = []  # handed over, not yet taken by git (see finish)

    def write(self, paths: list[str]) -> None:
        """Hand over `paths`, each free now (its old version aside or never there)."""
        self.sent.extend(paths)
        if self.waiting:
            self.waiting.extend(paths)  # (git is behind: in order, after the others)
            return
        chunk: list[bytes] = []
        size = 0
        for i, path in enumerate(paths):
            raw = os.fsencode(path) + b"\0"
            if chunk and size + len(raw) > _ATOMIC:
                if not self._send(b"".join(chunk)):
                    self.waiting.extend(paths[i - len(chunk):])
                    return
                chunk, size = [], 0
            chunk.append(raw)
            size += len(raw)
        if chunk and not self._send(b"".join(chunk)):
            self.waiting.extend(paths[len(paths) - len(chunk):])

    def _send(self, data: bytes) -> bool:
        """Whether git took `data` (whole: at most PIPE_BUF bytes, or one long path,
        which is written even if that means waiting)."""
        try:
            if len(data) > _ATOMIC:
                os.set_blocking(self._stdin, True)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(self._stdin, view):]
                finally:
                    os.set_blocking(self._stdin, False)
                return True
            return os.write(self._stdin, data) == len(data)
        except BlockingIOError:
            return False
        except BrokenPipeError:
            return False  # git died: its messages say why (finish)

    def finish(self) -> GitResult:
        """End the input, wait for git to write what it took and the index, then write
        the paths it could not take at once with parallel workers."""
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.close()
        code = self._process.wait()
        messages = self._read_messages()
        if code < 0 or not self.waiting:
            return GitResult(code, b"", messages)
        rest = checkout_paths(self._runner, self._index, self.waiting)
        return GitResult(code or rest.status, b"", messages + rest.err)

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
