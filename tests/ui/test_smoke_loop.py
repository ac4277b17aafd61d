import asyncio

import qasync


async def test_runs_on_qasync_loop(qapp):
    assert isinstance(asyncio.get_running_loop(), qasync.QEventLoop)
    await asyncio.to_thread(lambda: 1)
