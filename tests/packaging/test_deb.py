"""The Debian package, built by packaging/build-deb from this tree: what it contains, what
lintian and the desktop validators say, and what a user gets after
`apt-get install ./autosync_*.deb` (a working `autosync --version`, headless sync and the
tray app) and after `apt-get remove` (their configuration untouched).

Slow (a real dpkg-buildpackage run, about two minutes with a warm pip cache) and it installs
into this machine, so it needs root and apt; the package is purged again at the end, so the
rest of the suite never runs an installed autosync."""

from __future__ import annotations

import fcntl
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autosync_gui.cli import build_parser
from autosync_gui.cli_docs import describe
from autosync_gui.version import __version__
from tests.fixtures.git_remotes import Remote

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/etc/debian_version").exists() or shutil.which("apt-get") is None,
                       reason="needs Debian with apt"),
    pytest.mark.skipif(os.geteuid() != 0, reason="installs build dependencies and the package"),
]

EXPECTED_FILES = [
    "usr/bin/autosync",
    "usr/bin/autosync-gui",
    "usr/share/applications/autosync.desktop",
    "usr/share/metainfo/io.github.autosync.autosync.metainfo.xml",
    "usr/share/icons/hicolor/scalable/apps/autosync.svg",
    "usr/share/icons/hicolor/48x48/apps/autosync.png",
    "usr/share/icons/hicolor/256x256/apps/autosync.png",
    "usr/lib/systemd/user/autosync.service",
    "usr/share/man/man1/autosync.1.gz",
    "usr/share/man/man1/autosync-gui.1.gz",
    "usr/share/bash-completion/completions/autosync",
    "usr/share/zsh/vendor-completions/_autosync",
    "usr/share/doc/autosync/copyright",
    "usr/share/doc/autosync/changelog.gz",
    "usr/lib/autosync/bin/python",
]


def _run(*args: str, timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                          check=False, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once for the whole run: the xdist workers this module's tests land on share
    one build (under their common temporary folder, the first to come builds it while
    the others wait; a build takes one to two minutes of both cores). pip's downloads are
    cached in the real user's cache (the tests' HOME is a throw-away one), so a rebuild
    does not fetch Qt again."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if base.name.startswith("popen-gw") else base  # (one per worker)
    out = shared / "deb"
    arch = _run("dpkg", "--print-architecture").stdout.strip()
    path = out / f"autosync_{__version__}_{arch}.deb"
    with open(shared / "deb.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # (released when closed)
        if path.is_file():
            return path
        out.mkdir(exist_ok=True)
        real_home = pwd.getpwuid(os.getuid()).pw_dir
        env = {**os.environ,
               "AUTOSYNC_BUILD_CACHE": os.environ.get("AUTOSYNC_BUILD_CACHE",
                                                      f"{real_home}/.cache/autosync-build")}
        result = _run(str(ROOT / "packaging" / "build-deb"), "--fast", "--no-lintian",
                      "--out", str(out), env=env, timeout=1500)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
        assert path.is_file(), sorted(p.name for p in out.iterdir())
    return path


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def _field(deb: Path, name: str) -> str:
    return _run("dpkg-deb", "-f", str(deb), name).stdout.strip()


@pytest.mark.timeout(1500)
def test_package_contents_and_control_fields(deb: Path, unpacked: Path) -> None:
    for path in EXPECTED_FILES:
        assert (unpacked / path).exists() or (unpacked / path).is_symlink(), path
    assert os.readlink(unpacked / "usr/bin/autosync") == "../lib/autosync/bin/autosync"
    assert _field(deb, "Package") == "autosync"
    assert _field(deb, "Version") == __version__
    depends = _field(deb, "Depends")
    for needed in ("git", "openssh-client", "python3.", "libxcb-cursor0", "libxkbcommon-x11-0",
                   "libegl1", "libdbus-1-3", "dbus-session-bus"):
        assert needed in depends, (needed, depends)
    assert "gnome-keyring" in _field(deb, "Recommends")
    # No byte code and no installer shipped; only the Qt that autosync loads.
    names = _run("dpkg-deb", "-c", str(deb)).stdout
    assert ".pyc" not in names and "/site-packages/pip/" not in names
    assert "libQt6Quick" not in names and "libQt6Widgets.so.6" in names
    for plugin in ("platforms/libqxcb.so", "platforms/libqwayland.so",
                   "imageformats/libqsvg.so", "imageformats/libqjpeg.so"):  # icons, previews
        assert plugin in names, plugin
    unit = (unpacked / "usr/lib/systemd/user/autosync.service").read_text()
    assert "ExecStart=/usr/bin/autosync run --headless" in unit


@pytest.mark.timeout(1500)
def test_man_page_is_generated_from_the_parser(unpacked: Path) -> None:
    page = unpacked / "usr/share/man/man1/autosync.1.gz"
    text = _run("man", "-l", "-P", "cat", str(page), env={**os.environ, "MANWIDTH": "200"}).stdout
    assert f"autosync {__version__}" in text
    for command in describe(build_parser()).walk():
        assert command.name in text, command.name
        for option in command.options:
            for flag in option.flags:
                assert flag in text, flag


@pytest.mark.timeout(1500)
def test_lintian_reports_no_errors_or_warnings(deb: Path) -> None:
    if shutil.which("lintian") is None:
        pytest.fail("lintian is missing: packaging/build-deb installs it")
    result = _run("lintian", "--fail-on", "error,warning", str(deb))
    tags = [line for line in result.stdout.splitlines() if re.match(r"[EW]: ", line)]
    assert result.returncode == 0 and not tags, result.stdout + result.stderr


@pytest.fixture
def installed(deb: Path) -> Iterator[None]:
    if _run("dpkg-query", "-W", "-f=${Status}", "autosync").stdout.startswith("install ok"):
        pytest.skip("autosync is installed on this machine already; not touching it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    try:
        result = _run("apt-get", *lock, "install", "-y", "-q", "--no-install-recommends",
                      str(deb), env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        yield
    finally:
        _run("apt-get", *lock, "purge", "-y", "-q", "autosync", env=env)
        assert not Path("/usr/bin/autosync").exists(), "the package must be gone again"


@pytest.mark.timeout(1500)
def test_installed_package_works_and_removal_keeps_the_users_files(
        installed: None, remote: Remote, isolated_home: Path, tmp_path: Path) -> None:
    # The installed files pass the desktop's validators.
    result = _run("desktop-file-validate", "/usr/share/applications/autosync.desktop")
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run("appstreamcli", "validate", "--no-net",
                  "/usr/share/metainfo/io.github.autosync.autosync.metainfo.xml")
    assert result.returncode == 0, result.stdout + result.stderr
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    result = _run("systemd-analyze", "--user", "verify", "/usr/lib/systemd/user/autosync.service",
                  env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0, result.stdout + result.stderr

    # The command a user runs: /usr/bin/autosync, the package's own Python.
    result = _run("/usr/bin/autosync", "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"autosync {__version__}", result

    # Headless sync: a saved file reaches the remote; SIGTERM stops it cleanly.
    folder = remote.clone("installed")
    config = isolated_home / ".config" / "autosync" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[[folder]]\npath = "{folder}"\ncommit_delay = 0.2\npush_delay = 0\n')
    log = tmp_path / "headless.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(["/usr/bin/autosync", "run", "--headless"], stdout=sink,
                                stderr=subprocess.STDOUT)
    try:
        (folder / "from the package.txt").write_text("hello\n")
        _wait_for(lambda: "from the package.txt" in remote.tree_names(), proc, log,
                  "the file to reach the remote")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # The tray app starts from the package's own (pruned) Qt: offscreen here, the same
    # Python and Qt libraries as on a desktop; SIGTERM quits it cleanly.
    gui_log = tmp_path / "gui.log"
    with gui_log.open("w") as sink:
        gui = subprocess.Popen(["/usr/bin/autosync-gui"], stdout=sink, stderr=subprocess.STDOUT,
                               env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    try:
        _wait_for(lambda: "tray app running: 1 folder" in gui_log.read_text(), gui, gui_log,
                  "the tray app to start")
        gui.send_signal(signal.SIGTERM)
        assert gui.wait(timeout=60) == 0, gui_log.read_text()
    finally:
        if gui.poll() is None:
            gui.kill()
            gui.wait()

    # Removing the package leaves the user's configuration and folder alone.
    result = _run("apt-get", "-o", "DPkg::Lock::Timeout=300", "remove", "-y", "-q", "autosync",
                  env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert not Path("/usr/lib/autosync").exists(), "removal leaves no files of the package"
    assert config.is_file() and (folder / "from the package.txt").is_file()


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path,
              what: str, timeout: float = 60) -> None:
    """Poll a condition about another process's effects (the remote), bounded."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"autosync exited ({proc.returncode}) before {what}: "
                                 f"{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {log.read_text()}")
        time.sleep(0.1)
