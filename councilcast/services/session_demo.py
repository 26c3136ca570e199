"""``councilcast demo``: a whole session of the Central Assembly, on a loop.

Each session, on channel ``central`` beside the synthetic camera:

1. a **report** of the plan factory: the demo delegate asks for the floor and is granted it;
2. a **debate**: simulated assemblies ask for the floor (one withdraws), each speaks in turn;
3. a **decision** on the latest published variant set: the simulated assemblies vote (counts
   and one-time ballots) in the round, and in its runoff when no variant has a majority,
   until a variant is adopted (or a tie is recorded: the software never breaks one);
4. a second decision with its own options (yes/no);

then the session closes, its minutes stay at ``/sessions/{id}/minutes``, and after a pause
the next one begins. Every step goes through the services the API uses (the session service
for the chair's acts and the floor, the voting service for counts and ballots), so what a
newcomer watches is what a real session does. From opening to an adopted variant takes
about 2.5 minutes, about one with ``--fast``.

At start it prints what to open and, for one demo assembly, its clerk's token and the
delegate's token; three ballot codes of that assembly are printed when each plan decision
opens (a code belongs to a round, which does not exist before).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from councilcast.auth import Auth
from councilcast.services.sessions import SessionService
from councilcast.services.voting import VotingService
from councilcast.services.voting_demo import DemoCast, ensure_cast, published_variants, vote_in_round
from voting.rules import iso

__all__ = ["Pace", "NORMAL", "FAST", "running", "startup_notes"]

log = logging.getLogger(__name__)

PLAN_QUESTION = "Which variant of the plan?"
SECOND_QUESTION = ("Adopt the housing programme", ["yes", "no"])


@dataclass(frozen=True)
class Pace:
    """Seconds each step of the demo session takes."""
    before_open: float
    report_floor: float
    debate_turn: float
    debate_speakers: int
    decision: float
    second_decision: float
    between_sessions: float


NORMAL = Pace(before_open=5, report_floor=15, debate_turn=12, debate_speakers=3, decision=30, second_decision=20,
              between_sessions=20)
FAST = Pace(before_open=2, report_floor=6, debate_turn=6, debate_speakers=2, decision=15, second_decision=10,
            between_sessions=8)


def startup_notes(cast: DemoCast, fast: bool) -> list[str]:
    """What ``councilcast demo`` prints at start; ``{base}`` is the server's URL."""
    ga = cast.by_ballots
    return [
        "",
        f"The demo: a session of the Central Assembly on a loop ({'about 1 minute' if fast else 'about 3 minutes'}"
        " from opening to an adopted variant of the plan).",
        "  Watch it live:            {base}/live",
        "  The session and agenda:   {base}/sessions   (the minutes grow at /sessions/<id>/minutes)",
        "  A meeting room's screen:  {base}/room/central",
        f"  One assembly's screen:    {{base}}/assemblies/{ga.id}",
        "  The secretariat's console: {base}/secretariat (with the secretariat token printed above)",
        f"Try this, as the clerk of {ga.name}:",
        f"  clerk token: {ga.token}",
        "  open {base}/clerk, paste the token, then ask for the floor on the session's page",
        f"  or: curl -X POST -H 'Authorization: Bearer {ga.token}' {{base}}/api/sessions/<id>/speakers",
        f"As the delegate {cast.delegate_name}:",
        f"  delegate token: {cast.delegate_token}   page: {{base}}/delegates/{cast.delegate_id}",
        "Three ballot codes of that assembly are printed here when each vote on the plan opens;",
        "  vote with one at {base}/ballot before the countdown ends.",
        "",
    ]


class SessionDemo:
    def __init__(self, sessions: SessionService, voting: VotingService, cast: DemoCast, pace: Pace):
        self.sessions, self.voting, self.cast, self.pace = sessions, voting, cast, pace
        self.n = 0

    async def run(self) -> None:
        while True:
            try:
                await self.one_session()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a refused step must not end the demo
                log.exception("demo: the session failed; the next one starts")
            await asyncio.sleep(self.pace.between_sessions)

    async def _variants(self) -> tuple[str, list[str]] | None:
        """The latest published set; at the first session, give the plan factory up to 60 s."""
        for _ in range(120):
            found = await published_variants(self.voting)
            if found is not None or self.n > 1:
                return found
            await asyncio.sleep(0.5)
        return None

    async def one_session(self) -> None:
        self.n += 1
        p, cast = self.pace, self.cast
        s = await self.sessions.create({"body": "central-assembly", "channel": "central",
                                        "title": f"Central Assembly: demo session no. {self.n}",
                                        "starts_at": iso(time.time() + p.before_open)})
        sid = s["id"]
        report = await self.sessions.add_item(sid, {"title": "Report of the plan factory on the published variants",
                                                     "kind": "report"})
        debate = await self.sessions.add_item(sid, {"title": "Debate on the variants of the plan", "kind": "debate"})
        log.info("demo: session %s scheduled", sid)
        await asyncio.sleep(p.before_open)
        await self.sessions.act(sid, "open")

        await self.sessions.start_item(sid, report["id"])
        delegate = {"kind": "delegate", "id": cast.delegate_id, "name": cast.delegate_name}
        await self._turn(sid, delegate, report["id"], p.report_floor)
        await self.sessions.end_item(sid, report["id"])

        await self.sessions.start_item(sid, debate["id"])
        speakers = [cast.assemblies[k] for k in (4, 1, 3)][:p.debate_speakers]
        asked = []
        for a in speakers:
            asked.append(await self.sessions.ask_floor(sid, {"kind": "assembly", "id": a.id, "name": a.name},
                                                       {"item": debate["id"]}))
            await asyncio.sleep(0.5)
        if len(asked) > 2:  # the last one withdraws: its point was made by another
            await self.sessions.withdraw(sid, asked[-1]["id"], None)
            asked = asked[:-1]
        for entry in asked:
            await self._grant(sid, entry["id"], p.debate_turn)
        await self.sessions.end_item(sid, debate["id"])

        variants = await self._variants()
        if variants is not None:
            set_id, _ = variants
            item = await self.sessions.add_item(sid, {"title": PLAN_QUESTION, "kind": "decision",
                                                       "variant_set": set_id, "duration_s": p.decision})
            await self._decide(sid, item["id"], reserve_codes=True)
        title, options = SECOND_QUESTION
        item = await self.sessions.add_item(sid, {"title": title, "kind": "decision", "options": options,
                                                   "duration_s": p.second_decision})
        await self._decide(sid, item["id"])
        await self.sessions.act(sid, "close")
        log.info("demo: session %s closed; minutes at /sessions/%s/minutes", sid, sid)

    async def _turn(self, sid: str, who: dict, item: str, seconds: float) -> None:
        entry = await self.sessions.ask_floor(sid, who, {"item": item})
        await asyncio.sleep(0.5)
        await self._grant(sid, entry["id"], seconds)

    async def _grant(self, sid: str, spid: str, seconds: float) -> None:
        await self.sessions.grant(sid, spid, {"seconds": max(5.0, seconds)})
        await asyncio.sleep(seconds)
        await self.sessions.done(sid, spid)

    async def _decide(self, sid: str, iid: str, reserve_codes: bool = False) -> None:
        """Start the decision item, vote in its round and each runoff until its outcome is known."""
        await self.sessions.start_item(sid, iid)
        voted: set[str] = set()
        deadline = time.time() + 10 * 60  # a round that never publishes must not hold the demo forever
        while time.time() < deadline:
            view = await self.sessions.view(sid)
            item = next(i for i in view["agenda"] if i["id"] == iid)
            if item["outcome"] is not None:
                log.info("demo: %s: %s", item["title"], item["outcome"]["text"])
                break
            for rid in item["rounds"]:
                if rid not in voted:
                    voted.add(rid)
                    r = await self.voting.get_round(rid)
                    if reserve_codes:
                        codes = await self.voting.issue_codes(rid, self.cast.by_ballots.id, 3)
                        print(f"demo: ballot codes of {self.cast.by_ballots.name} for \"{r['title']}\" "
                              f"(opens {iso(r['opens_at'])}, closes {iso(r['closes_at'])}): {', '.join(codes)}",
                              flush=True)
                    await vote_in_round(self.voting, self.cast, r)
            await asyncio.sleep(0.5)
        await self.sessions.end_item(sid, iid)


async def running(sessions: SessionService, voting: VotingService, auth: Auth, notes: list[str], fast: bool):
    """A ``cleanup_ctx`` body: the cast is registered before the server listens (so that its
    tokens are in ``notes`` for the CLI to print), the sessions run until shutdown."""
    cast = await ensure_cast(voting, auth)
    notes.extend(startup_notes(cast, fast))
    task = asyncio.create_task(SessionDemo(sessions, voting, cast, FAST if fast else NORMAL).run(),
                               name="session-demo")
    yield
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001
        pass
