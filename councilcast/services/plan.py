"""The plan service: the one home of the current economy, and the solver's worker pool.

The secretariat sets the economy every plan computation starts from (``PUT
/api/plan/economy``; kept in :mod:`councilcast.stores.plan`, so it survives a restart);
until then it is the bundled demo. Every other part of the application (the variant sets,
the proposals, the pages) asks this service for it. Solves run in a ``spawn`` process pool
(started on first use), so the event loop never waits on the solver; the streaming solve
runs on one thread, because its progress callback must reach the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from councilcast.errors import ApiError
from councilcast.storage import Database
from councilcast.services.plan_jobs import load_economy, read_demand, solve_payload
from councilcast.stores import plan as store
from planfactory.demo import demo_economy
from planfactory.economy import Economy
from planfactory.errors import PlanError, SolverError
from planfactory.formats import load, to_dict

__all__ = ["PlanService", "finite", "non_finite"]

log = logging.getLogger(__name__)


class PlanService:
    def __init__(self, db: Database):
        self.db = db
        self._pool: ProcessPoolExecutor | None = None
        self.threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-solve")
        self.economy: Economy | None = None  # None = the bundled demo economy (built on first use)
        self.economy_dict: dict | None = None
        self.source = "demo"

    # -- the current economy -------------------------------------------------------------
    def current(self) -> Economy:
        """The economy every computation starts from: the secretariat's, else the bundled demo."""
        if self.economy is None:
            self.economy = demo_economy()
            self.source = "demo"
        return self.economy

    def spec(self):
        """What to send to a worker: 'demo' or the economy in the JSON format."""
        return self.economy_dict if self.economy_dict is not None else "demo"

    def economy_json(self) -> bytes:
        d = self.economy_dict if self.economy_dict is not None else to_dict(self.current())
        return json.dumps(d, separators=(",", ":")).encode()

    async def set_economy(self, body: dict) -> dict:
        """Validate (off the loop), store and make current an economy in the JSON format.

        The answer lists the data that load but disagree (``warnings``: ``[{"field", "reason"}]``).
        """
        econ = await asyncio.get_running_loop().run_in_executor(None, load, body)
        d = to_dict(econ)
        text = json.dumps(d, separators=(",", ":"))
        h = hashlib.sha256(text.encode()).hexdigest()
        await self.db.write(lambda c: store.save_economy(c, h, econ.name, econ.n, text))
        self.economy, self.economy_dict, self.source = econ, d, f"sha256:{h}"
        return {"sha256": h, "name": econ.name, "sectors": econ.n, "warnings": econ.warnings}

    async def reset_economy(self) -> None:
        """Back to the bundled demo economy (recorded, so a restart stays on it)."""
        await self.db.write(lambda c: store.save_economy(c, "demo", "demo", 0, None))
        self.economy, self.economy_dict, self.source = None, None, "demo"

    async def start(self) -> None:
        """Make current the economy the secretariat last set, if any."""
        found = await self.db.read(store.latest_economy)
        if found is None or found[1] is None:
            return
        sha, text = found
        try:
            d = json.loads(text)
            self.economy, self.economy_dict, self.source = load(d), d, f"sha256:{sha}"
        except Exception:  # noqa: BLE001 - a stored economy that no longer loads: fall back to the demo
            log.exception("stored economy %s does not load; using the demo economy", sha)

    # -- computations --------------------------------------------------------------------
    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"))
        return self._pool

    async def run(self, fn, *args):
        """``fn(*args)`` in the worker pool; its answer, checked to be valid JSON (no NaN, no inf)."""
        try:
            out = await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        except BrokenProcessPool:
            self._pool = None
            raise ApiError(503, None, "the solver process stopped; try again") from None
        return finite(out)

    async def run_thread(self, fn, *args):
        """``fn(*args)`` on the solver thread (for work that reports progress to the loop)."""
        return await asyncio.get_running_loop().run_in_executor(self.threads, fn, *args)

    async def solve_stream(self, spec, demand, method: str):
        """A solve on the solver thread, as it goes: ``{"progress": {"step", "residual"}}`` at most
        five times a second, then ``{"result": ...}`` or ``{"error": {"field", "reason"}}``.

        NumPy and SciPy release the GIL in the heavy work, so the event loop keeps answering;
        progress crosses to the loop with ``call_soon_threadsafe``.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        last = [0.0]

        def progress(step, residual):
            now = loop.time()
            if now - last[0] >= 0.2:
                last[0] = now
                loop.call_soon_threadsafe(queue.put_nowait, {"progress": {"step": step, "residual": residual}})

        def work():
            economy = load_economy(spec)
            return solve_payload(economy, read_demand(demand, economy), method, progress)

        future = asyncio.ensure_future(self.run_thread(work))
        future.add_done_callback(lambda f: queue.put_nowait(None))
        while (item := await queue.get()) is not None:
            yield item
        try:
            yield {"result": finite(future.result())}
        except (PlanError, SolverError) as exc:
            yield {"error": {"field": exc.field, "reason": exc.reason}}
        except ApiError as exc:  # an answer past a double's range: JSON has no Infinity
            yield {"error": {"field": exc.field, "reason": exc.reason}}

    def close(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def finite(out):
    """``out`` unchanged, or a 422 naming where a number overflowed (JSON has no NaN or Infinity)."""
    where = non_finite(out)
    if where is not None:
        raise ApiError(422, None, f"the answer overflows a 64-bit float at {where}: the inputs are too large")
    return out


def non_finite(value, path: str = "") -> str | None:
    """The path of the first NaN or infinite number in a JSON-able value, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path or "(top)")
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for k, v in items:
        found = non_finite(v, f"{path}.{k}" if path and not isinstance(k, int) else
                           (f"{path}[{k}]" if isinstance(k, int) else str(k)))
        if found is not None:
            return found
    return None
