"""Shared test set-up. Fixture modules live in tests/fixtures/ and are loaded here."""

from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail

pytest_plugins = [
    "tests.fixtures.worker_bus",
    "tests.fixtures.prosody",
    "tests.fixtures.git_remotes",
    "tests.fixtures.hg_remotes",
    "tests.fixtures.attacker",
    "tests.fixtures.engine_harness",
    "tests.fixtures.sshd",
    "tests.fixtures.qt",
    "tests.fixtures.dbus_notifications",
    "tests.fixtures.https_git",
    "tests.fixtures.git_daemon",
    "tests.ui.keyrings",
    "tests.fixtures.lfs_server",
    "tests.fixtures.small_filesystem",
]


# Tests that start a real server (Prosody, sshd) are slow by this rule, wherever they live;
# other slow tests carry @pytest.mark.slow or a module-level `pytestmark` themselves.
# `scripts/run-tests -m "not slow"` is the quick loop; CI runs everything.
SERVER_FIXTURES = frozenset({"prosody", "prosody_server", "sshd"})


@pytest.hookimpl(tryfirst=True)  # before -m deselects anything
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def no_stray_keyring(request: pytest.FixtureRequest,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reaches a keyring it did not ask for (tests/ui/keyrings.py has the real one).
    A stray keyring call makes D-Bus start a gnome-keyring-daemon on demand: locked, in the
    real HOME, trying to prompt, and holding the Secret Service name that a keyring test's
    own daemon then has to take over. Child processes inherit the same choice."""
    if "gnome_keyring" in request.fixturenames:
        yield
        return
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture(autouse=True)
def _forget_environment_password():
    """secrets.take_environment_password keeps the value it moved out of os.environ for
    the life of the process; each test starts without one."""
    import autosync_gui.secrets as secrets

    secrets._environment_password = None
    yield
    secrets._environment_password = None



OTHER_TEST_PASSWORDS = {"env-Secret-Zu81p", "tray-Secret-93kQ"}


@pytest.fixture(scope="session", autouse=True)
def no_log_holds_a_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the last test (of this worker): no log file written meanwhile, by autosync,
    its children or the test servers, holds a test password. A leak fails the run as an
    error in the last test's teardown."""
    yield
    from tests.fixtures.prosody import REGISTERED_PASSWORDS  # (a plugin: imported late)

    if not REGISTERED_PASSWORDS:
        return  # no XMPP account was registered here: nothing to look for
    passwords = {p.encode() for p in REGISTERED_PASSWORDS | OTHER_TEST_PASSWORDS
                 if len(p) >= 6}
    base = tmp_path_factory.getbasetemp()  # this session's (worker's) temporary folders
    logs = [p for p in base.rglob("*.log*") if p.is_file() and not p.is_symlink()]
    if not logs:
        pytest.fail(f"no log files under {base}: the password check looked at nothing")
    leaks = [(str(log), pw.decode()) for log in logs for pw in passwords
             if pw in log.read_bytes()]
    if leaks:
        pytest.fail(f"a test password reached a log: {leaks}")
