"""The man page and the shell completions, generated from the command line's own parser
(`cli.build_parser()`), so they list exactly the commands and options it accepts.

The package build runs `python -m autosync_gui.cli_docs --man autosync.1 --bash autosync
--zsh _autosync`; nothing here is written by hand per option or per command."""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from autosync_gui.version import SUMMARY, __version__

# --------------------------------------------------------------------------- the parser's shape


@dataclass(frozen=True)
class Option:
    """One option or positional argument of one command."""

    flags: tuple[str, ...]  # empty for a positional argument
    metavar: str | None  # None when the option takes no value
    help: str
    choices: tuple[str, ...] = ()
    takes_path: bool = False
    optional_positional: bool = False  # nargs "?" or "*"


@dataclass(frozen=True)
class Command:
    """A command (the program itself or a subcommand) with its options and subcommands."""

    words: tuple[str, ...]  # ("autosync",), ("autosync", "run"), ...
    help: str
    description: str
    options: tuple[Option, ...]
    subcommands: tuple[Command, ...] = field(default=())

    @property
    def name(self) -> str:
        return " ".join(self.words)

    def walk(self) -> Iterator[Command]:
        yield self
        for sub in self.subcommands:
            yield from sub.walk()


def describe(parser: argparse.ArgumentParser, words: tuple[str, ...] | None = None,
             help_text: str = "", inherited: dict[str, str] | None = None) -> Command:
    """The command tree of an argparse parser (hidden options and commands left out).
    A subcommand's option without a help text of its own (one repeated from the main
    command, such as `run --config`) takes the main command's help text."""
    words = words or (parser.prog,)
    inherited = dict(inherited or {})
    options: list[Option] = []
    subcommands: list[tuple[argparse.ArgumentParser, str, str]] = []
    formatter = parser._get_formatter()  # argparse internals: no public API lists actions
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen or name not in helps:  # aliases; hidden commands
                    continue
                seen.add(id(sub))
                subcommands.append((sub, name, helps[name]))
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._HelpAction) and len(words) > 1:
            continue  # every command has -h; the main command's entry says so once
        option = _option(action, formatter)
        if not option.help:
            option = replace(option, help=next(
                (inherited[f] for f in option.flags if f in inherited), ""))
        options.append(option)
        inherited.update((flag, option.help) for flag in option.flags if option.help)
    return Command(words=words, help=help_text, description=parser.description or "",
                   options=tuple(options),
                   subcommands=tuple(describe(sub, (*words, name), text, inherited)
                                     for sub, name, text in subcommands))


def _option(action: argparse.Action, formatter: argparse.HelpFormatter) -> Option:
    takes_value = action.nargs != 0
    metavar: str | None = None
    if takes_value:
        if isinstance(action.metavar, str):
            metavar = action.metavar
        elif isinstance(action.metavar, tuple):
            metavar = " ".join(action.metavar)
        else:
            metavar = action.dest.upper() if action.option_strings else action.dest
    help_text = formatter._expand_help(action) if action.help else ""
    choices = tuple(str(c) for c in action.choices) if action.choices else ()
    return Option(flags=tuple(action.option_strings), metavar=metavar, help=help_text,
                  choices=choices, takes_path=takes_value and action.type is Path,
                  optional_positional=not action.option_strings and action.nargs in ("?", "*"))


# --------------------------------------------------------------------------- man page

def _roff(text: str) -> str:
    """Plain text as roff: backslashes and hyphens escaped, no line starting a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", text)
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.splitlines())


def _option_heading(option: Option) -> str:
    names = ", ".join(f"\\fB{_roff(flag)}\\fR" for flag in option.flags)
    if not option.flags:
        return f"\\fI{_roff(option.metavar or '')}\\fR"
    if option.metavar is not None:
        names += f" \\fI{_roff(option.metavar)}\\fR"
    return names


def _synopsis(command: Command) -> str:
    parts = [f"\\fB{_roff(command.name)}\\fR"]
    if any(o.flags for o in command.options):
        parts.append("[\\fIoptions\\fR]")
    for positional in (o for o in command.options if not o.flags):
        name = f"\\fI{_roff(positional.metavar or '')}\\fR"
        parts.append(f"[{name}]" if positional.optional_positional else name)
    if command.subcommands:
        parts.append("[\\fIcommand\\fR]")
    return " ".join(parts)


def render_manpage(parser: argparse.ArgumentParser, *, version: str = __version__,
                   date: datetime.date | None = None) -> str:
    """autosync.1: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, one COMMANDS entry per subcommand."""
    top = describe(parser)
    date = date or _build_date()
    lines = [
        f'.TH {top.name.upper()} 1 "{date.isoformat()}" "autosync {version}" "User Commands"',
        ".SH NAME",
        f"{_roff(top.name)} \\- {_roff(SUMMARY)}",
        ".SH SYNOPSIS",
    ]
    for command in top.walk():
        lines += [_synopsis(command), ".br"]
    lines.pop()
    lines += [".SH DESCRIPTION", _roff(top.description)]
    lines += [".PP", _roff(
        "autosync-gui starts the tray app, as autosync does without --headless on a "
        "graphical desktop.")]
    lines += [".SH OPTIONS"]
    lines += _option_lines(top.options)
    if top.subcommands:
        lines.append(".SH COMMANDS")
        for command in list(top.walk())[1:]:
            lines += [".SS " + _quote(command.name), _roff(command.help or command.description)]
            if command.description and command.help and \
                    _plain(command.description) != _plain(command.help):
                lines += [".PP", _roff(command.description)]
            lines += _option_lines(command.options)
    lines += [
        ".SH FILES",
        ".TP", "\\fI~/.config/autosync/config.toml\\fR",
        "The configuration (\\fB$XDG_CONFIG_HOME\\fR is honoured); \\fB\\-\\-config\\fR "
        "names another file.",
        ".TP", "\\fI~/.local/state/autosync/autosync.log\\fR",
        "The tray app's log.",
        ".SH ENVIRONMENT",
        ".TP", "\\fBAUTOSYNC_XMPP_PASSWORD\\fR",
        "The XMPP password, for machines without a keyring.",
        ".SH EXIT STATUS",
        "0 on success and after a clean stop (SIGINT, SIGTERM); 2 for a bad configuration "
        "or command line.",
        ".SH SEE ALSO",
        "\\fBgit\\fR(1), \\fBsystemctl\\fR(1)",
    ]
    return "\n".join(lines) + "\n"


def _plain(text: str) -> str:
    """A sentence compared loosely: "Show it." and "show it" say the same."""
    return text.strip().rstrip(".").lower()


def _quote(text: str) -> str:
    return '"' + _roff(text).replace('"', '\\(dq') + '"'


def _option_lines(options: tuple[Option, ...]) -> list[str]:
    lines: list[str] = []
    for option in options:
        lines += [".TP", _option_heading(option)]
        text = option.help
        if option.choices:
            text += (" " if text else "") + "One of: " + ", ".join(option.choices) + "."
        lines.append(_roff(text) if text else "")
    return lines


def _build_date() -> datetime.date:
    """The date in the man page: SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).date()
    return datetime.datetime.now(datetime.UTC).date()


# --------------------------------------------------------------------------- bash

def _words(values: list[str]) -> str:
    return " ".join(values)


def render_bash_completion(parser: argparse.ArgumentParser) -> str:
    """A bash completion function: subcommands, each command's options, file names after
    options that take a path and the allowed values after options with choices."""
    top = describe(parser)
    prog = top.words[0]
    func = "_" + re.sub(r"[^A-Za-z0-9_]", "_", prog)
    commands = list(top.walk())
    descend = [f'            "{c.name}") path="$path $word" ;;' for c in commands[1:]]
    levels: list[str] = []
    for c in commands:
        flags = [f for o in c.options for f in o.flags]
        subs = [s.words[-1] for s in c.subcommands]
        subs += [choice for o in c.options if not o.flags for choice in o.choices]
        levels.append(f'        "{c.name}") opts="{_words(flags)}"; words="{_words(subs)}" ;;')
    values: list[str] = []
    for c in commands:
        for o in c.options:
            if not o.flags or o.metavar is None:
                continue
            pattern = "|".join(f'"{c.name} {f}"' for f in o.flags)
            if o.choices:
                action = f'COMPREPLY=($(compgen -W "{_words(list(o.choices))}" -- "$cur"))'
            elif o.takes_path:
                action = 'COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null'
            else:
                action = "COMPREPLY=()"
            values.append(f"        {pattern}) {action}; return ;;")
    return "\n".join([
        f"# bash completion for {prog}, generated from its argument parser",
        f"{func}() {{",
        '    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}',
        f"    local path={prog} word i opts words",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        word=${COMP_WORDS[i]}",
        '        case "$path $word" in',
        *descend,
        "        esac",
        "    done",
        '    case "$path $prev" in',
        *values,
        "    esac",
        '    case "$path" in',
        *levels,
        "    esac",
        '    if [[ $cur == -* ]]; then',
        '        COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
        "    else",
        '        COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "    fi",
        "}",
        f"complete -F {func} {prog}",
        "",
    ])


# --------------------------------------------------------------------------- zsh

def _zsh_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "'\\''").replace("[", "\\[").replace(
        "]", "\\]").replace(":", "\\:")


def _zsh_spec(option: Option) -> list[str]:
    help_text = _zsh_escape(option.help.splitlines()[0] if option.help else "")
    if option.metavar is None:
        value = ""
    elif option.choices:
        value = f":{_zsh_escape(option.metavar)}:({' '.join(option.choices)})"
    elif option.takes_path:
        value = f":{_zsh_escape(option.metavar)}:_files"
    else:
        value = f":{_zsh_escape(option.metavar)}:"
    if len(option.flags) > 1:
        group = " ".join(option.flags)
        return [f"'({group})'{{{','.join(option.flags)}}}'[{help_text}]{value}'"]
    return [f"'{option.flags[0]}[{help_text}]{value}'"]


def render_zsh_completion(parser: argparse.ArgumentParser) -> str:
    """A zsh completion function (`_arguments` per command, `->` states for subcommands)."""
    top = describe(parser)
    prog = top.words[0]
    out = [f"#compdef {prog}", f"# zsh completion for {prog}, generated from its argument parser", ""]
    for command in top.walk():
        func = "_" + "_".join(re.sub(r"[^A-Za-z0-9_]", "_", w) for w in command.words)
        specs = [spec for o in command.options if o.flags for spec in _zsh_spec(o)]
        out.append(f"{func}() {{")
        if command.subcommands:
            out.append("    local curcontext=$curcontext state line")
            out.append("    typeset -A opt_args")
            out.append("    _arguments -C \\")
            out += [f"        {s} \\" for s in specs]
            out.append("        '1: :->command' \\")
            out.append("        '*:: :->args'")
            out.append("    case $state in")
            out.append("        command)")
            entries = " ".join(
                "'" + _zsh_escape(s.words[-1]) + ":" + _zsh_escape(s.help) + "'"
                for s in command.subcommands)
            out.append(f"            local -a commands=({entries})")
            out.append(f"            _describe -t commands '{prog} command' commands ;;")
            out.append("        args)")
            out.append("            case $line[1] in")
            for s in command.subcommands:
                sub_func = "_" + "_".join(re.sub(r"[^A-Za-z0-9_]", "_", w) for w in s.words)
                out.append(f"                {s.words[-1]}) {sub_func} ;;")
            out.append("            esac ;;")
            out.append("    esac")
        else:
            positional = [o for o in command.options if not o.flags]
            pos_specs = [f"'{i + 1}:{_zsh_escape(o.metavar or '')}:"
                         + (f"({' '.join(o.choices)})'" if o.choices else "'")
                         for i, o in enumerate(positional)]
            out.append("    _arguments \\")
            out += [f"        {s} \\" for s in specs + pos_specs]
            out[-1] = out[-1].removesuffix(" \\")
            if not specs and not pos_specs:
                out[-1] = "    _arguments"
        out.append("}")
        out.append("")
    out.append(f'_{re.sub(r"[^A-Za-z0-9_]", "_", prog)} "$@"')
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    from autosync_gui.cli import build_parser

    args = argparse.ArgumentParser(
        prog="python -m autosync_gui.cli_docs",
        description="Write the man page and shell completions of `autosync`.")
    args.add_argument("--man", type=Path, help="write the man page (roff) here")
    args.add_argument("--bash", type=Path, help="write the bash completion here")
    args.add_argument("--zsh", type=Path, help="write the zsh completion here")
    opts = args.parse_args(argv)
    if not (opts.man or opts.bash or opts.zsh):
        args.error("nothing to write; give --man, --bash and/or --zsh")
    parser = build_parser()
    outputs: list[tuple[Path | None, str]] = [
        (opts.man, render_manpage(parser) if opts.man else ""),
        (opts.bash, render_bash_completion(parser) if opts.bash else ""),
        (opts.zsh, render_zsh_completion(parser) if opts.zsh else ""),
    ]
    for path, text in outputs:
        if path is not None:
            path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
