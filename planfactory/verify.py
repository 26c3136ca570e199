"""Truthful by construction: hashes of the inputs, the published document, and its check.

:func:`produce` turns inputs (economy data, proposals, parameters) into a published
document: the incompatibilities, the chosen variants and their groups, and every card
number as columns. The document carries the inputs themselves, their SHA-256 over a
canonical JSON form (:func:`canonical_json`: keys sorted, no spaces, floats in Python's
shortest round-trip form, UTF-8) and :data:`SOLVER_VERSION`.

:func:`verify_document` recomputes the document from the inputs it carries and lists
every number (or text) that differs, by JSON path. :func:`verify_card` does the same for
one card, given the document it came from. ``councilcast verify PATH|URL`` is the
command-line face of both.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy

from planfactory import incompat
from planfactory.formats import load as load_economy
from planfactory.formats import to_dict as economy_to_dict
from planfactory.proposals import Proposal, parse_proposals
from planfactory.summaries import (KEYS, CardArrays, _numbers, attach_previous, attach_ranges, card_arrays, card_dict,
                                   changes)
from planfactory.variants import (NAMES, VariantSpecs, build_context, compatible_sets, evaluate, group,
                                  parameters_with_defaults, pinned_specs, select, sweep_specs, spec_key)

__all__ = ["SOLVER_VERSION", "DOC_FORMAT", "canonical_json", "sha256", "input_hashes", "produce", "Produced",
           "verify_document", "verify_card", "cards_from_doc", "compare", "make_inputs"]

# Bump whenever the same inputs give different numbers (0.2.0: growth of consumption is
# the 10-year average of the path, with spare capacity and the labour cap), so that a
# published document names the computation that made it.
PLANFACTORY_VERSION = "0.2.0"
SOLVER_VERSION = f"planfactory {PLANFACTORY_VERSION} (numpy {np.__version__}, scipy {scipy.__version__})"
DOC_FORMAT = "councilcast-plan-variants-1"
REL_TOL = 1e-9


def canonical_json(obj) -> bytes:
    """The bytes that are hashed: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256(obj) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(obj)).hexdigest()


def make_inputs(economy, proposals: list[Proposal], parameters: dict | None = None) -> dict:
    """The published inputs: economy in the JSON format, proposals, completed parameters."""
    econ = load_economy(economy)
    return {"economy": economy_to_dict(econ), "proposals": [p.computational() for p in proposals],
            "parameters": parameters_with_defaults(parameters, econ)}


def input_hashes(inputs: dict) -> dict:
    return {"economy": sha256(inputs["economy"]), "proposals": sha256(inputs["proposals"]),
            "parameters": sha256(inputs["parameters"]), "inputs": sha256(inputs)}


def _clean(x):
    """JSON-able: numpy to Python, NaN/inf to None."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


@dataclass
class Produced:
    """A produced document and the objects behind it (for rendering cards without recomputing)."""

    doc: dict
    cards: CardArrays
    ctx: object
    arrays: object


def _sample_estimates(economy, estimates: list[dict], samples: int, seed: int) -> list[dict]:
    """Overrides of A, B or labour with the estimated entries drawn in their ranges.

    Sample 0 takes every low end, sample 1 every high end, the others uniform draws (seeded).
    An estimate: ``{"matrix": "A" (default) | "B" | "labour", "row": sector, "col": sector
    (not for labour), "low": x, "high": y}``.
    """
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    idx = {s: i for i, s in enumerate(economy.sectors)}

    def where(v):
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            return v if 0 <= v < economy.n else None
        return idx.get(v)

    cells = []
    for k, est in enumerate(estimates):
        if not isinstance(est, dict):
            raise ValueError(f"estimates[{k}]: must be an object")
        m = est.get("matrix", "A")
        if m not in ("A", "B", "labour"):
            raise ValueError(f"estimates[{k}].matrix: must be A, B or labour")
        if m == "B" and economy.B is None:
            raise ValueError(f"estimates[{k}]: the economy has no capital coefficients B")
        i = where(est.get("row"))
        j = where(est.get("col")) if m != "labour" else 0
        try:
            lo, hi = float(est["low"]), float(est["high"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"estimates[{k}]: needs low and high") from None
        if i is None or j is None or not (0 <= lo <= hi):
            raise ValueError(f"estimates[{k}]: needs row{', col' if m != 'labour' else ''} (sector names or "
                             "indices) and 0 <= low <= high")
        cells.append((m, i, j, lo, hi))
    used = sorted({c[0] for c in cells})
    out = []
    for s in range(samples):
        ov = {}
        for m in used:
            base = {"A": economy.A, "B": economy.B, "labour": economy.labour}[m]
            ov[m] = base.tolil(copy=True) if sp.issparse(base) else np.array(base, dtype=float, copy=True)
        for (m, i, j, lo, hi) in cells:
            val = rng.uniform(lo, hi) if s >= 2 else (lo if s == 0 else hi)
            if m == "labour":
                ov[m][i] = val
            else:
                ov[m][i, j] = val
        out.append({m: (v.tocsr() if sp.issparse(v) else v) for m, v in ov.items()})
    return out


def _choose_processes(economy, params):
    """Pick processes by the activity-analysis LP at the status quo's final demand (None if no alternatives)."""
    if not params["processes"]:
        return economy, None
    from planfactory import processes as pr
    from planfactory.decision import DecisionBasis, FundamentalDecision

    procs = pr.parse_processes(params["processes"], economy)
    f0 = DecisionBasis.build(economy).evaluate(FundamentalDecision(**params["status_quo"])).final_demand[:, 0]
    choice = pr.choose(economy, procs, f0)
    return pr.apply(economy, choice), choice.to_dict()


def _cards_for(economy, proposals, params) -> tuple:
    economy, _choice = _choose_processes(economy, params)
    ctx = build_context(economy, proposals, params)
    report = incompat.find(ctx)
    sq_spec = VariantSpecs(np.array([ctx.status_quo.as_row()]), np.zeros((len(proposals), 1), dtype=bool))
    sq_arr = evaluate(ctx, sq_spec)
    if params["variants"]:
        specs = pinned_specs(ctx, params["variants"])
        arr = evaluate(ctx, specs)
        chosen = np.arange(specs.V)
        names = [str(v.get("name", NAMES[k])) for k, v in enumerate(params["variants"])]
        groups = np.arange(specs.V)
        nsets = 0
    else:
        sets = compatible_sets(ctx, [s["positions"] for s in report.sets], int(params["proposal_sets"]))
        nsets = len(sets)
        specs = sweep_specs(ctx, sets)
        arr = evaluate(ctx, specs)
        chosen = select(arr, int(params["select"]))
        names = NAMES[:chosen.size]
        groups = group(arr, chosen, ctx.today)
    cards = card_arrays(ctx, arr, chosen, names, sq_arr)
    if params["estimates"]:
        samples = []
        for ov in _sample_estimates(ctx.economy, params["estimates"], int(params["samples"]), int(params["seed"])):
            # the sampled entries replace those of the (process-chosen) technique
            cs = build_context(ctx.economy, proposals, params, overrides=ov)
            sub = evaluate(cs, specs.take(chosen))
            samples.append(_numbers(cs, sub))
        attach_ranges(cards, samples)
    return ctx, report, specs, arr, chosen, names, groups, sq_arr, cards, nsets, _choice


def produce(inputs: dict, previous_inputs: dict | None = None) -> Produced:
    """The published document for ``inputs`` (see :func:`make_inputs`)."""
    economy = load_economy(inputs["economy"])
    proposals = parse_proposals(inputs["proposals"], economy)
    params = parameters_with_defaults(inputs["parameters"], economy)
    ctx, report, specs, arr, chosen, names, groups, sq_arr, cards, nsets, choice = _cards_for(economy, proposals, params)
    prev_hash = None
    if previous_inputs is not None:
        pe = load_economy(previous_inputs["economy"])
        pp = parse_proposals(previous_inputs["proposals"], pe)
        ppar = parameters_with_defaults(previous_inputs["parameters"], pe)
        prev_cards = _cards_for(pe, pp, ppar)[8]
        prev_hash = sha256(previous_inputs)
        attach_previous(cards, prev_cards, prev_hash)
    ids = ctx.resolved.ids()
    sectors = list(economy.sectors)
    variants = []
    for k, v in enumerate(chosen):
        members = np.flatnonzero(groups == k)
        props = [ids[p] for p in np.flatnonzero(specs.T[:, v])]
        variants.append({
            "name": names[k], "key": cards.keys[k],
            "decision": dict(zip(["hours_per_week", "consumption_share", "public_share", "investment_share"],
                                 specs.decisions[v].tolist())),
            "proposals": props, "feasible": bool(arr.feasible[v]),
            "economy": {key: cards.values[key][k] for key in KEYS if np.ndim(cards.values[key]) == 1},
            "max_utilisation": arr.max_utilisation[v], "tightest_sector": sectors[int(arr.tightest[v])],
            "sector_output": arr.X[:, v], "group": _group_summary(arr, members),
            "implications": _implications(ctx, cards, k, props),
        })
    sq = {key: cards.status_quo[key] for key in KEYS if np.ndim(cards.status_quo[key]) == 0}
    doc = {
        "format": DOC_FORMAT, "solver_version": SOLVER_VERSION,
        "input_hash": sha256(inputs), "hashes": input_hashes(inputs),
        "inputs": inputs, "previous": None if previous_inputs is None else {"input_hash": prev_hash,
                                                                             "inputs": previous_inputs},
        "rounding": cards_rounding(),
        "sectors": sectors,
        "status_quo": {"decision": ctx.status_quo.to_dict(), "economy": sq, "sector_output": ctx.today},
        "processes": choice,
        "incompatibilities": report.to_dict(),
        "sweep": {"variants": int(specs.V), "feasible": int(arr.feasible.sum()), "proposal_sets": nsets,
                  "by_proposal_set": _by_set(arr, chosen, names, ids)},
        "variants": variants,
        "changes": changes(cards),
        "cards": _cards_columns(cards),
    }
    return Produced(doc=_clean(doc), cards=cards, ctx=ctx, arrays=arr)


def cards_rounding() -> str:
    from planfactory.summaries import ROUNDING

    return ROUNDING


def _by_set(arr, chosen, names, ids) -> list[dict]:
    """For each proposal set swept: its variants, how many are feasible, on the front, chosen."""
    from planfactory.variants import pareto_mask

    feas = np.flatnonzero(arr.feasible)
    front = np.zeros(arr.V, dtype=bool)
    if feas.size:
        front[feas[pareto_mask(arr.objectives()[feas])]] = True
    T = arr.specs.T
    patterns = np.unique(T.T, axis=0) if arr.V else np.zeros((0, T.shape[0]), dtype=bool)
    out = []
    for pat in patterns:
        m = np.all(T == pat[:, None], axis=0)
        out.append({"proposals": [ids[p] for p in np.flatnonzero(pat)], "variants": int(m.sum()),
                    "feasible": int((m & arr.feasible).sum()), "on_front": int((m & front).sum()),
                    "chosen": [names[k] for k, c in enumerate(chosen) if m[c]]})
    out.sort(key=lambda d: (len(d["proposals"]), d["proposals"]))
    return out


def _group_summary(arr, members: np.ndarray) -> dict:
    if members.size == 0:
        return {"size": 0}
    d = arr.specs.decisions[members]

    def span(x):
        return [float(np.min(x)), float(np.max(x))]

    return {"size": int(members.size), "hours_per_week": span(d[:, 0]),
            "consumption_per_person_week": span(arr.consumption_pp_week[members]),
            "growth_pct": span(100 * arr.growth[members]),
            "investment_share": span(d[:, 3]), "public_share": span(d[:, 2]),
            "proposal_sets": int(len({tuple(arr.specs.T[:, m]) for m in members}))}


def _implications(ctx, cards: CardArrays, k: int, props: list[str], top: int = 5) -> list[str]:
    """'Workplace X raises its output by Y% with equipment worth Z hours', largest changes first."""
    from planfactory.summaries import fmt_signed, fmt_value

    out = cards.values["output"][:, k]
    sq = cards.status_quo["output"]
    eq = cards.values["equipment"][:, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(sq > 0, 100 * (out - sq) / np.where(sq > 0, sq, 1), np.nan)
    proposers = {p.enterprise for p in ctx.resolved.proposals if p.id in set(props)}
    order = np.argsort(-np.nan_to_num(np.abs(pct), nan=-1), kind="stable")
    first = [i for i in range(len(cards.ent_ids)) if cards.ent_ids[i] in proposers]
    picked = first + [int(i) for i in order if cards.ent_ids[i] not in proposers][:max(0, top - len(first))]
    lines = []
    r = ctx.resolved
    own = {}
    for p, prop in enumerate(r.proposals):
        if prop.id in set(props):
            today = float(sq[r.enterprise[p]])
            own.setdefault(cards.ent_ids[r.enterprise[p]], []).append(
                f"proposal {prop.id}: {fmt_signed(100 * r.dy[p] / today, 'pct') if today > 0 else fmt_signed(r.dy[p], 'qty')}")
    for i in picked[:max(top, len(first))]:
        note = f" ({'; '.join(own[cards.ent_ids[i]])})" if cards.ent_ids[i] in own else ""
        lines.append(f"{cards.ent_names[i]} ({cards.sectors[int(cards.ent_sector[i])]}) changes its output by "
                     f"{fmt_signed(pct[i], 'pct')}{note} to {fmt_value(out[i], 'qty')} with equipment worth "
                     f"{fmt_value(eq[i], 'qty')} hours of labour")
    return lines


def _cards_columns(cards: CardArrays) -> dict:
    return {"fields": KEYS, "variants": cards.names, "keys": cards.keys, "workplaces": cards.ent_ids,
            "workplace_names": cards.ent_names, "workplace_sector": cards.ent_sector,
            "units": cards.units, "values": cards.values, "status_quo": cards.status_quo,
            "previous": cards.previous, "previous_label": cards.previous_label,
            "ranges": None if cards.ranges is None else {k: [lo, hi] for k, (lo, hi) in cards.ranges.items()}}


def _arr(x):
    return np.array([np.nan if v is None else v for v in x], dtype=float) if x and not isinstance(x[0], list) \
        else np.array([[np.nan if v is None else v for v in row] for row in x], dtype=float)


def cards_from_doc(doc: dict) -> CardArrays:
    """The card arrays stored in a document (no recomputation: for serving pages)."""
    c = doc["cards"]

    def conv(d):
        return None if d is None else {k: (np.float64(np.nan if v is None else v) if not isinstance(v, list)
                                           else _arr(v)) for k, v in d.items()}

    ranges = None
    if c.get("ranges"):
        ranges = {k: (_arr(lo), _arr(hi)) for k, (lo, hi) in c["ranges"].items()}
    return CardArrays(names=c["variants"], keys=c["keys"], ent_ids=c["workplaces"], ent_names=c["workplace_names"],
                      ent_sector=np.array(c["workplace_sector"], dtype=np.int64), sectors=doc["sectors"],
                      units=c["units"], values=conv(c["values"]), status_quo=conv(c["status_quo"]),
                      previous=conv(c["previous"]), previous_label=c.get("previous_label"), ranges=ranges)


def card_meta(doc: dict, source: str | None = None) -> dict:
    m = {"input_hash": doc["input_hash"], "solver_version": doc["solver_version"]}
    if source:
        m["source"] = source
    return m


# --------------------------------------------------------------------------- verification
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


def verify_document(doc: dict) -> dict:
    """Recompute ``doc`` from its inputs; ``{"ok", "differences", "input_hash_ok", ...}``."""
    t0 = time.perf_counter()
    if doc.get("format") != DOC_FORMAT:
        raise ValueError(f"not a published variant set (format {doc.get('format')!r})")
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
    compare({a: b for a, b in card.items() if a not in skip}, {a: b for a, b in _clean(again).items() if a not in skip},
            "$", diffs)
    return {"ok": not diffs, "kind": "card", "input_hash": sha256(doc["inputs"]), "differences": diffs,
            "solver_version": {"published": card.get("solver_version"), "here": SOLVER_VERSION},
            "seconds": time.perf_counter() - t0}
