"""PostgreSQL, several processes: a close that finds the round already closed by another
process (the scheduler at ``closes_at``, beside a secretariat's close) keeps the whole result's
breakdown for its answer, as the closer does (found by review: it answered the sums only; the
route splices the kept breakdown into the answer: ``VotingService.breakdown_json``)."""

import asyncio
import time

import orjson

from councilcast.events import EventHub
from councilcast.services.bus import PgBus
from councilcast.services.voting import VotingService
from councilcast.storage import Database
from voting.rules import check_round_spec


def test_a_close_that_lost_the_race_answers_with_the_breakdown(pg_cluster):
    url = pg_cluster.new_database()

    async def main():
        db = Database(url)
        db.open()
        try:
            hub = EventHub()
            PgBus(db, hub)  # the process's bus (not listening: this test reads what close() returns)
            svc = VotingService(db, hub)
            st, now = svc.store, time.time()
            ga = await db.write(lambda c: st.create_assembly(c, {"name": "GA", "members": 30, "workplace": None},
                                                             now - 5))
            spec = check_round_spec({"title": "Q", "options": ["A", "B"], "duration_s": 600}, time.time())
            r = await db.write(lambda c: st.create_round(c, spec, time.time()))
            await db.write(lambda c: st.add_tally(c, r["id"], ga["id"], {"present": 5, "abstain": 0,
                                                                         "counts": {"A": 3, "B": 1}}, time.time()))
            other = Database(url)  # another process's writer closes it first
            other.open()
            try:
                await other.write(lambda c: st.close_round(c, r["id"], time.time()))
            finally:
                other.close()
            closed = await svc.close(r["id"])
            return closed, await svc.breakdown_json(closed)
        finally:
            db.close()

    got, breakdown = asyncio.run(main())
    assert got["published_at"] is not None and got["result"]["totals"] == {"A": 3, "B": 1}
    assert [a["counts"] for a in orjson.loads(breakdown)] == [{"A": 3, "B": 1}]
