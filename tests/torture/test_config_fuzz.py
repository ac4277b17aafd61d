"""Random malformed configuration files: `autosync run --headless --config FILE`
always exits 2 with exactly one line on stderr, never a traceback, and touches nothing.

A seeded generator (no extra dependency): random bytes, truncations and byte flips of a
valid file, every key given wrong types and out-of-range values, unknown keys and tables,
deep nesting, huge numbers and strings, bad paths (missing, a file, too long, not a work
tree, a bare repository, no remote, no upstream, detached HEAD), broken legacy INI files.
Most cases run the real `main()` in-process (fast); a sample also runs as a real process.
A generated file that happens to be valid is skipped (and counted)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from autosync_gui import cli
from autosync_gui.config import ConfigError
from tests.fixtures.git_remotes import Remote, git

pytestmark = pytest.mark.slow  # hundreds of malformed configurations, many as real processes

SEED = int(os.environ.get("AUTOSYNC_FUZZ_SEED", "5"))
CASES = 600
REPO_ROOT = Path(__file__).resolve().parents[2]

VALUES = ['""', '"x"', "0", "-1", "1e400", "-1e400", "nan", "inf", "true", "[]", "[1, 2]",
          '["*.log", 3]', "{}", "{ a = 1 }", "1979-05-27T07:32:00Z", "0x10", "99999999999999999999999",
          '"' + "a" * 5000 + '"', '"\\u0000"', "'''multi\nline'''", '"~/nowhere"', '"$HOME"',
          "[[1], [2]]", '"autosync.test"', '"a@b"', '"@"', "65536", "5222.5"]
FOLDER_KEYS = ["path", "commit_delay", "push_delay", "poll_interval", "ignore", "notify"]
XMPP_KEYS = ["jid", "host", "port", "ca_file", "trusted"]


def valid_config(folder: Path) -> str:
    return (f'[[folder]]\npath = "{folder}"\ncommit_delay = 1.0\npush_delay = 0.5\n'
            f'poll_interval = 60\nignore = ["*.log"]\nnotify = true\n\n'
            f'[xmpp]\njid = "alice@example.org"\nhost = "127.0.0.1"\nport = 5222\n'
            f'trusted = ["bob@example.org"]\n\n[ui]\nnotifications = "all"\n')


def generate(rng: random.Random, folders: dict[str, Path]) -> tuple[bytes, str]:
    """One malformed configuration file (content, suffix)."""
    good = valid_config(folders["good"])
    kind = rng.randrange(10)
    if kind == 0:  # random bytes
        return rng.randbytes(rng.randrange(0, 400)), rng.choice((".toml", ""))
    if kind == 1:  # truncated
        cut = rng.randrange(len(good))
        return good[:cut].encode(), ".toml"
    if kind == 2:  # byte flips / insertions
        data = bytearray(good.encode())
        for _ in range(rng.randrange(1, 6)):
            i = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[i] = rng.randrange(256)
            else:
                data[i:i] = bytes([rng.choice(b"[]{}=\"'#\n\\\x00\xff,.")])
        return bytes(data), ".toml"
    if kind == 3:  # a folder key with a wrong value
        key = rng.choice(FOLDER_KEYS)
        value = rng.choice(VALUES)
        lines = [ln for ln in good.splitlines() if not ln.startswith(key + " ")]
        lines.insert(1, f"{key} = {value}")
        return "\n".join(lines).encode(), ".toml"
    if kind == 4:  # an xmpp key with a wrong value
        key = rng.choice(XMPP_KEYS)
        value = rng.choice(VALUES)
        head, _, _tail = good.partition("[xmpp]")
        return f'{head}[xmpp]\njid = "alice@example.org"\n{key} = {value}\n'.encode() \
            if key != "jid" else f"{head}[xmpp]\njid = {value}\n".encode(), ".toml"
    if kind == 5:  # unknown keys and tables, wrong table shapes
        extra = rng.choice([
            "colour = 1", "[[folders]]\npath = 'x'", "[folder]\npath = 1",
            "folder = 3", "xmpp = 'alice'", "ui = []", "[ui]\nnotifications = 'loud'",
            "[ui]\nvolume = 3", "[[xmpp]]\njid = 'a@b'", f"[[folder]]\npath = \"{folders['good']}\"",
            "[folder.sub]\nx = 1", "[[folder]]\ncommit_delay = 1",
        ])
        return (good + "\n" + extra + "\n").encode(), ".toml"
    if kind == 6:  # bad folder paths
        name = rng.choice([n for n in folders if n != "good"])
        path = folders[name] if name != "long" else Path("/tmp/" + "a" * rng.choice((256, 5000)))
        return f'[[folder]]\npath = "{path}"\n'.encode(), ".toml"
    if kind == 7:  # deep nesting, huge documents
        depth = rng.choice((100, 1000, 5000, 50000))
        body = rng.choice(["a = " + "[" * depth + "]" * depth,
                           "a = " + "{ b = " * min(depth, 3000) + "1" + " }" * min(depth, 3000),
                           "[" + ".".join(["t"] * depth) + "]",
                           "a = " + "[" * depth])
        return (good + "\n" + body + "\n").encode(), ".toml"
    if kind == 8:  # legacy INI
        lines = ["[autosync]"]
        for key in rng.sample(["path", "ignorepath", "readfrequency", "syncmethod",
                               "pulllock", "colour"], rng.randrange(0, 4)):
            lines.append(f"{key} = {rng.choice(['', 'abc', '-1', '/nonexistent', 'x' * 300])}")
        if rng.random() < 0.5:
            lines += ["[xmpp]", f"username = {rng.choice(['', 'nobody', 'a@b', '@'])}",
                      "password = hunter2"]
        if rng.random() < 0.3:
            lines.append(rng.choice(["no section header", "[broken", "= value", "%(x)s"]))
        return "\n".join(lines).encode(), ""
    # duplicate keys / tables
    return (good + "\n" + rng.choice(["[xmpp]\njid='a@b'", "[ui]\nnotifications='all'"])
            + "\n").encode(), ".toml"


@pytest.fixture
def folders(remote: Remote, tmp_path: Path) -> dict[str, Path]:
    good = remote.clone("good")
    plain = tmp_path / "plain"
    plain.mkdir()
    afile = tmp_path / "afile"
    afile.write_text("x")
    no_remote = tmp_path / "no-remote"
    git(tmp_path, "init", "-q", str(no_remote))
    no_upstream = tmp_path / "no-upstream"
    git(tmp_path, "init", "-q", str(no_upstream))
    git(no_upstream, "remote", "add", "origin", str(remote.bare))
    detached = remote.clone("detached")
    git(detached, "checkout", "-q", "--detach")
    return {"good": good, "missing": tmp_path / "missing", "plain": plain, "file": afile,
            "bare": remote.bare, "no-remote": no_remote, "no-upstream": no_upstream,
            "detached": detached, "dotgit": good / ".git", "long": tmp_path}


def snapshot(paths: list[Path]) -> dict[str, float]:
    out = {}
    for root in paths:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                p = os.path.join(dirpath, name)
                out[p] = os.stat(p).st_mtime_ns
    return out


def test_malformed_configs_exit_2_with_one_line(folders, tmp_path: Path, capsys) -> None:
    rng = random.Random(SEED)
    watched = [folders["good"], folders["detached"]]
    before = snapshot(watched)
    valid = 0
    for case in range(CASES):
        data, suffix = generate(rng, folders)
        config = tmp_path / f"case-{case}{suffix or '.ini'}"
        if not suffix:
            config = tmp_path / f"case-{case}"
        config.write_bytes(data)
        what = f"seed {SEED} case {case} ({config}): {data[:200]!r}"
        try:
            cli.load_and_validate(config)
        except ConfigError:
            pass
        except BaseException as exc:
            pytest.fail(f"{what}: load_and_validate raised {type(exc).__name__}: {exc}"[:2000])
        else:
            valid += 1  # the mutation produced a valid file: not a malformed one
            continue
        capsys.readouterr()
        try:
            status = cli.main(["run", "--headless", "--config", str(config)])
        except BaseException as exc:
            pytest.fail(f"{what}: main raised {type(exc).__name__}: {exc}"[:2000])
        out, err = capsys.readouterr()
        lines = err.splitlines()
        assert status == 2, f"{what}: exit {status}"
        assert len(lines) == 1 and lines[0].startswith("autosync: "), f"{what}: {err!r}"[:2000]
        assert "Traceback" not in err and out == ""
    assert valid < CASES // 4, f"{valid} of {CASES} generated files were valid"
    assert snapshot(watched) == before, "a bad configuration touched a folder"


def test_malformed_configs_as_real_processes(folders, tmp_path: Path) -> None:
    """A sample end to end: the real command, its exit status and stderr."""
    rng = random.Random(SEED + 1)
    checked = 0
    for case in range(200):
        data, suffix = generate(rng, folders)
        config = tmp_path / (f"p-{case}.toml" if suffix else f"p-{case}")
        config.write_bytes(data)
        try:
            cli.load_and_validate(config)
        except ConfigError:
            pass
        except BaseException:
            pass  # the in-process test reports it; here it must still exit 2
        else:
            continue
        result = subprocess.run([sys.executable, "-m", "autosync_gui", "run", "--headless",
                                 "--config", str(config)], capture_output=True, text=True,
                                timeout=60, cwd=REPO_ROOT, check=False)
        what = f"seed {SEED + 1} case {case}: {data[:200]!r}"
        assert result.returncode == 2, f"{what}: exit {result.returncode}: {result.stderr[-500:]}"
        assert len(result.stderr.splitlines()) == 1, f"{what}: {result.stderr[-1000:]}"
        checked += 1
        if checked == 12:
            break
    assert checked == 12
