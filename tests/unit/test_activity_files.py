"""An activity names at most FILES_LISTED paths and counts them all: the activity log keeps
1,000 activities, and a big pull names every file it wrote (100,000 paths held for good
per pull before). What reads activities says the full count."""

from __future__ import annotations

from pathlib import Path

from autosync_gui.control.service import activity_json
from autosync_gui.engine.activity_log import ActivityLog
from autosync_gui.engine.events import FILES_LISTED, Activity, ActivityKind
from autosync_gui.ui.notifications import summarize


def big_pull(n: int) -> Activity:
    return Activity(folder=Path("/data"), kind=ActivityKind.PULLED, summary=f"pulled {n}",
                    files=tuple(f"photos/{i:06}.jpg" for i in range(n)), host="desktop")


def test_a_big_pull_keeps_the_first_paths_and_counts_all() -> None:
    log = ActivityLog()
    for _ in range(5):
        log.activity(big_pull(100_000))
    for event in log.recent():
        assert len(event.files) == FILES_LISTED
        assert event.files[0] == "photos/000000.jpg"
        assert event.file_count == 100_000


def test_a_small_activity_is_unchanged() -> None:
    event = big_pull(3)
    assert event.files == ("photos/000000.jpg", "photos/000001.jpg", "photos/000002.jpg")
    assert event.file_count == 3
    assert Activity(folder=Path("/d"), kind=ActivityKind.INFO, summary="x").file_count == 0


def test_json_and_notification_say_the_full_count() -> None:
    event = big_pull(20_000)
    answer = activity_json(event)
    assert answer["file_count"] == 20_000 and len(answer["files"]) == FILES_LISTED
    (message,) = summarize([event, big_pull(1)])
    assert message.body.startswith("20001 files updated from desktop in data: ")
    assert message.body.endswith("and 19998 more")
