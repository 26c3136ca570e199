"""Recall (issue 12): a majority of votes cast and a turnout quorum of the constituency's registered
members; a second request joins a scheduled recall, any constituency assembly may bring it forward;
a recall that passes opens the election of a successor, who becomes a delegate. Over the real server.

The expected figures are worked out here by hand from the counts sent, not by the server's code.
"""

from __future__ import annotations

import asyncio
import math
import time

from councilcast.appkeys import VOTING
from tests.voting.helpers import bearer, register, tally
from voting.audit import verify_export

QUORUM = 0.5  # the default of COUNCILCAST_RECALL_QUORUM (docs/settings.md)


async def _delegate(server, name, assemblies) -> dict:
    async with server.session.post(server.api("/api/delegates"), headers=server.secretariat,
                                   json={"name": name, "assemblies": [a["id"] for a in assemblies]}) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def _post(server, path, body, headers) -> tuple[int, dict]:
    async with server.session.post(server.api(path), headers=headers, json=body) as r:
        return r.status, await r.json()


async def _get(server, path) -> tuple[int, dict]:
    async with server.session.get(server.api(path)) as r:
        return r.status, await r.json()


async def _close(server, rid) -> dict:
    status, out = await _post(server, f"/api/rounds/{rid}/close", None, server.secretariat)
    assert status == 200, out
    return out["result"]


async def _until(server, path, pred, timeout=15.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        status, out = await _get(server, path)
        if status == 200 and pred(out):
            return out
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path}: not there within {timeout} s: {out}")


async def test_recall_with_quorum_and_majority_then_a_successor_is_elected(server):
    g1, g2, outsider = (await register(server, "Steel works no. 1 GA", 200), await register(server, "Depot 4 GA", 100),
                        await register(server, "Elsewhere GA", 50))
    d = await _delegate(server, "M. Martin", [g1, g2])
    status, rc = await _post(server, "/api/rollcalls", {"title": "Adopt A", "options": ["A", "B"]}, server.secretariat)
    assert status == 201
    status, _ = await _post(server, f"/api/rollcalls/{rc['id']}/votes", {"choice": "A"}, bearer(d["token"]))
    assert status == 201  # on record before the recall; it stays public after

    status, recall = await _post(server, f"/api/delegates/{d['id']}/recall",
                                 {"duration_s": 30, "nomination_s": 2.5, "election_duration_s": 30},
                                 bearer(g1["token"]))
    assert status == 201 and recall["request"] == "opened" and recall["quorum"] == QUORUM
    assert recall["requests"][0]["assembly"] == g1["id"] and recall["requests"][0]["action"] == "opened"
    await tally(server, recall["id"], g1["token"], {"present": 120, "abstain": 5, "counts": {"recall": 70, "keep": 45}})
    await tally(server, recall["id"], g2["token"], {"present": 40, "counts": {"recall": 15, "keep": 25}})
    res = await _close(server, recall["id"])

    registered, present = 200 + 100, 120 + 40
    cast, for_recall = 70 + 45 + 15 + 25, 70 + 15
    needed = math.ceil(QUORUM * registered)
    assert (registered, present, cast, for_recall, needed) == (300, 160, 155, 85, 150)
    assert for_recall > cast / 2 and present >= needed
    assert res["totals"] == {"recall": 85, "keep": 70} and res["present"] == 160 and res["registered"] == 300
    rec = res["recall"]
    assert rec["passed"] is True and rec["majority"] is True
    assert rec["quorum"] == {"fraction": 0.5, "registered": 300, "needed": 150, "present": 160,
                             "turnout": round(160 / 300, 4), "reached": True}
    assert "turnout 160 of 300 registered members (53.3%), quorum 50% (150): reached" in rec["reason"]
    assert rec["reason"].startswith("passed.") and "50%" in res["rule"]

    # the recalled delegate: status, no more roll-call votes, the history still public
    status, dv = await _get(server, f"/api/delegates/{d['id']}")
    assert dv["status"] == "recalled" and dv["recall_round"] == recall["id"]
    assert [v["choice"] for v in dv["record"]] == ["A"]
    status, err = await _post(server, f"/api/rollcalls/{rc['id']}/votes", {"choice": "B"}, bearer(d["token"]))
    assert status == 401  # the recall revoked the delegate's token
    status, err = await _post(server, f"/api/rollcalls/{rc['id']}/votes", {"choice": "B", "delegate": d["id"]},
                              server.secretariat)
    assert status == 409 and err["error"]["field"] == "delegate"  # and the status refuses their vote however sent
    status, err = await _post(server, f"/api/delegates/{d['id']}/token", None, server.secretariat)
    assert status == 409

    # the successor's election: nominations by the constituency's clerks
    status, e = await _get(server, f"/api/delegates/{d['id']}/successor")
    assert status == 200 and e["state"] == "nominating" and e["candidates"] == []
    assert e["recall_round"] == recall["id"] and sorted(e["scope"]) == sorted([g1["id"], g2["id"]])
    path = f"/api/delegates/{d['id']}/successor/candidates"
    status, err = await _post(server, path, {"name": "X"}, bearer(outsider["token"]))
    assert status == 403
    status, err = await _post(server, path, {"name": "X"}, server.secretariat)
    assert status == 403  # a clerk's token only
    status, e = await _post(server, path, {"name": "A. Pannekoek"}, bearer(g1["token"]))
    assert status == 201 and [c["name"] for c in e["candidates"]] == ["A. Pannekoek"]
    status, e = await _post(server, path, {"name": "H. Gorter"}, bearer(g2["token"]))
    assert status == 201 and [(c["name"], c["assembly"]) for c in e["candidates"]] == [
        ("A. Pannekoek", g1["id"]), ("H. Gorter", g2["id"])]
    status, err = await _post(server, path, {"name": "a. pannekoek"}, bearer(g2["token"]))
    assert status == 409 and err["error"]["field"] == "name"

    # the window ends (2.5 s): the election round opens among the two, in the constituency
    e = await _until(server, f"/api/delegates/{d['id']}/successor", lambda x: x["state"] == "voting")
    election = e["rounds"][0]
    assert election["kind"] == "election" and election["subject"] == d["id"]
    assert election["options"] == ["A. Pannekoek", "H. Gorter"]
    assert sorted(election["assemblies"]) == sorted([g1["id"], g2["id"]]) and election["duration_s"] == 30
    status, err = await _post(server, path, {"name": "Late"}, bearer(g1["token"]))
    assert status == 409  # nominations are over
    st, _ = await tally(server, election["id"], outsider["token"], {"present": 5, "counts": {"H. Gorter": 5}})
    assert st == 403
    await tally(server, election["id"], g1["token"], {"present": 100, "counts": {"A. Pannekoek": 60, "H. Gorter": 40}})
    await tally(server, election["id"], g2["token"], {"present": 50, "counts": {"A. Pannekoek": 20, "H. Gorter": 30}})
    res = await _close(server, election["id"])
    assert res["totals"] == {"A. Pannekoek": 80, "H. Gorter": 70}  # 80 > 150 / 2
    assert res["decision"] == "adopted" and res["winner"] == "A. Pannekoek"
    assert res["election"]["state"] == "decided"

    # the winner is an active delegate of the same constituency; the pages link both ways
    status, e = await _get(server, f"/api/delegates/{d['id']}/successor")
    assert e["state"] == "decided" and e["successor_name"] == "A. Pannekoek"
    sid = e["successor"]
    status, succ = await _get(server, f"/api/delegates/{sid}")
    assert succ["status"] == "active" and succ["name"] == "A. Pannekoek"
    assert succ["assemblies"] == sorted([g1["id"], g2["id"]])
    assert succ["predecessor"] == {"id": d["id"], "name": "M. Martin"}
    status, dv = await _get(server, f"/api/delegates/{d['id']}")
    assert dv["successor"] == {"id": sid, "name": "A. Pannekoek"} and dv["status"] == "recalled"

    # the successor's token: issued by the secretariat, shown once, and it votes
    status, err = await _post(server, f"/api/delegates/{sid}/token", None, bearer(g1["token"]))
    assert status == 403
    status, tok = await _post(server, f"/api/delegates/{sid}/token", None, server.secretariat)
    assert status == 201 and tok["id"] == sid and len(tok["token"]) > 20
    status, vote = await _post(server, f"/api/rollcalls/{rc['id']}/votes", {"choice": "B"}, bearer(tok["token"]))
    assert status == 201 and vote["name"] == "A. Pannekoek"
    status, tok2 = await _post(server, f"/api/delegates/{sid}/token", None, server.secretariat)
    status, _ = await _post(server, f"/api/rollcalls/{rc['id']}/votes", {"choice": "A"}, bearer(tok["token"]))
    assert status == 401  # the earlier token was revoked by the new one

    async with server.session.get(server.api(f"/delegates/{d['id']}")) as r:
        page = await r.text()
    assert f'href="/delegates/{sid}"' in page and "A. Pannekoek" in page and "H. Gorter" in page
    assert "quorum 50%" in page and "160 of 300" in page and "Steel works no. 1 GA" in page
    async with server.session.get(server.api(f"/delegates/{sid}")) as r:
        assert f'href="/delegates/{d["id"]}"' in await r.text()
    async with server.session.get(server.api(f"/rounds/{recall['id']}")) as r:
        assert "quorum 50% (150): reached" in await r.text()

    # the audit export re-adds the recall, quorum included
    status, export = await _get(server, f"/api/rounds/{recall['id']}/audit")
    assert export["definition"]["quorum"] == QUORUM
    assert verify_export(export)["ok"], verify_export(export)["errors"]


async def test_a_majority_below_the_quorum_does_not_recall_and_says_why(server):
    g1, g2 = await register(server, "North GA", 200), await register(server, "South GA", 100)
    d = await _delegate(server, "R. Luxemburg", [g1, g2])
    status, recall = await _post(server, f"/api/delegates/{d['id']}/recall", {"duration_s": 30}, bearer(g2["token"]))
    assert status == 201
    await tally(server, recall["id"], g1["token"], {"present": 100, "abstain": 2, "counts": {"recall": 70, "keep": 28}})
    await tally(server, recall["id"], g2["token"], {"present": 23, "abstain": 1, "counts": {"recall": 10, "keep": 12}})
    res = await _close(server, recall["id"])
    present, registered = 100 + 23, 200 + 100
    assert present / registered == 0.41 and present < math.ceil(QUORUM * registered) == 150
    assert res["totals"] == {"recall": 80, "keep": 40} and res["winner"] == "recall"  # 80 of 120: a majority
    rec = res["recall"]
    assert rec["passed"] is False and rec["majority"] is True and rec["quorum"]["reached"] is False
    assert rec["quorum"]["present"] == 123 and rec["quorum"]["needed"] == 150
    assert rec["reason"] == ("not passed: the quorum was not reached. recall 80 of 120 votes cast (majority 61): "
                             "a majority; turnout 123 of 300 registered members (41.0%), quorum 50% (150): "
                             "not reached.")
    status, dv = await _get(server, f"/api/delegates/{d['id']}")
    assert dv["status"] == "active" and dv["successor"] is None
    status, _ = await _get(server, f"/api/delegates/{d['id']}/successor")
    assert status == 404
    async with server.session.get(server.api(f"/delegates/{d['id']}")) as r:
        page = await r.text()
    assert "quorum 50% (150): not reached" in page and "Not passed: the quorum was not reached" in page

    # the audit: verify re-adds it; a changed quorum breaks the genesis, a forged outcome is caught
    status, export = await _get(server, f"/api/rounds/{recall['id']}/audit")
    assert verify_export(export)["ok"], verify_export(export)["errors"]
    forged = {**export, "definition": {**export["definition"], "quorum": 0.4}}
    assert any("genesis" in x for x in verify_export(forged)["errors"])
    forged = {**export, "result": {**export["result"], "recall": {**rec, "passed": True}}}
    assert any("recall passed" in x for x in verify_export(forged)["errors"])

    # the same constituency with the quorum just reached: 150 of 300 present
    status, again = await _post(server, f"/api/delegates/{d['id']}/recall", {"duration_s": 30}, bearer(g1["token"]))
    assert status == 201
    await tally(server, again["id"], g1["token"], {"present": 127, "counts": {"recall": 70, "keep": 57}})
    await tally(server, again["id"], g2["token"], {"present": 23, "counts": {"recall": 10, "keep": 13}})
    res = await _close(server, again["id"])
    assert res["present"] == 150 and res["totals"] == {"recall": 80, "keep": 70}  # 80 of 150 cast > 75
    assert res["recall"]["passed"] is True and res["recall"]["quorum"]["reached"] is True


async def test_a_second_request_joins_the_scheduled_recall_and_any_assembly_brings_it_forward(server):
    g1, g2, g3 = (await register(server, "A GA", 30), await register(server, "B GA", 30),
                  await register(server, "C GA", 30))
    d = await _delegate(server, "D", [g1, g2, g3])
    path = f"/api/delegates/{d['id']}/recall"
    tomorrow = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    status, first = await _post(server, path, {"duration_s": 60, "opens_at": tomorrow}, bearer(g1["token"]))
    assert status == 201 and first["state"] == "scheduled"
    status, joined = await _post(server, path, {"duration_s": 5}, bearer(g2["token"]))
    assert status == 200 and joined["request"] == "joined"
    assert joined["id"] == first["id"] and joined["state"] == "scheduled"
    assert joined["opens_at"] == first["opens_at"] and joined["duration_s"] == 60  # the round is unchanged
    status, again = await _post(server, path, {}, bearer(g2["token"]))  # joining needs no duration
    assert status == 200 and again["request"] == "joined"
    assert [(q["assembly"], q["action"]) for q in again["requests"]] == [(g1["id"], "opened"), (g2["id"], "joined")]
    status, rounds = await _get(server, "/api/rounds")
    assert [r["id"] for r in rounds["rounds"] if r["kind"] == "recall" and r["subject"] == d["id"]] == [first["id"]]

    server.app[VOTING].recall_quorum = 0.9  # the setting changes: the round keeps the quorum it opened with
    status, fwd = await _post(server, path, {"now": True}, bearer(g3["token"]))
    assert status == 200 and fwd["request"] == "brought_forward" and fwd["id"] == first["id"]
    assert fwd["state"] == "open" and abs(fwd["opens_at_ts"] - time.time()) < 5 and fwd["duration_s"] == 60
    assert (g3["id"], "brought_forward") in [(q["assembly"], q["action"]) for q in fwd["requests"]]
    assert fwd["quorum"] == QUORUM
    status, err = await _post(server, path, {"now": True}, bearer(g1["token"]))
    assert status == 409 and err["error"]["field"] == "delegate"  # an open recall is not opened twice
    async with server.session.get(server.api(f"/delegates/{d['id']}")) as r:
        page = await r.text()
    assert "A GA" in page and "B GA" in page and "brought forward by C GA" in page


async def test_a_recall_now_opens_at_once_and_bad_inputs_are_400_naming_the_field(server):
    g1, other = await register(server, "A GA", 30), await register(server, "Other GA", 30)
    d = await _delegate(server, "D", [g1])
    path = f"/api/delegates/{d['id']}/recall"
    in_8_days = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 8 * 86400))
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    cases = [({}, "duration_s"), ({"now": True}, "duration_s"), ({"duration_s": "60"}, "duration_s"),
             ({"duration_s": 0}, "duration_s"), ({"duration_s": True}, "duration_s"),
             ({"duration_s": 60, "now": "yes"}, "now"), ({"duration_s": 60, "now": True, "opens_at": soon}, "now"),
             ({"duration_s": 60, "opens_at": in_8_days}, "opens_at"),
             ({"duration_s": 60, "opens_at": "soon"}, "opens_at"),
             ({"duration_s": 60, "nomination_s": -1}, "nomination_s"),
             ({"duration_s": 60, "nomination_s": 8 * 86400}, "nomination_s"),
             ({"duration_s": 60, "election_duration_s": "x"}, "election_duration_s"),
             ({"duration_s": 60, "quorum": 0.1}, "quorum"), ([60], None)]
    for body, field in cases:
        status, err = await _post(server, path, body, bearer(g1["token"]))
        assert status == 400 and err["error"]["field"] == field, (body, err)
    status, rounds = await _get(server, "/api/rounds")
    assert rounds["rounds"] == []  # nothing was opened by any of them
    status, _ = await _post(server, path, {"duration_s": 60}, bearer(other["token"]))
    assert status == 403
    status, _ = await _post(server, "/api/delegates/d-nope/recall", {"duration_s": 60}, bearer(g1["token"]))
    assert status == 404

    status, r = await _post(server, path, {"duration_s": 60, "now": True}, bearer(g1["token"]))
    assert status == 201 and r["state"] == "open"

    cpath = f"/api/delegates/{d['id']}/successor/candidates"
    status, err = await _post(server, cpath, {"name": "X"}, bearer(g1["token"]))
    assert status == 404  # no election: the recall has not passed
    for body, field in (({"name": ""}, "name"), ({"name": 3}, "name"), ({"name": "Abstain"}, "name"),
                        ({"name": "x" * 101}, "name"), ({"name": "X", "seat": 1}, "seat"), ("X", None)):
        status, err = await _post(server, cpath, body, bearer(g1["token"]))
        assert status == 400 and err["error"]["field"] == field, (body, err)
    status, _ = await _post(server, "/api/delegates/d-nope/token", None, server.secretariat)
    assert status == 404
    status, _ = await _get(server, "/api/delegates/d-nope/successor")
    assert status == 404


def test_the_quorum_setting_is_read_and_checked_at_start():
    from councilcast.config import Config
    from councilcast.services.voting import VotingService

    assert Config().recall_quorum == QUORUM
    assert Config.from_env({"COUNCILCAST_RECALL_QUORUM": "0.6"}).recall_quorum == 0.6
    for bad in (0, 1.5, -0.2):
        try:
            VotingService(None, None, recall_quorum=bad)
        except ValueError as exc:
            assert "COUNCILCAST_RECALL_QUORUM" in str(exc)
        else:
            raise AssertionError(f"quorum {bad} accepted")
    assert VotingService(None, None, recall_quorum=2 / 3).recall_quorum == 2 / 3
