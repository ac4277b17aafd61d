"""Runs last (tests/conftest.py moves it there): no log file written during the whole
test session, by autosync, its children or the test servers, holds a test password."""

from __future__ import annotations

import pytest

from tests.fixtures.prosody import REGISTERED_PASSWORDS

OTHER_TEST_PASSWORDS = {"env-Secret-Zu81p", "tray-Secret-93kQ"}


def test_no_log_of_the_suite_holds_a_password(tmp_path_factory: pytest.TempPathFactory
                                              ) -> None:
    passwords = {p.encode() for p in REGISTERED_PASSWORDS | OTHER_TEST_PASSWORDS
                 if len(p) >= 6}
    if not REGISTERED_PASSWORDS:
        pytest.skip("no XMPP account was registered in this run: nothing to look for")
    base = tmp_path_factory.getbasetemp()  # this session's temporary folders
    logs = [p for p in base.rglob("*.log*") if p.is_file() and not p.is_symlink()]
    assert logs, f"no log files under {base}"
    leaks = [(str(log), pw.decode()) for log in logs for pw in passwords
             if pw in log.read_bytes()]
    assert not leaks, leaks
