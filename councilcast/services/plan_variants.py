"""The variant-set service: proposals, checks, published variant sets and their cards.

A workplace council's clerk submits proposals; the secretariat asks the plan factory to
produce and publish a set of variants from the current economy (:class:`~councilcast.services.plan.PlanService`)
and the open proposals (:func:`planfactory.pipeline.produce`), or to revise the last one
with new data. Published documents are kept in :mod:`councilcast.stores.plan_variants`;
the card arrays of the last few are kept parsed in memory, so a card page is a lookup.
Computation runs on one worker thread (numpy releases the GIL), one publication at a time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from councilcast.errors import AuthError
from councilcast.services.plan import PlanService
from councilcast.storage import Database
from councilcast.stores import plan_variants as store
from planfactory import incompat
from planfactory.document import clean
from planfactory.errors import PlanError
from planfactory.formats import load
from planfactory.pipeline import card_meta, cards_from_doc, make_inputs, produce
from planfactory.proposals import parse_proposal, parse_proposals
from planfactory.summaries import CardArrays, card_dict
from planfactory.variants import build_context

__all__ = ["PlanVariantsService", "DEMO_PROPOSALS"]

DEMO_PROPOSALS = [  # (sector, proposal): what the demo's councils propose
    ("Steel", {"output_change_percent": 15, "note": "a second furnace line"}),
    ("Food processing", {"output_change_percent": 10, "equipment": {"Machinery": 20000}}),
    ("Health care", {"output_change_percent": 8, "hours_change": 1}),
    ("Energy", {"output_change_percent": 30}),
    ("Textiles and clothing", {"output_change_percent": -5, "hours_change": -2}),
]


def _is_row_id(ident: str) -> bool:
    """Digits that fit an SQLite INTEGER (larger ones made the query raise OverflowError)."""
    return ident.isascii() and ident.isdigit() and int(ident) < 2 ** 63


def _for_computation(proposals: list[dict]) -> list[dict]:
    return [{k: v for k, v in p.items() if k != "withdrawn_at"} for p in proposals]


def _summary(doc: dict) -> dict:
    return {"variants": [v["name"] for v in doc["variants"]], "sweep": doc["sweep"],
            "incompatible_sets": len(doc["incompatibilities"]["incompatible_sets"]),
            "proposals": len(doc["inputs"]["proposals"])}


def _check(econ, proposals, parameters) -> dict:
    ctx = build_context(econ, parse_proposals(proposals, econ), parameters)
    return clean(incompat.find(ctx).to_dict())


def _publication(econ, proposals, parameters, previous_inputs) -> dict:
    return produce(make_inputs(econ, parse_proposals(proposals, econ), parameters), previous_inputs).doc


class PlanVariantsService:
    def __init__(self, db: Database, plan: PlanService):
        self.db = db
        self.plan = plan
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-variants")
        self.cache: OrderedDict[int, tuple[dict, CardArrays]] = OrderedDict()
        self.lock = asyncio.Lock()

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def start(self, *, demo: bool, base_url: str) -> None:
        """In the background: publish the demo's first set (demo), or parse the latest set."""
        self._task = asyncio.create_task(self.publish_demo(base_url) if demo else self.warm())

    async def stop(self) -> None:
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass
        self.executor.shutdown(wait=True, cancel_futures=True)

    def economy(self, body: dict | None = None):
        """The economy to plan with: the body's ``economy``, else the plan service's current one."""
        if body and body.get("economy") is not None:
            if not isinstance(body["economy"], dict):  # load() reads a str as a path on this server
                raise PlanError("economy", "must be an economy object (docs/planfactory.md)")
            return load(body["economy"])
        return self.plan.current()

    # -- proposals -----------------------------------------------------------------------
    async def submit_proposal(self, body: dict, author: str) -> dict:
        for key in ("id", "author", "created_at"):  # the server's to set
            body.pop(key, None)
        p = parse_proposal(body, self.plan.current(), default_id="new")
        fields = p.computational()
        fields.pop("id")
        fields["note"] = p.note
        return await self.db.write(lambda c: store.insert_proposal(c, p.enterprise, fields, author, time.time()))

    async def open_proposals(self) -> list[dict]:
        return await self.db.read(store.open_proposals)

    async def withdraw_proposal(self, ident: str, role: str, author: str) -> dict:
        """Withdraw a proposal: its authoring assembly's clerk, or the secretariat."""
        if not _is_row_id(ident):
            raise PlanError("id", f"no proposal {ident!r}", "not_found")
        pid = int(ident)

        def do(c):
            p = store.get_proposal(c, pid)
            if p is None:
                raise PlanError("id", f"no proposal {ident!r}", "not_found")
            if role == "clerk" and p["author"] != author:
                raise AuthError("forbidden", "only the assembly that submitted it (or the secretariat) may "
                                             "withdraw it")
            store.withdraw_proposal(c, pid, time.time())
            return store.get_proposal(c, pid)

        return await self.db.write(do)

    async def check(self, body: dict) -> dict:
        """Minimal incompatible sets and unintended effects of the body's (or the open) proposals."""
        econ = await self.run(self.economy, body)
        proposals = body.get("proposals")
        if proposals is None:
            proposals = _for_computation(await self.open_proposals())
        return await self.run(_check, econ, proposals, body.get("parameters"))

    # -- variant sets --------------------------------------------------------------------
    async def get_set(self, ident: str, with_doc: bool = True) -> dict | None:
        """A published set by id, or ``latest``; None when there is none."""
        if ident != "latest" and not _is_row_id(ident):
            return None
        set_id = None if ident == "latest" else int(ident)
        return await self.db.read(lambda c: store.get_set(c, set_id, with_doc))

    async def list_sets(self) -> list[dict]:
        return await self.db.read(store.list_sets)

    async def publish(self, body: dict, by: str, base: str) -> dict:
        """Produce a variant set from the open proposals and the body's ``parameters``; publish it."""
        async with self.lock:
            econ = await self.run(self.economy, body)
            proposals = _for_computation(await self.open_proposals())
            last = await self.get_set("latest")
            prev_inputs = json.loads(last["doc"])["inputs"] if last else None
            doc = await self.run(_publication, econ, proposals, body.get("parameters"), prev_inputs)
            return await self._store(doc, "publication", last["id"] if last else None, by, base)

    async def revise(self, body: dict, by: str, base: str) -> dict:
        """Recompute the last published variants with the current (or the body's) economy."""
        async with self.lock:
            last = await self.get_set("latest")
            if last is None:
                raise PlanError("id", "nothing published yet: publish a variant set first", "conflict")
            old = json.loads(last["doc"])
            pinned = [{"name": v["name"], "decision": v["decision"], "proposals": v["proposals"]}
                      for v in old["variants"]]
            params = {**old["inputs"]["parameters"], "variants": pinned}
            econ = await self.run(self.economy, body)
            prev_inputs = {**old["inputs"], "parameters": params}
            doc = await self.run(_publication, econ, old["inputs"]["proposals"], params, prev_inputs)
            return await self._store(doc, "revision", last["id"], by, base)

    async def _store(self, doc: dict, kind: str, previous_id, by: str, base: str) -> dict:
        text = json.dumps(doc, separators=(",", ":"))
        out = await self.db.write(lambda c: store.insert_set(c, kind, doc["input_hash"], doc["solver_version"],
                                                             previous_id, time.time(), by, _summary(doc), text))
        self.cache.pop(out["id"], None)
        await self.loaded({"id": out["id"], "doc": text})  # parse once now: the first card page is not the slow one
        out["links"] = {"document": f"{base}/api/plan/variant-sets/{out['id']}", "page": f"{base}/plan/variants"}
        out["changes"] = doc.get("changes", [])
        return out

    async def loaded(self, s: dict) -> tuple[dict, CardArrays]:
        """(document, card arrays) of a stored set, parsed once and kept for the next requests."""
        set_id = s["id"]
        if set_id in self.cache:
            self.cache.move_to_end(set_id)
            return self.cache[set_id]
        text = s.get("doc")
        if text is None:
            text = await self.db.read(lambda c: store.set_document(c, set_id))

        def parse():
            doc = json.loads(text)
            return doc, cards_from_doc(doc)

        out = await self.run(parse)
        self.cache[set_id] = out
        while len(self.cache) > 4:
            self.cache.popitem(last=False)
        return out

    async def cards(self, s: dict, variant: str | None, workplace: str | None, base: str) -> list[dict]:
        """Card dicts of set ``s`` for one variant and/or one workplace."""
        doc, cards = await self.loaded(s)
        ks = list(range(cards.K))
        es = None
        if variant is not None:
            if variant not in cards.names:
                raise PlanError("variant", f"no variant {variant!r} in set {s['id']}", "not_found")
            ks = [cards.names.index(variant)]
        if workplace is not None:
            if workplace not in cards.ent_ids:
                raise PlanError("workplace", f"no workplace {workplace!r}", "not_found")
            es = [cards.ent_ids.index(workplace)]
        if es is None:
            if variant is None:
                raise PlanError("variant", "give a variant, a workplace, or both")
            es = range(cards.E)
        meta = card_meta(doc, f"{base}/api/plan/variant-sets/{s['id']}")
        return [card_dict(cards, k, e, meta) for k in ks for e in es]

    async def workplace_cards(self, workplace: str | None, base: str) -> tuple[dict | None, list[dict]]:
        """(latest set, its cards for ``workplace``), or (set or None, []) when there are none."""
        s = await self.get_set("latest", with_doc=False)
        if s is None or not workplace:
            return s, []
        _doc, cards = await self.loaded(s)
        if workplace not in cards.ent_ids:  # the workplace is not an enterprise of the planned economy
            return s, []
        return s, await self.cards(s, None, workplace, base)

    # -- start-up ------------------------------------------------------------------------
    async def warm(self) -> None:
        """Parse the latest published set before the first visitor."""
        s = await self.get_set("latest", with_doc=False)
        if s is not None:
            await self.loaded(s)

    async def publish_demo(self, base: str) -> None:
        """``councilcast demo``: councils' proposals and a first published variant set, once."""
        if await self.db.read(store.count_sets):
            return
        econ = await self.run(self.economy)
        first: dict[str, str] = {}
        for ent in econ.enterprises:
            first.setdefault(econ.sectors[ent.sector], ent.id)
        rows = [(first[sec], dict(body, enterprise=first[sec])) for sec, body in DEMO_PROPOSALS if sec in first]

        def ins(c):
            if store.count_proposals(c) == 0:
                now = time.time()
                for ent_id, body in rows:
                    store.insert_proposal(c, ent_id, body, "demo", now)

        await self.db.write(ins)
        props = _for_computation(await self.open_proposals())
        async with self.lock:
            doc = await self.run(_publication, econ, props, None, None)
            await self._store(doc, "publication", None, "demo", base)

