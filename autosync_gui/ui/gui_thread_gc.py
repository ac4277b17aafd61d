"""Python's cyclic garbage collection, run on the GUI thread only.

CPython collects reference cycles in whichever thread happens to allocate past a
threshold; in this app that is often a worker thread running git or a keyring call. A
cycle that holds a Qt widget (a closed wizard: its pages keep the wizard, the wizard keeps
its pages) is then destroyed on that worker thread, and Qt objects must be destroyed on
the thread they live on (the likely cause of the GUI-thread segfaults inside a Qt call
that the test suite saw). So while the tray app runs, automatic collection is off and a
timer on the GUI thread collects instead, generation by generation as CPython itself
would (its own thresholds, looked at twice a second). The engine on its own (`autosync
run --headless`) holds no Qt object and keeps Python's default."""

from __future__ import annotations

import gc

from PyQt6.QtCore import QObject, QTimer

INTERVAL_MS = 500


def due_generation(counts: tuple[int, int, int], thresholds: tuple[int, int, int]) -> int | None:
    """The generation CPython would collect now (None: nothing is due): none until the
    youngest one's count passes its threshold, then the oldest one whose count passed
    its own (gc's rule: each collection of a generation counts once for the next)."""
    if not thresholds[0] or counts[0] <= thresholds[0]:
        return None
    return max(g for g in range(3) if thresholds[g] and counts[g] > thresholds[g])


class GuiThreadCollector(QObject):
    """Turns automatic collection off and collects from a GUI-thread timer until stop()."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_if_due)
        self._was_enabled = gc.isenabled()

    def start(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        if self._was_enabled:
            gc.enable()

    def collect_if_due(self) -> None:
        threshold = gc.get_threshold()
        generation = due_generation(gc.get_count(), (threshold[0], threshold[1], threshold[2]))
        if generation is not None:
            gc.collect(generation)
