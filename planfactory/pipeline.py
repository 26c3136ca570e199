"""The plan factory's pipeline: inputs -> variants -> cards -> the published document.

The application calls these (docs/plan-variants.md):

- :func:`make_inputs` (economy, proposals, parameters) -> the published inputs, with every
  default filled in (what is hashed);
- :func:`produce` (inputs, previous inputs) -> :class:`Produced`: the document
  (format :data:`planfactory.document.DOC_FORMAT`) and the computation behind it;
- :func:`cards_for` (economy, proposals, parameters) -> :class:`Computation`: the steps
  themselves (processes, incompatibilities, the sweep, the chosen variants, their cards),
  each result named;
- :func:`cards_from_doc` (document) -> the card arrays stored in a document, without
  recomputing (for serving pages), and :func:`card_meta` (document, source) -> what every
  card carries.

:mod:`planfactory.verify` recomputes a document through :func:`produce` and compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planfactory import incompat
from planfactory import processes as pr
from planfactory.decision import DecisionBasis, FundamentalDecision
from planfactory.errors import PlanError
from planfactory.document import DOC_FORMAT, SOLVER_VERSION, clean, input_hashes, sha256
from planfactory.formats import load as load_economy
from planfactory.formats import to_dict as economy_to_dict
from planfactory.proposals import Proposal, parse_proposals
from planfactory.summaries import (KEYS, ROUNDING, CardArrays, attach_previous, attach_ranges, card_arrays,
                                   card_numbers, changes, fmt_change, fmt_signed, fmt_value, NO_CHANGE)
from planfactory.variants import (NAMES, Context, VariantArrays, VariantSpecs, build_context, compatible_sets, evaluate,
                                  group, parameters_with_defaults, pareto_mask, pinned_specs, select, sweep_specs)

__all__ = ["make_inputs", "produce", "Produced", "cards_for", "Computation", "cards_from_doc", "card_meta"]


def make_inputs(economy, proposals: list[Proposal], parameters: dict | None = None) -> dict:
    """The published inputs: economy in the JSON format, proposals, completed parameters."""
    econ = load_economy(economy)
    return {"economy": economy_to_dict(econ), "proposals": [p.computational() for p in proposals],
            "parameters": parameters_with_defaults(parameters, econ)}


@dataclass(frozen=True)
class Computation:
    """Everything :func:`cards_for` computes from one set of inputs, each step named."""

    context: Context
    """The shared factorization, basis and resolved proposals (of the technique chosen by ``processes``)."""
    report: incompat.Report
    """Minimal incompatible sets and unintended effects, at the status quo."""
    specs: VariantSpecs
    """Every variant evaluated: the sweep's grid, or the pinned variants of a revision."""
    arrays: VariantArrays
    """Every number of every variant of ``specs``."""
    chosen: np.ndarray
    """Indices into ``specs`` of the chosen variants, in the order of ``names``."""
    names: list[str]
    """Their names: A, B, C... (or the pinned variants' own names)."""
    groups: np.ndarray
    """For each variant of ``specs``, the position in ``chosen`` it is grouped behind (-1: infeasible)."""
    status_quo: VariantArrays
    """The status quo's decision without proposals (one column)."""
    cards: CardArrays
    """Every card number of the chosen variants, with ranges when coefficients are estimates."""
    proposal_sets: int
    """How many compatible proposal sets were swept (0 for pinned variants)."""
    processes: dict | None
    """The processes chosen by the activity-analysis programme (None: no alternatives)."""


@dataclass(frozen=True)
class Produced:
    """A produced document and the computation behind it (for rendering cards without recomputing)."""

    doc: dict
    """The published document, JSON-able (:func:`planfactory.document.clean`)."""
    computation: Computation

    @property
    def cards(self) -> CardArrays:
        return self.computation.cards


def _sample_estimates(economy, estimates: list[dict], samples: int, seed: int) -> list[dict]:
    """Overrides of A, B or labour with the estimated entries drawn in their ranges.

    Sample 0 takes every low end, sample 1 every high end, the others uniform draws (seeded).
    An estimate: ``{"matrix": "A" (default) | "B" | "labour", "row": sector, "col": sector
    (not for labour), "low": x, "high": y}``.
    """
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
            raise PlanError(f"parameters.estimates[{k}]", "must be an object")
        m = est.get("matrix", "A")
        if m not in ("A", "B", "labour"):
            raise PlanError(f"parameters.estimates[{k}].matrix", "must be A, B or labour")
        if m == "B" and economy.B is None:
            raise PlanError(f"parameters.estimates[{k}]", f"the economy has no capital coefficients B")
        i = where(est.get("row"))
        j = where(est.get("col")) if m != "labour" else 0
        try:
            lo, hi = float(est["low"]), float(est["high"])
        except (KeyError, TypeError, ValueError):
            raise PlanError(f"parameters.estimates[{k}]", f"needs low and high") from None
        if i is None or j is None or not (0 <= lo <= hi):
            raise PlanError(f"parameters.estimates[{k}]", f"needs row{', col' if m != 'labour' else ''} (sector names or "
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
    procs = pr.parse_processes(params["processes"], economy)
    basis = DecisionBasis.build(economy, depreciation=params["growth"]["depreciation"])  # the run's one model
    f0 = basis.evaluate(FundamentalDecision(**params["status_quo"])).final_demand[:, 0]
    choice = pr.choose(economy, procs, f0)
    return pr.apply(economy, choice), choice.to_dict()


def cards_for(economy, proposals: list[Proposal], parameters: dict | None = None) -> Computation:
    """Inputs -> processes -> incompatibilities -> variants -> the chosen few -> their cards.

    ``economy`` is an :class:`~planfactory.economy.Economy`, ``parameters`` as for
    :func:`make_inputs` (completed with the defaults here).
    """
    params = parameters_with_defaults(parameters, economy)
    economy, choice = _choose_processes(economy, params)
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
        samples, sampled = [], []
        for ov in _sample_estimates(ctx.economy, params["estimates"], int(params["samples"]), int(params["seed"])):
            # the sampled entries replace those of the (process-chosen) technique
            cs = build_context(ctx.economy, proposals, params, overrides=ov)
            sub = evaluate(cs, specs.take(chosen))
            samples.append(card_numbers(cs, sub))
            sampled.append(sub)
        attach_ranges(cards, samples, sampled)  # with capacity across the samples
    return Computation(context=ctx, report=report, specs=specs, arrays=arr, chosen=chosen, names=list(names),
                       groups=groups, status_quo=sq_arr, cards=cards, proposal_sets=nsets, processes=choice)


def produce(inputs: dict, previous_inputs: dict | None = None) -> Produced:
    """The published document for ``inputs`` (see :func:`make_inputs`); cards compared with ``previous_inputs``."""
    economy = load_economy(inputs["economy"])
    proposals = parse_proposals(inputs["proposals"], economy)
    params = parameters_with_defaults(inputs["parameters"], economy)
    comp = cards_for(economy, proposals, params)
    ctx, specs, arr, chosen, names, groups, cards = (comp.context, comp.specs, comp.arrays, comp.chosen, comp.names,
                                                     comp.groups, comp.cards)
    prev_hash = None
    if previous_inputs is not None:
        pe = load_economy(previous_inputs["economy"])
        pp = parse_proposals(previous_inputs["proposals"], pe)
        ppar = parameters_with_defaults(previous_inputs["parameters"], pe)
        prev_cards = cards_for(pe, pp, ppar).cards
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
    _attach_gains(variants, arr, chosen, params["growth"])
    sq = {key: cards.status_quo[key] for key in KEYS if np.ndim(cards.status_quo[key]) == 0}
    doc = {
        "format": DOC_FORMAT, "solver_version": SOLVER_VERSION,
        "input_hash": sha256(inputs), "hashes": input_hashes(inputs),
        "inputs": inputs, "previous": None if previous_inputs is None else {"input_hash": prev_hash,
                                                                             "inputs": previous_inputs},
        "rounding": ROUNDING,
        "sectors": sectors,
        "status_quo": {"decision": ctx.status_quo.to_dict(), "economy": sq, "sector_output": ctx.today},
        "processes": comp.processes,
        "incompatibilities": comp.report.to_dict(),
        "sweep": {"variants": int(specs.V), "feasible": int(arr.feasible.sum()), "proposal_sets": comp.proposal_sets,
                  "by_proposal_set": _by_set(arr, chosen, names, ids)},
        "criteria": CRITERIA,
        "variants": variants,
        "changes": changes(cards),
        "cards": _cards_columns(cards),
    }
    return Produced(doc=clean(doc), computation=comp)


def _by_set(arr, chosen, names, ids) -> list[dict]:
    """For each proposal set swept: its variants, how many are feasible, on the front, chosen."""
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


CRITERIA = ["fewer hours of work per week", "more private consumption per worker",
            "more public consumption per worker", "more growth of consumption"]
"""The four criteria the variants are chosen on (not dominated on all four at once): the essay's
three (hours, consumption now, growth later) with consumption split into private and public,
as the cards show it. On three criteria alone some shown variants would be dominated."""

_GAIN_TEXT = [("fewer hours", "dec", "hours a week"), ("more private consumption", "dec", "hours per worker a week"),
              ("more public consumption", "dec", "hours per worker a week"), ("more growth", "pct", "a year")]


def _attach_gains(variants: list[dict], arr: VariantArrays, chosen, growth: dict) -> None:
    """Each shown variant: on which criteria it does better than each other shown one, and
    whether its growth is at the limit labour sets (then equal figures hide a cap, say so)."""
    idx = np.asarray(chosen, dtype=np.int64)
    shown = np.column_stack([arr.hours_pp_week[idx], arr.consumption_pp_week[idx], arr.public_pp_week[idx],
                             100.0 * np.nan_to_num(arr.growth[idx], nan=0.0)])
    better = np.column_stack([-shown[:, 0], shown[:, 1:]])  # larger is better on every column
    cap = 100.0 * ((1 + growth["labour_productivity_growth"]) * (1 + growth["workforce_growth"]) - 1)
    years = int(growth["years"])
    for k, v in enumerate(variants):
        gains = []
        for j, w in enumerate(variants):
            if j == k:
                continue
            what = [f"{label} ({fmt_value(shown[k, c], kind)} against {fmt_value(shown[j, c], kind)} {unit})"
                    for c, (label, kind, unit) in enumerate(_GAIN_TEXT)
                    if better[k, c] > better[j, c]  # and visibly so: not a difference the rounding hides
                    and fmt_value(shown[k, c], kind) != fmt_value(shown[j, c], kind)]
            gains.append({"over": w["name"], "text": f"Over {w['name']}: " + ("; ".join(what) if what else
                                                                             "nothing on the four criteria")})
        g = shown[k, 3]
        capped = bool(np.isfinite(arr.growth[idx[k]]) and g >= cap - 1e-6)
        v["gains"] = gains
        v["growth_note"] = (f"Growth is an estimate over {years} years. It is at the limit labour sets "
                            f"({fmt_value(cap, 'pct')} a year: the hours a unit needs fall and the workforce grows "
                            f"by the growth assumptions); more investment would not raise it."
                            if capped else f"Growth is an estimate over {years} years, below the limit labour sets "
                            f"({fmt_value(cap, 'pct')} a year).")
        v["growth_capped_by_labour"] = capped


def _implications(ctx, cards: CardArrays, k: int, props: list[str], top: int = 5) -> list[str]:
    """'Workplace X raises its output by Y% with equipment worth Z hours', largest changes first."""
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
        who = f"{cards.ent_names[i]} ({cards.sectors[int(cards.ent_sector[i])]})"
        if fmt_change(out[i], sq[i], "qty") == NO_CHANGE:  # never a "±0%" that hides or invents a change
            lines.append(f"{who} keeps its output at {fmt_value(out[i], 'qty')}{note} with equipment worth "
                         f"{fmt_value(eq[i], 'qty')} hours of labour")
            continue
        lines.append(f"{who} changes its output by {fmt_signed(pct[i], 'pct')}{note} to {fmt_value(out[i], 'qty')} "
                     f"with equipment worth {fmt_value(eq[i], 'qty')} hours of labour")
    return lines


def _cards_columns(cards: CardArrays) -> dict:
    return {"fields": KEYS, "variants": cards.names, "keys": cards.keys, "workplaces": cards.ent_ids,
            "workplace_names": cards.ent_names, "workplace_sector": cards.ent_sector,
            "units": cards.units, "values": cards.values, "status_quo": cards.status_quo,
            "previous": cards.previous, "previous_label": cards.previous_label,
            "ranges": None if cards.ranges is None else {k: [lo, hi] for k, (lo, hi) in cards.ranges.items()},
            "samples": cards.samples, "growth_notes": cards.growth_notes}


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
                      previous=conv(c["previous"]), previous_label=c.get("previous_label"), ranges=ranges,
                      samples=c.get("samples"), growth_notes=c.get("growth_notes"))


def card_meta(doc: dict, source: str | None = None) -> dict:
    """What every card of ``doc`` carries: its ``input_hash``, ``solver_version`` and ``source`` URL."""
    m = {"input_hash": doc["input_hash"], "solver_version": doc["solver_version"]}
    if source:
        m["source"] = source
    return m
