"""While the tray app runs, reference cycles are collected on the GUI thread only
(autosync_gui/ui/gui_thread_gc.py): a cycle holding a widget, collected on a worker
thread, destroyed the widget there (the likely cause of the GUI-thread segfaults seen in
the suite)."""

from __future__ import annotations

import asyncio
import gc

from PyQt6 import sip
from PyQt6.QtWidgets import QDialog, QLabel

from autosync_gui.ui.gui_thread_gc import GuiThreadCollector, due_generation
from tests.fixtures.qt import until


def test_the_generation_due_is_cpythons() -> None:
    thresholds = (700, 10, 10)
    assert due_generation((700, 3, 2), thresholds) is None  # not past the youngest's
    assert due_generation((701, 3, 2), thresholds) == 0
    assert due_generation((701, 11, 2), thresholds) == 1
    assert due_generation((701, 3, 11), thresholds) == 2  # the oldest one past its own
    assert due_generation((5000, 50, 50), (0, 10, 10)) is None  # gc.set_threshold(0): off


async def test_a_widget_in_garbage_is_destroyed_on_the_gui_thread_not_a_worker(qapp) -> None:
    collector = GuiThreadCollector(interval_ms=20)
    collector.start()
    try:
        dialog = QDialog()
        dialog.cycle = dialog  # type: ignore[attr-defined]  # kept by a cycle only
        label = QLabel("inside", dialog)
        del dialog

        def allocate() -> list[list[int]]:  # a worker thread (git, a keyring call)
            return [[] for _ in range(20 * gc.get_threshold()[0])]  # far past the threshold

        kept = await asyncio.to_thread(allocate)
        assert not sip.isdeleted(label), "collected on the worker thread"
        await until(lambda: sip.isdeleted(label), what="collected on the GUI thread")
        del kept
    finally:
        collector.stop()
