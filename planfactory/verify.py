"""Truthful by construction: recompute a published document (or one card) and compare.

:func:`verify_document` recomputes the document from the inputs it carries (through
:func:`planfactory.pipeline.produce`) and lists every number (or text) that differs, by
JSON path; :func:`verify_card` does the same for one card, given the document it came
from. Numbers agree when equal to a relative :data:`REL_TOL`; texts must be equal.
``councilcast verify PATH|URL`` is the command-line face of both. The document's form
(canonical JSON, hashes, :data:`~planfactory.document.SOLVER_VERSION`) is
:mod:`planfactory.document`'s.
"""

from __future__ import annotations

import time

from planfactory.document import DOC_FORMAT, PLANFACTORY_VERSION, SOLVER_VERSION, clean, planfactory_version_of, sha256
from planfactory.pipeline import card_meta, produce
from planfactory.summaries import card_dict
from planfactory.errors import PlanError

__all__ = ["REL_TOL", "compare", "verify_document", "verify_card"]

REL_TOL = 1e-9
"""Numbers agree when equal to this relative tolerance (floating point on another machine)."""


def compare(published, recomputed, path: str = "$", out: list | None = None, limit: int = 200) -> list[dict]:
    """Every leaf that differs (numbers within a relative 1e-9), as {path, published, recomputed}."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(published, dict) and isinstance(recomputed, dict):
        for k in sorted(set(published) | set(recomputed)):
            if k not in published or k not in recomputed:
                out.append({"path": f"{path}.{k}", "published": published.get(k, "<missing>"),
                            "recomputed": recomputed.get(k, "<missing>")})
            else:
                compare(published[k], recomputed[k], f"{path}.{k}", out, limit)
    elif isinstance(published, list) and isinstance(recomputed, list):
        if len(published) != len(recomputed):
            out.append({"path": path, "published": f"{len(published)} items", "recomputed": f"{len(recomputed)} items"})
        else:
            for i, (a, b) in enumerate(zip(published, recomputed)):
                compare(a, b, f"{path}[{i}]", out, limit)
    elif _is_num(published) and _is_num(recomputed):
        a, b = float(published), float(recomputed)
        if not (a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b), 1e-300) or abs(a - b) <= 1e-12):
            out.append({"path": path, "published": published, "recomputed": recomputed})
    elif published != recomputed:
        out.append({"path": path, "published": published, "recomputed": recomputed})
    return out


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _other_version(published, kind: str, t0: float) -> dict | None:
    """A plain refusal when the document was computed by another planfactory version.

    The same inputs give other numbers under another version (document.PLANFACTORY_VERSION),
    so a comparison would list every figure as different and prove nothing either way.
    """
    theirs = planfactory_version_of(published)
    if theirs is None or theirs == PLANFACTORY_VERSION:
        return None
    reason = (f"published with planfactory {theirs}; this is planfactory {PLANFACTORY_VERSION}, which computes "
              f"other numbers from the same inputs: it cannot verify this {kind}. Verify it with planfactory "
              f"{theirs} (a councilcast checkout whose planfactory/document.py names it), or ask for it to be "
              f"published again.")
    return {"ok": False, "verifiable": False, "kind": kind, "reason": reason, "differences": [],
            "solver_version": {"published": published, "here": SOLVER_VERSION}, "seconds": time.perf_counter() - t0}


def verify_document(doc: dict) -> dict:
    """Recompute ``doc`` from its inputs; ``{"ok", "differences", "input_hash_ok", ...}``."""
    t0 = time.perf_counter()
    if doc.get("format") != DOC_FORMAT:
        raise PlanError("format", f"not a published variant set (format {doc.get('format')!r})")
    refused = _other_version(doc.get("solver_version"), "variant set", t0)
    if refused:
        return refused
    inputs = doc["inputs"]
    diffs = []
    recomputed_hash = sha256(inputs)
    if recomputed_hash != doc.get("input_hash"):
        diffs.append({"path": "$.input_hash", "published": doc.get("input_hash"), "recomputed": recomputed_hash})
    prev = doc.get("previous")
    if prev is not None and sha256(prev["inputs"]) != prev.get("input_hash"):
        diffs.append({"path": "$.previous.input_hash", "published": prev.get("input_hash"),
                      "recomputed": sha256(prev["inputs"])})
    fresh = produce(inputs, prev["inputs"] if prev else None).doc
    skip = {"published_at", "id", "links", "solver_version", "revision"}
    compare({k: v for k, v in doc.items() if k not in skip}, {k: v for k, v in fresh.items() if k not in skip},
            "$", diffs)
    return {"ok": not diffs, "kind": "variant set", "input_hash": recomputed_hash, "differences": diffs,
            "solver_version": {"published": doc.get("solver_version"), "here": SOLVER_VERSION},
            "seconds": time.perf_counter() - t0}


def verify_card(card: dict, doc: dict) -> dict:
    """Recompute one card from the inputs of the document it names."""
    t0 = time.perf_counter()
    refused = _other_version(card.get("solver_version") or doc.get("solver_version"), "card", t0)
    if refused:
        return refused
    diffs = []
    if card.get("input_hash") != sha256(doc["inputs"]):
        diffs.append({"path": "$.input_hash", "published": card.get("input_hash"), "recomputed": sha256(doc["inputs"])})
    prev = doc.get("previous")
    fresh = produce(doc["inputs"], prev["inputs"] if prev else None)
    cards = fresh.cards
    try:
        k = cards.names.index(card["variant"])
        e = cards.ent_ids.index(card["workplace"]["id"])
    except (KeyError, ValueError):
        diffs.append({"path": "$.variant", "published": card.get("variant"), "recomputed": "no such variant/workplace"})
        return {"ok": False, "kind": "card", "differences": diffs, "seconds": time.perf_counter() - t0}
    again = card_dict(cards, k, e, card_meta(doc, card.get("source")))
    skip = {"source", "links", "solver_version"}
    compare({a: b for a, b in card.items() if a not in skip}, {a: b for a, b in clean(again).items() if a not in skip},
            "$", diffs)
    return {"ok": not diffs, "kind": "card", "input_hash": sha256(doc["inputs"]), "differences": diffs,
            "solver_version": {"published": card.get("solver_version"), "here": SOLVER_VERSION},
            "seconds": time.perf_counter() - t0}
