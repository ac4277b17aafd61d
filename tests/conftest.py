"""Shared test set-up. Fixture modules live in tests/fixtures/ and are loaded here."""

import pytest

pytest_plugins = [
    "tests.fixtures.prosody",
    "tests.fixtures.git_remotes",
    "tests.fixtures.engine_harness",
    "tests.fixtures.sshd",
    "tests.fixtures.qt",
    "tests.fixtures.dbus_notifications",
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
