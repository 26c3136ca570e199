"""Group commit at the application level (:class:`WriteBatcher`)."""

from __future__ import annotations

import asyncio

__all__ = ["WriteBatcher"]


class WriteBatcher:
    """Group commit at the application level: the requests that arrive while the writer is
    busy go to the database together, as one write function, and each caller gets its own
    answer once that batch has COMMITted.

    One batch is in flight at a time. ``write_batch(conn, items)`` returns ``(True,
    value)`` or ``(False, VotingError)`` per item and must leave no change behind for a
    refused item, so a refused request is refused alone.
    """

    MAX = 500

    def __init__(self, db, write_batch):
        self.db = db
        self.write_batch = write_batch
        self.queue: list[tuple[tuple, asyncio.Future]] = []
        self.busy = False

    async def submit(self, *item):
        fut = asyncio.get_running_loop().create_future()
        self.queue.append((item, fut))
        if not self.busy:
            self.busy = True
            asyncio.ensure_future(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue[:self.MAX], self.queue[self.MAX:]
                items = [item for item, _ in batch]
                try:
                    results = await self.db.write(lambda c: self.write_batch(c, items))
                except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing in it is durable
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), (ok, value) in zip(batch, results):
                    if not fut.done():
                        if ok:
                            fut.set_result(value)
                        else:
                            fut.set_exception(value)
        finally:
            self.busy = False
