"""Command line: `autosync [run] [--config FILE] [--headless]`, `autosync --version`, and
the commands that control a running instance (control/cli_commands.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from autosync_gui import __version__, log_safety, setup_cli
from autosync_gui.config import ConfigError, Settings, load_config
from autosync_gui.control.cli_commands import add_control_commands, run_control
from autosync_gui.control.instance import InstanceLock, instance_paths
from autosync_gui.control.runtime import UnsafeRuntimeError
from autosync_gui.control.server import ControlServer
from autosync_gui.control.service import ControlService
from autosync_gui.engine.backends import validate_folder
from autosync_gui.engine.engine import Engine
from autosync_gui.engine.headless_log import HeadlessLog
from autosync_gui.engine.repository import RepositoryError
from autosync_gui.log_levels import set_library_levels
from autosync_gui.secrets import take_environment_password

if TYPE_CHECKING:  # imported where used: XMPP is optional in a build
    from autosync_gui.notify.service import DisabledService, NotificationService

log = logging.getLogger("autosync")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autosync", description=__doc__)
    parser.add_argument("--version", action="version", version=f"autosync {__version__}")
    parser.add_argument("--config", type=Path, help="configuration file (default: "
                        "~/.config/autosync/config.toml)")
    parser.add_argument("--headless", action="store_true", help="run without the tray app")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="sync every configured folder in the foreground")
    run.add_argument("--config", type=Path, default=argparse.SUPPRESS)
    run.add_argument("--headless", action="store_true", default=argparse.SUPPRESS)
    run.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
    add_control_commands(sub)
    setup_cli.add_subcommands(sub)
    return parser


def load_and_validate(config: Path | None) -> Settings:
    """Load the configuration and check every folder before anything is started, so a bad
    configuration changes nothing. Raises ConfigError (one line)."""
    settings = load_config(config)
    if not settings.folders:
        raise ConfigError(f"{settings.source}: folder: no folder configured; add a [[folder]] "
                          "table with path = ...")
    for i, folder in enumerate(settings.folders):
        try:
            validate_folder(folder.path)
        except RepositoryError as exc:
            raise ConfigError(f"{settings.source}: folder[{i}].path: {exc}") from None
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    take_environment_password()  # out of os.environ before any child process starts
    if getattr(args, "control", None) is not None:
        return run_control(args, unknown)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    handler = getattr(args, "handler", None)
    if handler is not None:  # a set-up subcommand that does one thing and exits
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="autosync: %(message)s", stream=sys.stderr)
        log_safety.install(*logging.getLogger().handlers)
        set_library_levels(args.verbose)
        return int(handler(args))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    log_safety.install(*logging.getLogger().handlers)
    set_library_levels(args.verbose)
    headless = args.headless or (args.command == "run" and _no_gui_available())
    if not headless:
        if not any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
            print("autosync: no graphical display for the tray app (DISPLAY and WAYLAND_DISPLAY "
                  "are unset); on a server use `autosync run --headless`", file=sys.stderr)
            return 2
        return gui_main(argv)
    try:
        settings = load_and_validate(args.config)
    except ConfigError as exc:
        one_line = str(exc).replace("\r", "\\r").replace("\n", "\\n")  # values may hold newlines
        print(f"autosync: {one_line}", file=sys.stderr)
        return 2
    for warning in settings.warnings:
        log.warning("%s", warning)
    try:
        lock = InstanceLock(instance_paths(settings.source))
        if not lock.acquire():
            print(f"autosync: an instance for {lock.paths.config} already runs; see it with "
                  "`autosync status`, or stop it first", file=sys.stderr)
            return 2
    except UnsafeRuntimeError as exc:
        print(f"autosync: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_headless(settings, lock))
    finally:
        lock.release()


def _no_gui_available() -> bool:
    try:
        import autosync_gui.ui.app  # noqa: F401
    except ImportError:
        return True
    return False


def gui_main(argv: list[str] | None = None) -> int:
    """The tray application (the gui-script entry point)."""
    try:
        from autosync_gui.ui.app import run_app
    except ImportError:
        print("autosync: the tray app is not available; use `autosync run --headless`",
              file=sys.stderr)
        return 2
    return run_app(sys.argv[1:] if argv is None else argv)


async def run_headless(settings: Settings, lock: InstanceLock) -> int:
    """Run until SIGINT/SIGTERM; then commit what is pending, try one push, exit 0.
    `lock` (held) makes this the instance of its configuration; commands reach it over
    the control socket."""
    engine = Engine(settings)
    engine.subscribe(HeadlessLog())
    control = ControlServer(ControlService(engine, mode="headless", config=lock.paths.config),
                            lock.paths)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    notifier: NotificationService | DisabledService | None = None
    try:
        await control.start()
        await engine.start()
        if settings.source is not None:
            engine.watch_config(settings.source)  # `autosync add`/`remove` while running
        notifier = await _start_notifier(engine, settings)
        log.info("autosync %s running: %d folder(s)", __version__, len(engine.folders))
        await stop.wait()
        log.info("stopping: committing pending changes and pushing once")
    except (RepositoryError, UnsafeRuntimeError) as exc:
        print(f"autosync: {exc}", file=sys.stderr)
        await control.stop()
        await engine.stop(flush=False)
        return 2
    await control.stop()
    if notifier is not None:
        await notifier.stop()
    await engine.stop(flush=True)
    return 0


async def _start_notifier(engine: Engine, settings: Settings
                          ) -> NotificationService | DisabledService | None:
    """Start the XMPP notification service when configured and available."""
    if settings.xmpp is None:
        return None
    try:
        from autosync_gui.notify.service import start_notification_service
    except ImportError:
        log.warning("XMPP notification is not available in this build; polling only")
        return None
    return await start_notification_service(engine, settings.xmpp)


if __name__ == "__main__":
    sys.exit(main())
