import asyncio

import qasync


async def test_runs_on_qasync_loop(qapp):
    assert isinstance(asyncio.get_running_loop(), qasync.QEventLoop)
    await asyncio.to_thread(lambda: 1)


def test_the_last_pass_after_a_test_still_has_its_running_loop(qapp) -> None:
    """qasync processes Qt events once more after run_until_complete's future is done;
    what runs then (the engine of a test's tray app, still running until the fixture's
    teardown) must find the loop running, or the folder fails with "no running event
    loop" (tests/fixtures/qt.py)."""
    from tests.fixtures.qt import qasync_loop

    loop = qasync_loop()
    seen: list[asyncio.AbstractEventLoop | None] = []

    def look() -> None:
        seen.append(asyncio._get_running_loop())

    async def test_body() -> None:
        task = asyncio.current_task()
        assert task is not None
        # Runs after run_until_complete's own stop callback: in the last pass.
        task.add_done_callback(lambda _task: loop.call_soon(look))

    try:
        loop.run_until_complete(test_body())
    finally:
        loop.close()
    assert seen == [loop]
    assert asyncio._get_running_loop() is None
