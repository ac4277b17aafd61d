"""The tray app's log with -v: no secret at any level, private file and folder."""

from __future__ import annotations

import asyncio
import logging
import stat

from autosync_gui.log_safety import register_secret
from autosync_gui.ui.logsetup import setup_logging

PASSWORD = "tray-Secret-93kQ"


async def test_verbose_tray_log_holds_no_password(isolated_home) -> None:
    path = setup_logging(verbose=True)
    try:
        register_secret(PASSWORD)
        # qasync logs every worker-thread result at debug level ("Setting Future
        # result: ..."): a password read from the keyring in a worker thread
        value = await asyncio.get_running_loop().run_in_executor(None, lambda: PASSWORD)
        assert value == PASSWORD
        logging.getLogger("autosync.test").debug("a library repeating it: %s", PASSWORD)
        logging.getLogger("slixmpp.test").warning("line one\nline two \x1b[31m")
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = path.read_text()
        assert "a library repeating it: ********" in text
        assert PASSWORD not in text
        assert "line one\\nline two \\x1b[31m" in text
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_autosync", False):
                logging.getLogger().removeHandler(handler)
                handler.close()
        logging.getLogger().setLevel(logging.WARNING)
