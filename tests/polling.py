"""Waiting for an outcome instead of sleeping a fixed time, for tests that run on a loaded machine.

- ``until(check, timeout, what)``: poll ``check`` (a function, sync or async) until it returns a
  true value, and return that value; fail with ``what`` after ``timeout`` seconds. A test that
  slept 0.1 s before asserting now asserts the same thing as soon as it holds, and still fails
  (after the deadline) when it never does.
- ``LoopLag``: how late this event loop ran a short timer while it watched. A latency bound
  on the server (it runs in the test's loop) is checked as "within the bound, plus however late
  the loop itself was scheduled": a broken scheduler is late by more than that, a busy machine
  is not held against the code.
"""

from __future__ import annotations

import asyncio
import inspect
import time


async def until(check, timeout: float = 15.0, what: str = "condition", every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last value {value!r})")
        await asyncio.sleep(every)


class LoopLag:
    """``async with LoopLag() as lag: ...`` then ``lag.max`` (seconds): the largest delay past
    its due time of a timer armed every ``tick`` seconds on this loop while inside."""

    def __init__(self, tick: float = 0.01):
        self.tick = tick
        self.max = 0.0
        self._task: asyncio.Task | None = None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.tick
            await asyncio.sleep(self.tick)
            self.max = max(self.max, loop.time() - due)

    async def __aenter__(self) -> "LoopLag":
        self._task = asyncio.create_task(self._watch())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
