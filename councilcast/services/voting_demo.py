"""The demo's simulated assemblies: who they are, and how they vote in a round.

Six assemblies are registered (once; found again by name after a restart) with a delegate.
At each start of the demo every simulated clerk gets a fresh token (:meth:`Auth.rotate`), so
that its counts go through the same path as a real clerk's (``VotingService.submit_tally``,
the token checked by the tally batcher); one assembly votes by one-time ballot codes, cast
through ``VotingService.cast_ballot`` as the ballot page does. The session that puts the
questions is :mod:`councilcast.services.session_demo`.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from councilcast.auth import Auth, hash_token
from councilcast.services.voting import VotingService
from councilcast.stores import plan_variants as plan_store

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
DEMO_DELEGATE = "Demo delegate M. Martin"
BALLOT_ADDRESS = "demo"  # the ballots' "address" for the failed-attempt guard (never refused here)


@dataclass
class DemoAssembly:
    id: str
    name: str
    members: int
    token: str  # the simulated clerk's bearer token (plain: printed for the one a newcomer may use)


@dataclass
class DemoCast:
    assemblies: list[DemoAssembly]
    delegate_id: str
    delegate_name: str
    delegate_token: str
    rng: random.Random = field(default_factory=random.Random)

    @property
    def by_ballots(self) -> DemoAssembly:
        """The assembly whose members vote one by one with codes (the smallest, last)."""
        return self.assemblies[-1]

    @property
    def by_counts(self) -> list[DemoAssembly]:
        return self.assemblies[:-1]


async def ensure_cast(svc: VotingService, auth: Auth) -> DemoCast:
    """The demo's assemblies and delegate (registered once), each with a fresh token."""
    def do(conn):
        out = []
        for name, members, workplace in DEMO_ASSEMBLIES:
            a = svc.store.find_assembly(conn, name)
            if a is None:
                a = svc.store.create_assembly(conn, {"name": name, "members": members, "workplace": workplace},
                                              time.time())
            out.append(a)
        d = svc.store.find_delegate(conn, DEMO_DELEGATE)
        if d is None:
            d = svc.store.create_delegate(conn, DEMO_DELEGATE, [out[0]["id"], out[2]["id"]], time.time())
        return out, d
    rows, delegate = await svc.db.write(do)
    assemblies = []
    for a in rows:
        token, _ = await auth.rotate("clerk", a["id"], f"clerk of {a['name']} (demo)")
        assemblies.append(DemoAssembly(a["id"], a["name"], a["members"], token))
    dtoken, _ = await auth.rotate("delegate", delegate["id"], f"delegate {DEMO_DELEGATE} (demo)")
    return DemoCast(assemblies, delegate["id"], DEMO_DELEGATE, dtoken)


async def vote_in_round(svc: VotingService, cast: DemoCast, r: dict) -> None:
    """Each simulated assembly votes in round ``r`` at a random moment before its close.

    One count in five is followed by a recount that moves one vote to abstention, as clerks do.
    """
    rng = cast.rng
    options, rid = r["options"], r["id"]
    duration = r["closes_at"] - r["opens_at"]
    members = cast.by_ballots.members
    codes = await svc.issue_codes(rid, cast.by_ballots.id, min(members, 20))
    await asyncio.sleep(max(0.0, r["opens_at"] - time.time()))
    weights = [rng.random() + 0.2 for _ in options]
    last = max(1.0, duration - max(2.0, duration * 0.15))  # every vote well before the close
    plan = [(rng.uniform(0.5, last), a) for a in cast.by_counts]
    plan += [(rng.uniform(0.3, last), code) for code in codes[:rng.randint(12, 20)]]
    t_open = r["opens_at"]
    for at, who in sorted(plan, key=lambda p: p[0]):
        await asyncio.sleep(max(0.0, t_open + at - time.time()))
        if time.time() >= r["closes_at"] - 0.5:
            break
        if isinstance(who, str):  # a member with a ballot code
            choice = rng.choices(options + ["abstain"], weights + [0.1])[0]
            await svc.cast_ballot(who, choice, BALLOT_ADDRESS)
            continue
        present = int(who.members * rng.uniform(0.55, 0.95))
        abstain = int(present * rng.uniform(0, 0.08))
        counts = dict.fromkeys(options, 0)
        for _ in range(present - abstain):
            counts[rng.choices(options, weights)[0]] += 1
        await svc.submit_tally(rid, hash_token(who.token), {"present": present, "abstain": abstain, "counts": counts})
        if rng.random() < 0.2:  # a recount moves one vote to abstention
            opt = max(counts, key=counts.get)
            await svc.submit_tally(rid, hash_token(who.token), {"present": present, "abstain": abstain + 1,
                                                                "counts": {**counts, opt: counts[opt] - 1}})


async def published_variants(svc: VotingService) -> tuple[str, list[str]] | None:
    """(set id, ["Variant A", ...]) of the latest published plan variant set, or None."""
    found = await svc.db.read(plan_store.latest_variant_names)
    if found is None:
        return None
    set_id, names = found
    return (str(set_id), [f"Variant {n}" for n in names]) if len(names) >= 2 else None
