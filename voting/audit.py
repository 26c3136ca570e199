"""The audit record: every accepted count appended to a hash chain, per round.

Record ``n`` is a JSON object with ``round``, ``seq`` (1, 2, ...), ``assembly``,
``version`` (1 for the first count of that assembly, then 2, 3 for recounts),
``present``, ``abstain``, ``counts`` (every option), ``source`` (``clerk`` or
``ballots``), ``received_at`` (server POSIX seconds) and ``prev``: the hash of record
``n-1``, or for ``seq`` 1 the round's genesis hash, the hash of its definition
(``round``, ``title``, ``options``, ``scope``, ``kind``). A record's ``hash`` is the
SHA-256 of its canonical JSON without the ``hash`` key: keys sorted, no spaces, UTF-8.

The result publishes the last hash (``final_hash``) and the number of records; anyone
holding the export can re-add the totals from the last version of each assembly and
detect a changed record (its hash no longer matches), a removed one (a ``prev`` or
``seq`` breaks, or the final hash differs) or an added one.
"""

from __future__ import annotations

import hashlib
import json

from voting.consequences import recall_outcome
from voting.result import compute_result

__all__ = ["canonical", "record_hash", "genesis_hash", "definition", "verify_export", "standing_counts",
           "invariant_errors", "recall_errors", "anchor_hash", "anchor_errors", "ANCHOR_PERIOD_S", "FORMAT"]

FORMAT = "councilcast-round-audit/1"
RECORD_KEYS = ("round", "seq", "assembly", "version", "present", "abstain", "counts", "source",
               "received_at", "prev")


def canonical(obj) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict) -> str:
    """SHA-256 (hex) of a record's canonical JSON, ``hash`` key excluded."""
    body = {k: record[k] for k in RECORD_KEYS}
    return hashlib.sha256(canonical(body)).hexdigest()


def definition(round_id: str, title: str, options: list[str], scope, kind: str, quorum: float | None = None) -> dict:
    """What the genesis hash commits to. A recall round's turnout ``quorum`` (recorded when it was
    opened) is part of it, so the rule cannot change once counts are chained; other rounds, and
    recalls opened before quorums, have no ``quorum`` key (their genesis is unchanged)."""
    out = {"round": round_id, "title": title, "options": list(options), "scope": scope, "kind": kind}
    if quorum is not None:
        out["quorum"] = quorum
    return out


def genesis_hash(defn: dict) -> str:
    return hashlib.sha256(canonical(defn)).hexdigest()


def standing_counts(records: list[dict]) -> dict[str, dict]:
    """The last version of each assembly's count: the one that stands."""
    out: dict[str, dict] = {}
    for r in records:
        out[r["assembly"]] = r
    return out


def verify_export(export: dict) -> dict:
    """Check an audit export end to end; returns ``{"ok": bool, "errors": [...], ...}``.

    Checks: the format; the genesis hash against the round definition; each record's
    hash, ``seq`` and ``prev`` link; the final hash and record count against the
    published result; and the totals, abstentions, presence, per-assembly counts and the
    decision re-added from the standing counts against the published ones.
    """
    errors: list[str] = []
    if export.get("format") != FORMAT:
        errors.append(f"unknown format {export.get('format')!r}")
    defn = export.get("definition") or {}
    genesis = genesis_hash(defn)
    if export.get("genesis") != genesis:
        errors.append("genesis hash does not match the round definition")
    prev = genesis
    records = export.get("records") or []
    for i, rec in enumerate(records, start=1):
        try:
            h = record_hash(rec)
        except KeyError as exc:
            errors.append(f"record {i}: missing field {exc}")
            prev = rec.get("hash")
            continue
        if rec.get("seq") != i:
            errors.append(f"record {i}: seq is {rec.get('seq')} (a record was removed or reordered)")
        if rec.get("round") != defn.get("round"):
            errors.append(f"record {i}: belongs to round {rec.get('round')}")
        if rec["prev"] != prev:
            errors.append(f"record {i}: prev does not match the hash of record {i - 1} (chain broken)")
        if rec.get("hash") != h:
            errors.append(f"record {i}: content does not match its hash (record changed)")
        prev = rec.get("hash")
    result = export.get("result") or {}
    final = records[-1]["hash"] if records else genesis
    if result.get("final_hash") != final:
        errors.append("final hash of the chain differs from the published final_hash")
    if result.get("records") != len(records):
        errors.append(f"published result counts {result.get('records')} records, the export has {len(records)}")
    standing = standing_counts(records)
    members = {a["id"]: a.get("members") for a in result.get("assemblies", [])}
    recomputed = compute_result(
        defn.get("options", []),
        [{"id": a, "counts": r["counts"], "present": r["present"], "abstain": r["abstain"]}
         for a, r in standing.items()],
        result.get("registered", 0),
    )
    for key in ("totals", "abstain", "present", "votes_cast", "decision", "winner", "runoff", "carried",
                "assemblies_tied", "assemblies_reporting", "turnout"):
        if recomputed[key] != result.get(key):
            errors.append(f"{key}: recomputed {recomputed[key]!r}, published {result.get(key)!r}")
    published = {a["id"]: a for a in result.get("assemblies", [])}
    if set(published) != set(standing):
        errors.append("the published assemblies differ from those in the chain")
    for aid, rec in standing.items():
        pub = published.get(aid)
        if pub and (pub.get("counts") != rec["counts"] or pub.get("present") != rec["present"]
                    or pub.get("abstain") != rec["abstain"] or pub.get("hash") != rec["hash"]):
            errors.append(f"assembly {aid}: published count differs from its last record")
    errors += recall_errors(defn, recomputed, result)
    errors += invariant_errors(result)
    errors += anchor_errors(export)
    return {"ok": not errors, "errors": errors, "records": len(records), "final_hash": final,
            "totals": recomputed["totals"], "abstain": recomputed["abstain"],
            "present": recomputed["present"], "decision": recomputed["decision"],
            "winner": recomputed["winner"], "assemblies": len(standing), "members_known": len(members)}


ANCHOR_PERIOD_S = 10.0
"""While a round is open the server publishes an anchor of its chain on this fixed tick, whether
or not anything changed, so that the publication does not move with each vote."""


def anchor_hash(anchor: dict) -> str:
    """SHA-256 of an anchor's canonical JSON: the round, the time, the chain's head (``seq`` and
    the hash of that record, or the genesis at seq 0) and every ballot box's commitment
    (``[assembly, ballots accepted, accumulator]``). Commitments only: never a choice."""
    body = {k: anchor[k] for k in ("round", "at", "seq", "head", "boxes")}
    return hashlib.sha256(canonical(body)).hexdigest()


def anchor_errors(export: dict, kept: dict | None = None) -> list[str]:
    """Check the export's anchors against its chain, and the anchors and receipts an assembly
    kept (``{"anchors": [hash, ...], "receipts": [hash, ...]}``) against the export.

    An anchor's hash must match its content; its head must be the hash of record ``seq`` of
    this chain (a record rewritten after the anchor went out, with every later hash
    recomputed, no longer matches); anchors move forward; a box's accepted ballots never
    exceed the ballots its assembly finally counted. A kept anchor missing from the export, or
    a kept receipt missing from the chain, means the published chain is not the one whose
    anchors went out.
    """
    errors = []
    records = export.get("records") or []
    by_seq = {r.get("seq"): r.get("hash") for r in records}
    ballots = {r["assembly"]: r["present"] for r in records if r.get("source") == "ballots"}
    anchors = export.get("anchors") or []
    last = (-1.0, 0)
    for a in anchors:
        try:
            h = anchor_hash(a)
        except KeyError as exc:
            errors.append(f"anchor at {a.get('at')}: missing {exc}")
            continue
        if a.get("anchor") != h:
            errors.append(f"anchor at {a['at']}: its hash does not match its content")
        want = export.get("genesis") if a["seq"] == 0 else by_seq.get(a["seq"])
        if a["head"] != want:
            errors.append(f"anchor at {a['at']}: record {a['seq']} is not the one anchored (chain rewritten)")
        if (a["at"], a["seq"]) < last:
            errors.append(f"anchor at {a['at']}: goes back in time or in the chain")
        last = (a["at"], a["seq"])
        for aid, used, _acc in a["boxes"]:
            if used > ballots.get(aid, 0):
                errors.append(f"anchor at {a['at']}: {aid} had {used} ballots, {ballots.get(aid, 0)} were counted")
    if kept:
        published = {a.get("anchor") for a in anchors}
        for h in kept.get("anchors", []):
            if h not in published:
                errors.append(f"kept anchor {h[:16]}… is not among the published anchors")
        hashes = {r.get("hash") for r in records}
        for h in kept.get("receipts", []):
            if h not in hashes:
                errors.append(f"kept receipt {h[:16]}… is not in the chain")
    return errors


def recall_errors(defn: dict, recomputed: dict, result: dict) -> list[str]:
    """A recall round's outcome recomputed: the majority from the re-added totals, the turnout
    quorum from the definition's ``quorum``, the re-added presence and the published registered
    members, against the published ``recall``."""
    if defn.get("kind") != "recall":
        return []
    published = result.get("recall")
    if not isinstance(published, dict):
        return ["a recall round's result has no recall outcome"]
    redo = recall_outcome({"kind": "recall", "subject": published.get("delegate"), "quorum": defn.get("quorum")},
                          {**recomputed, "registered": result.get("registered", 0)})
    errors = []
    # a recall opened before quorums were recorded published only who and whether
    for key in ("passed", "majority", "quorum") if defn.get("quorum") is not None else ("passed",):
        if redo[key] != published.get(key):
            errors.append(f"recall {key}: recomputed {redo[key]!r}, published {published.get(key)!r}")
    return errors


def invariant_errors(result: dict) -> list[str]:
    """What no true count can break: per assembly, votes and abstentions at most those present
    and those present at most its members; overall, turnout at most 1 and those present at most
    the registered members. And any anomaly the close itself found in a ballot box."""
    errors = []
    for a in result.get("assemblies", []):
        counted = sum(a.get("counts", {}).values()) + a.get("abstain", 0)
        if counted > a.get("present", 0):
            errors.append(f"assembly {a.get('id')}: {counted} votes and abstentions, {a.get('present')} present")
        if a.get("members") is not None and a.get("present", 0) > a["members"]:
            errors.append(f"assembly {a.get('id')}: {a.get('present')} present of {a['members']} members")
    if result.get("turnout", 0) > 1:
        errors.append(f"turnout {result.get('turnout')} is above 1")
    if result.get("registered") and result.get("present", 0) > result["registered"]:
        errors.append(f"{result.get('present')} present of {result['registered']} registered members")
    for note in result.get("anomalies", []):
        errors.append(f"the close found: {note}")
    return errors


def find_receipt(export: dict, receipt: str) -> dict:
    """Where a count's receipt (its record hash) stands: counted, superseded, or absent."""
    records = export.get("records") or []
    standing = standing_counts(records)
    for rec in records:
        if rec.get("hash") == receipt:
            counted = standing[rec["assembly"]]["hash"] == receipt
            return {"found": True, "counted": counted, "assembly": rec["assembly"], "seq": rec["seq"],
                    "version": rec["version"]}
    return {"found": False, "counted": False}
