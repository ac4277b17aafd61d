"""tests/ui: every async test runs on a qasync event loop (pytest-asyncio's loop factory
hook), like the tray app itself."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import pytestqt.plugin
from PyQt6.QtWidgets import QApplication

from autosync_gui.ui.gui_thread_gc import GuiThreadCollector
from tests.fixtures.qt import qasync_loop

# pytest-qt calls QApplication.processEvents() between a test's phases, outside the qasync
# loop: a loop timer or task step that fires then runs with no running event loop, and
# the engine's `asyncio.get_running_loop()` raises ("unexpected failure: no running event
# loop" in a notification, seen in CI). Everything here runs inside the loop, so events
# are processed there only.
pytestqt.plugin._process_events = lambda: None  # type: ignore[attr-defined]


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict:
    return {"qasync": qasync_loop}


@pytest.fixture(autouse=True)
def gui_thread_gc(qapp: QApplication) -> Iterator[None]:
    """As in the app (run_app): reference cycles are collected on the GUI thread only,
    never by a worker thread running git. At the end, what the test left (its tray app,
    windows and wizard, in cycles) is collected here, on the GUI thread, before automatic
    collection is back for whatever runs next in this process."""
    collector = GuiThreadCollector()
    collector.start()
    yield
    gc.collect()
    collector.stop()


from tests.ui.helpers import start_app  # noqa: E402, F401 (fixture for every ui test)
