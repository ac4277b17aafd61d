"""The man page and shell completions are generated from the argument parser: whatever the
parser accepts (including commands added later) appears in them, and nothing else."""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
from pathlib import Path

import pytest

from autosync_gui.cli import build_parser
from autosync_gui.cli_docs import (
    describe,
    main,
    render_bash_completion,
    render_manpage,
    render_zsh_completion,
)
from autosync_gui.version import __version__


def _all_flags(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for command in describe(parser).walk() for option in command.options
            for flag in option.flags}


def _extended_parser() -> argparse.ArgumentParser:
    """The real parser plus a command someone might add: the docs must follow."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    extra = sub.add_parser("frobnicate", help="frobnicate every folder")
    extra.add_argument("--level", choices=["low", "high"], help="how hard")
    extra.add_argument("--into", type=Path, help="target folder")
    extra.add_argument("--secret-knob", help=argparse.SUPPRESS)
    extra.add_argument("target", nargs="?", help="one folder (default: all)")
    return parser


def _man_text(roff: str, tmp_path: Path) -> str:
    if shutil.which("man") is None:
        pytest.skip("man-db is not installed")
    page = tmp_path / "autosync.1"
    page.write_text(roff)
    result = subprocess.run(["man", "-l", "-P", "cat", str(page)], capture_output=True,
                            text=True, env={"MANWIDTH": "200", "PATH": "/usr/bin:/bin",
                                            "LANG": "C.UTF-8"}, check=True)
    assert "warning" not in result.stderr.lower(), result.stderr
    return result.stdout


def test_man_page_names_every_command_and_option_of_the_parser(tmp_path: Path) -> None:
    parser = _extended_parser()
    text = _man_text(render_manpage(parser, date=datetime.date(2026, 1, 2)), tmp_path)
    for command in describe(parser).walk():
        assert command.name in text, command.name
    for flag in _all_flags(parser):
        assert flag in text, flag
    assert "frobnicate every folder" in text and "One of: low, high." in text
    assert "--secret-knob" not in text
    assert "autosync frobnicate [options] [target]" in text, "an optional positional"
    assert f"autosync {__version__}" in text and "2026-01-02" in text


def test_man_page_gives_a_repeated_option_the_main_commands_help(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="autosync", description="d")
    parser.add_argument("--config", type=Path, help="configuration file")
    run = parser.add_subparsers(dest="command").add_parser("run", help="run it")
    run.add_argument("--config", type=Path, default=argparse.SUPPRESS)
    (top, run_cmd) = describe(parser).walk()
    assert run_cmd.options[-1].help == "configuration file"


def test_man_page_escapes_roff(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="autosync", description="back\\slash\n.starts a line")
    text = _man_text(render_manpage(parser), tmp_path)
    assert "back\\slash" in text and ".starts a line" in text


def _complete(script: Path, *words: str) -> list[str]:
    """Ask the generated bash completion what it offers after `words` (the last one is
    the word being completed)."""
    code = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
            f"COMP_CWORD={len(words) - 1}; _autosync; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    result = subprocess.run(["bash", "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr == ""
    return [line for line in result.stdout.splitlines() if line]


def test_bash_completion_follows_the_parser(tmp_path: Path) -> None:
    parser = _extended_parser()
    script = tmp_path / "autosync"
    script.write_text(render_bash_completion(parser))
    (tmp_path / "my.toml").write_text("")
    commands = {command.words[-1] for command in describe(parser).subcommands}
    assert {"run", "frobnicate"} <= commands
    assert set(_complete(script, "autosync", "")) == commands
    assert _complete(script, "autosync", "fr") == ["frobnicate"]
    assert "--version" in _complete(script, "autosync", "--")
    assert "--level" in _complete(script, "autosync", "frobnicate", "--")
    assert "--secret-knob" not in _complete(script, "autosync", "frobnicate", "--")
    assert _complete(script, "autosync", "frobnicate", "--level", "h") == ["high"]
    assert _complete(script, "autosync", "run", "--config", str(tmp_path / "my")) == \
        [str(tmp_path / "my.toml")]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_parses(tmp_path: Path) -> None:
    script = tmp_path / "_autosync"
    script.write_text(render_zsh_completion(_extended_parser()))
    subprocess.run(["zsh", "-n", str(script)], check=True)


def test_zsh_completion_lists_every_command() -> None:
    text = render_zsh_completion(_extended_parser())
    assert text.startswith("#compdef autosync\n")
    assert "'run:" in text and "'frobnicate:" in text and "(low high)" in text
    assert "--secret-knob" not in text


def test_generator_command_line_writes_all_three(tmp_path: Path) -> None:
    assert main(["--man", str(tmp_path / "a.1"), "--bash", str(tmp_path / "a"),
                 "--zsh", str(tmp_path / "_a")]) == 0
    assert (tmp_path / "a.1").read_text().startswith(".TH AUTOSYNC 1 ")
    assert "complete -F _autosync autosync" in (tmp_path / "a").read_text()
    assert (tmp_path / "_a").read_text().startswith("#compdef autosync")
