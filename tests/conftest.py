"""Shared test set-up. Fixture modules live in tests/fixtures/ and are loaded here."""

pytest_plugins = [
    "tests.fixtures.prosody",
    "tests.fixtures.git_remotes",
    "tests.fixtures.engine_harness",
    "tests.fixtures.sshd",
    "tests.fixtures.qt",
    "tests.fixtures.dbus_notifications",
    "tests.fixtures.https_git",
    "tests.fixtures.git_daemon",
    "tests.ui.keyrings",
]
