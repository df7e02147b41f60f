"""The simulator on its own event loop in a daemon thread, so a synchronous
caller — the demo, a test — can run the (synchronous) client against it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .config import SimConfig
from .server import RunningSim, serve


class _Thread(threading.Thread):
    def __init__(self, config: SimConfig) -> None:
        super().__init__(daemon=True, name="simulator")
        self.config = config
        self.ready = threading.Event()
        self.sim: RunningSim | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the caller, not lost in the thread
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        async with serve(self.config) as sim:
            self.sim = sim
            self.ready.set()
            await self.stop.wait()


@contextmanager
def simulator_thread(config: SimConfig) -> Iterator[RunningSim]:
    thread = _Thread(config)
    thread.start()
    if not thread.ready.wait(30) or thread.sim is None:
        raise RuntimeError(f"the simulator did not start: {thread.error!r}")
    try:
        yield thread.sim
    finally:
        assert thread.loop is not None and thread.stop is not None
        thread.loop.call_soon_threadsafe(thread.stop.set)
        thread.join(10)
