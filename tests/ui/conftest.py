"""tests/ui: every async test runs on a qasync event loop (pytest-asyncio's loop factory
hook), like the tray app itself."""

from __future__ import annotations

import pytest

from tests.fixtures.qt import qasync_loop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict:
    return {"qasync": qasync_loop}


from tests.ui.helpers import start_app  # noqa: E402, F401 (fixture for every ui test)
