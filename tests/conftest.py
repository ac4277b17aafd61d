"""Shared test set-up. Fixture modules live in tests/fixtures/ and are loaded here."""

pytest_plugins = [
    "tests.fixtures.prosody",
    "tests.fixtures.git_remotes",
    "tests.fixtures.attacker",
    "tests.fixtures.engine_harness",
    "tests.fixtures.sshd",
    "tests.fixtures.qt",
    "tests.fixtures.dbus_notifications",
    "tests.fixtures.lfs_server",
]


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _forget_environment_password():
    """secrets.take_environment_password keeps the value it moved out of os.environ for
    the life of the process; each test starts without one."""
    import autosync_gui.secrets as secrets

    secrets._environment_password = None
    yield
    secrets._environment_password = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log check looks at what every other test wrote: it runs last."""
    last = [i for i in items if i.nodeid.startswith("tests/test_zz_no_secret_in_logs.py")]
    items[:] = [i for i in items if i not in last] + last
