"""``councilcast demo``: simulated assemblies that vote in a round every minute.

Six assemblies are registered (once; found again by name after a restart) with a delegate.
Every ``DEMO_PERIOD_S`` a round opens for ``DEMO_DURATION_S``; during it each simulated
clerk sends its count through the same store functions the API uses (one of them sends a
recount), and one assembly votes by individual ballots with one-time codes. The result
publishes at the close, so a newcomer sees rounds open, close and publish within a minute.
Stops cleanly on shutdown (``cleanup_ctx``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from councilcast.services.voting import VotingService
from councilcast.stores import plan_variants as plan_store
from voting.rules import iso

log = logging.getLogger(__name__)

DEMO_PERIOD_S = 60.0
DEMO_DURATION_S = 40.0
# The workplace of each is an enterprise id of the bundled demo economy, so that the
# assembly's page (/assemblies/{id}) shows that workplace's plan cards.
DEMO_ASSEMBLIES = [
    ("Demo: Vehicles works no. 1 GA", 420, "vehicles-001"),
    ("Demo: Health care works no. 3 GA", 310, "health-care-003"),
    ("Demo: Transport and storage works no. 6 GA", 95, "transport-and-storage-006"),
    ("Demo: Agriculture works no. 1 GA", 180, "agriculture-001"),
    ("Demo: Steel works no. 1 GA", 520, "steel-001"),
    ("Demo: Wood and paper works no. 1 GA", 60, "wood-and-paper-001"),
]
PLAN_QUESTION = "Which variant of the plan?"
QUESTIONS = [
    # Options None: the names of the latest published plan variants (A, B, C...), read from
    # the plan factory's published set, so that no figure in a demo option is typed by hand.
    (PLAN_QUESTION, None),
    ("Share of the product for public consumption", ["20%", "25%", "30%"]),
    ("Adopt the housing programme", ["yes", "no"]),
]


async def _ensure_assemblies(svc) -> list[dict]:
    def do(conn):
        out = []
        for name, members, workplace in DEMO_ASSEMBLIES:
            a = svc.store.find_assembly(conn, name)
            if a is None:
                a = svc.store.create_assembly(conn, {"name": name, "members": members, "workplace": workplace},
                                              time.time())
            out.append({"id": a["id"], "members": a["members"]})
        if svc.store.find_delegate(conn, "Demo delegate M. Martin") is None:
            svc.store.create_delegate(conn, "Demo delegate M. Martin", [out[0]["id"], out[2]["id"]], time.time())
        return out
    return await svc.db.write(do)


async def _vote(svc, rid: str, options: list[str], assemblies: list[dict], closes_at: float, rng: random.Random):
    """Each simulated assembly sends its count at a random moment of the round."""
    ballots_ga = assemblies[-1]
    codes = await svc.db.write(lambda c: svc.store.issue_codes(c, rid, ballots_ga["id"], 20, time.time()))
    weights = [rng.random() + 0.2 for _ in options]
    plan = [(rng.uniform(2, DEMO_DURATION_S - 8), a) for a in assemblies[:-1]]
    plan += [(rng.uniform(1, DEMO_DURATION_S - 5), code) for code in codes[:rng.randint(12, 20)]]
    t_open = time.time()
    for at, who in sorted(plan, key=lambda p: p[0]):
        await asyncio.sleep(max(0.0, t_open + at - time.time()))
        if time.time() >= closes_at - 1:
            break
        if isinstance(who, str):  # a member with a ballot code
            choice = rng.choices(options + ["abstain"], weights + [0.1])[0]
            await svc.db.write(lambda c, code=who, ch=choice: svc.store.cast_ballot(c, code, ch, time.time()))
            continue
        present = int(who["members"] * rng.uniform(0.55, 0.95))
        abstain = int(present * rng.uniform(0, 0.08))
        counts = dict.fromkeys(options, 0)
        for _ in range(present - abstain):
            counts[rng.choices(options, weights)[0]] += 1
        body = {"present": present, "abstain": abstain, "counts": counts}
        await svc.db.write(lambda c, b=body, a=who["id"]: svc.store.add_tally(c, rid, a, b, time.time()))
        if rng.random() < 0.2:  # a recount moves one vote to abstention
            opt = max(counts, key=counts.get)
            body = {"present": present, "abstain": abstain + 1, "counts": {**counts, opt: counts[opt] - 1}}
            await svc.db.write(lambda c, b=body, a=who["id"]: svc.store.add_tally(c, rid, a, b, time.time()))


async def run_demo(svc: VotingService) -> None:
    assemblies = await _ensure_assemblies(svc)
    rng = random.Random()
    n = 0
    while True:
        title, options = QUESTIONS[n % len(QUESTIONS)]
        if options is None:
            published = None
            for _ in range(60):  # at start, give the plan factory up to 30 s to publish its first set
                published = await _published_variants(svc)
                if published is not None or n > 0:
                    break
                await asyncio.sleep(0.5)
            if published is None:  # the plan factory has not published yet: next question
                n += 1
                continue
            set_id, options = published
            title = f"{title} (published set {set_id})"
        spec = {"title": f"{title} (demo #{n + 1})", "options": options, "duration_s": DEMO_DURATION_S,
                "opens_at": _iso(time.time() + 3)}
        r = await svc.create_round(spec)
        log.info("demo: round %s scheduled", r["id"])
        await asyncio.sleep(max(0.0, r["opens_at"] - time.time()))
        try:
            await _vote(svc, r["id"], options, assemblies, r["closes_at"], rng)
        except Exception:  # noqa: BLE001 - a refused demo vote must not stop the demo
            log.exception("demo: voting in %s failed", r["id"])
        n += 1
        await asyncio.sleep(max(1.0, r["opens_at"] - 3 + DEMO_PERIOD_S - time.time()))


async def _published_variants(svc: VotingService) -> tuple[int, list[str]] | None:
    """(set id, ["Variant A", ...]) of the latest published plan variant set, or None."""
    found = await svc.db.read(plan_store.latest_variant_names)
    if found is None:
        return None
    set_id, names = found
    return (set_id, [f"Variant {n}" for n in names]) if len(names) >= 2 else None


def _iso(ts: float) -> str:
    return iso(ts)


async def running(svc: VotingService):
    """A ``cleanup_ctx`` body: the demo runs from start-up to shutdown."""
    task = asyncio.create_task(run_demo(svc), name="voting-demo")
    yield
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001
        pass
