"""Anchoring the audit chain outside the database (issue 10, item 5).

Whoever could write the database could rewrite a record, recompute every hash and the
result, and `verify-round --db` passed. Now the open round's chain is anchored on a fixed tick
and each anchor's hash goes out on /ws and the round page; an assembly that kept one (or a
clerk that kept a receipt) catches a rewritten chain."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time

from councilcast.appkeys import VOTING
from voting.audit import anchor_errors, anchor_hash, record_hash, verify_export
from voting.result import compute_result
from tests.voting.helpers import get_round, new_round, register, tally, ws_until


def rewrite(export: dict, seq: int, counts: dict) -> dict:
    """The insider's attack on an export: change record ``seq``, recompute every later hash and
    link, the anchors and the result, so that the export is consistent with itself."""
    exp = copy.deepcopy(export)
    old_heads = {r["hash"]: None for r in exp["records"]}
    prev = exp["genesis"]
    for r in exp["records"]:
        if r["seq"] == seq:
            r["counts"] = counts
        r["prev"] = prev
        old = r["hash"]
        r["hash"] = record_hash(r)
        old_heads[old] = r["hash"]
        prev = r["hash"]
    for a in exp["anchors"]:
        a["head"] = old_heads.get(a["head"], a["head"])
        a["anchor"] = anchor_hash(a)
    standing = {r["assembly"]: r for r in exp["records"]}
    res = exp["result"]
    new = compute_result(exp["definition"]["options"],
                         [{"id": a, "counts": r["counts"], "present": r["present"], "abstain": r["abstain"]}
                          for a, r in standing.items()], res["registered"])
    for k in ("totals", "abstain", "present", "votes_cast", "decision", "winner", "runoff", "carried"):
        res[k] = new[k]
    res["final_hash"] = prev
    for a in res["assemblies"]:
        a["counts"], a["hash"] = standing[a["id"]]["counts"], standing[a["id"]]["hash"]
    return exp


async def test_anchors_go_out_on_ws_and_catch_a_rewritten_chain(server, tmp_path):
    g1, g2 = await register(server, "A1", 100), await register(server, "A2", 100)
    r = await new_round(server, duration_s=60)
    svc = server.app[VOTING]
    async with server.session.ws_connect(server.url + "/ws") as ws:
        await ws.receive_json()
        st, receipt1 = await tally(server, r["id"], g1["token"], {"present": 50, "counts": {"A": 30, "B": 20}})
        assert st == 201
        await svc.anchor_open_rounds()  # one tick (the server's own ticks come every 10 s)
        seen = await ws_until(ws, lambda m: m.get("type") == "round.anchor")
        kept_anchor = seen[-1]["anchor"]
        assert set(seen[-1]) - {"sent_at"} == {"type", "round", "at", "anchor"}  # a hash and a time: no count
        st, receipt2 = await tally(server, r["id"], g2["token"], {"present": 40, "counts": {"A": 10, "B": 30}})
        assert receipt2["anchor"]["anchor"] == kept_anchor  # the receipt names the anchor before it
    assert (await get_round(server, r["id"]))["anchor"]["anchor"] == kept_anchor
    async with server.session.post(server.api(f"/api/rounds/{r['id']}/close"), headers=server.secretariat) as c:
        assert c.status == 200
    async with server.session.get(server.api(f"/api/rounds/{r['id']}/audit")) as resp:
        export = await resp.json()
    assert len(export["anchors"]) == 2 and verify_export(export)["ok"]
    kept = {"anchors": [kept_anchor], "receipts": [receipt1["receipt"], receipt2["receipt"]]}
    assert anchor_errors(export, kept) == []

    forged = rewrite(export, 1, {"A": 10, "B": 40})  # GA A1's count turned round
    assert verify_export(forged)["ok"]  # consistent with itself: the old check passed it
    errors = anchor_errors(forged, kept)
    assert any("kept anchor" in e for e in errors) and any("kept receipt" in e for e in errors)

    # the same through the command an assembly runs
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    (tmp_path / "kept.json").write_text(json.dumps(kept))
    run = subprocess.run([sys.executable, "-m", "councilcast", "verify-round", r["id"], "--file",
                          str(tmp_path / "forged.json"), "--kept", str(tmp_path / "kept.json")],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "kept anchor" in run.stdout
    (tmp_path / "true.json").write_text(json.dumps(export))
    run = subprocess.run([sys.executable, "-m", "councilcast", "verify-round", r["id"], "--file",
                          str(tmp_path / "true.json"), "--kept", str(tmp_path / "kept.json")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


async def test_a_record_rewritten_without_its_anchors_breaks_them(server):
    g1 = await register(server, "B1", 100)
    r = await new_round(server, duration_s=60)
    await tally(server, r["id"], g1["token"], {"present": 50, "counts": {"A": 30, "B": 20}})
    await server.app[VOTING].anchor_open_rounds()
    async with server.session.post(server.api(f"/api/rounds/{r['id']}/close"), headers=server.secretariat) as c:
        assert c.status == 200
    async with server.session.get(server.api(f"/api/rounds/{r['id']}/audit")) as resp:
        export = await resp.json()
    forged = rewrite(export, 1, {"A": 20, "B": 30})
    forged["anchors"] = export["anchors"]  # an attacker who could not reach the anchors
    assert any("chain rewritten" in e for e in verify_export(forged)["errors"])


async def test_the_anchor_tick_runs_on_the_clock(server):
    g1 = await register(server, "C1", 100)
    r = await new_round(server, duration_s=60)
    svc = server.app[VOTING]
    import asyncio

    period = 0.25
    await svc.stop_anchors()  # the server's own 10 s tick would add an anchor of its own
    started = time.time()
    task = asyncio.create_task(svc.run_anchors(period=period))
    await asyncio.sleep(4 * period + 0.1)
    task.cancel()
    ended = time.time()
    anchors = await svc.read(lambda c: svc.store.anchors(c, r["id"]))
    assert len(anchors) >= 2
    # On the clock's tick, with nothing voted between: each anchor is written after a tick of
    # its own (a late write under load moves it within or past its tick, never onto the same
    # tick as another), and never more anchors than ticks. The tick index allows a wake-up a
    # few ms early (asyncio sleeps on the monotonic clock, the anchor stamps wall time).
    ticks = [int((a["at"] + 0.02) // period) for a in anchors]
    assert ticks == sorted(set(ticks)), ticks
    assert len(anchors) <= int((ended - started) / period) + 1
    assert g1 and all(a["seq"] == 0 and a["head"] == anchors[0]["head"] for a in anchors)


async def test_a_wake_up_before_the_tick_does_not_anchor_that_tick_twice(server, monkeypatch):
    """The loop sleeps on the monotonic clock and the tick is on wall time: woken before the
    tick (the clocks drift apart, NTP slews one of them), it anchored, slept what was left of
    the tick and anchored it again, and again. Each tick is anchored once: never more anchors
    than ticks, whenever the writes end."""
    import asyncio
    import types

    from councilcast.services import voting as voting_service

    g1 = await register(server, "D1", 100)
    r = await new_round(server, duration_s=60)
    svc = server.app[VOTING]
    await svc.stop_anchors()
    real_sleep = asyncio.sleep

    async def early(delay, *a, **kw):  # every sleep of the tick ends 50 ms early
        await real_sleep(max(0.0, delay - 0.05), *a, **kw)
    monkeypatch.setattr(voting_service, "asyncio", types.SimpleNamespace(sleep=early))
    period = 0.25
    started = time.time()
    task = asyncio.get_running_loop().create_task(svc.run_anchors(period=period))
    await real_sleep(2 * period + 0.1)
    task.cancel()
    ended = time.time()
    anchors = await svc.read(lambda c: svc.store.anchors(c, r["id"]))
    # the ticks the wake-ups can be taken for, from 50 ms before the first to the last
    assert g1 and 1 <= len(anchors) <= int((ended - started) / period) + 2, [a["at"] for a in anchors]
