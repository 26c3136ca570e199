"""Which proposals cannot hold together, and whom each proposal affects without meaning to.

All proposals are checked together at a reference decision (the status quo unless
given). Through the linear structure (docs/plan-variants.md, "Incompatibilities") each
proposal p is one column of a matrix ``G`` and the reference leaves a slack ``h``:

- a capacity row per sector r: ``G[r, p] = D[r, p] + (dL_p - v.d_p) x_s[r] - dcap[r, p]``:
  the proposal's own gross-output change, plus the change of the baskets it causes (its
  labour comes from, or adds to, the net product that the decision splits), less the
  capacity it adds; ``h[r] = capacity[r] - H x_s[r]``;
- a labour row: ``G[L, p] = v.d_p - dL_p``, ``h[L] = H`` (the baskets cannot go below zero).

A set S of proposals holds when ``G[:, S] 1 <= h``. This is a system of linear
inequalities in the 0/1 choices; its infeasibility certificate (Farkas) is a row r with
``sum_S G[r, p] > h[r]``, i.e. one sector (or labour) that the set overdraws.

Minimal incompatible sets (drop any one member and the rest fit) are found without
trying subsets: for each overdrawn row, take the proposals in order of decreasing need
on that row until the row is overdrawn (the shortest set that overdraws it), then run a
deletion filter over all rows (drop a member when the rest is still infeasible) and check
minimality with one matrix product. The members are then set aside and the row is
searched again, giving disjoint sets; the number of sets is bounded.

Unintended effects: for each proposal, the sectors (other than its own) whose output it
moves by more than ``threshold_pct`` % of today's, and the number of workplaces there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planfactory.economy import WEEKS_PER_YEAR

__all__ = ["structure", "IncompatibleSet", "minimal_sets", "find", "unintended_effects", "Report"]

TOL = 1e-9


def structure(ctx, decision=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(G, h, row_names)`` at ``decision`` (a FundamentalDecision; default the status quo)."""
    r = ctx.resolved
    d = decision or ctx.status_quo
    H = ctx.workforce * d.hours_per_week * WEEKS_PER_YEAR
    xs = ctx.basis.X @ d.shares  # gross output of one hour of net product at these shares
    shift = r.dL - (r.value_Z + r.value_dy)  # hours the proposal adds to the baskets (negative: takes)
    rows, hs, names = [], [], []
    cap = ctx.economy.capacity
    if cap is not None:
        Gc = r.D + np.outer(xs, shift)
        if r.P:
            np.subtract.at(Gc, (r.sector, np.arange(r.P)), r.dcap)
        rows.append(Gc)
        hs.append(cap - H * xs)
        names.extend(ctx.economy.sectors)
    rows.append((-shift)[None, :])
    hs.append(np.array([H]))
    names.append("labour")
    return np.vstack(rows), np.concatenate(hs), names


def _tol(h: np.ndarray) -> np.ndarray:
    return 1e-9 * np.maximum(1.0, np.abs(h))


def _fits(G: np.ndarray, h: np.ndarray, members: np.ndarray) -> bool:
    return bool(np.all(G[:, members].sum(axis=1) <= h + _tol(h)))


def _minimize(G: np.ndarray, h: np.ndarray, S: list[int], row: int) -> list[int]:
    """Deletion filter over all rows, then an exact minimality check (one matrix product)."""
    S = list(S)
    # try dropping the smallest contributors to ``row`` first: they are the likeliest to be unneeded
    for p in sorted(S, key=lambda q: G[row, q]):
        rest = [q for q in S if q != p]
        if rest and not _fits(G, h, np.array(rest)):
            S = rest
    while len(S) > 1:
        idx = np.array(S)
        tot = G[:, idx].sum(axis=1)
        without = tot[:, None] - G[:, idx]  # column k: the set without its k-th member
        still_over = np.any(without > (h + _tol(h))[:, None], axis=0)
        if not still_over.any():
            break
        drop = int(np.flatnonzero(still_over)[0])
        S = [q for k, q in enumerate(S) if k != drop]
    return [int(q) for q in S]


@dataclass
class IncompatibleSet:
    members: list[int]
    """Positions of the proposals in the input list."""
    row: int
    """The row it overdraws most (its certificate)."""
    row_name: str
    need: float
    """What the set asks of that row (output or hours), with the reference plan."""
    available: float
    """What the row offers (capacity plus the set's own additions, or hours)."""

    @property
    def percent(self) -> float:
        return 100.0 * self.need / self.available if self.available > 0 else float("inf")


def minimal_sets(G: np.ndarray, h: np.ndarray, *, max_sets: int = 50) -> tuple[list[list[int]], list[int]]:
    """Disjoint-per-row minimal infeasible sets of columns of ``G`` against ``h``.

    Returns ``(sets, base_violations)``: the rows already overdrawn with no proposal at
    all are reported apart, and relaxed to zero slack for the search.
    """
    base = [int(r) for r in np.flatnonzero(h < -_tol(h))]
    h = np.maximum(h, 0.0)
    P = G.shape[1]
    if P == 0:
        return [], base
    over = G.sum(axis=1) - h
    if np.all(G.clip(min=0).sum(axis=1) <= h + _tol(h)):
        return [], base
    rows = np.flatnonzero(G.clip(min=0).sum(axis=1) > h + _tol(h))
    rows = rows[np.argsort(-(over[rows] / np.maximum(np.abs(h[rows]), 1e-300)), kind="stable")]
    found: list[list[int]] = []
    seen: set = set()
    for r in rows:
        avail = np.flatnonzero(G[r] > 0)
        while avail.size and len(found) < max_sets:
            order = avail[np.argsort(-G[r, avail], kind="stable")]
            csum = np.cumsum(G[r, order])
            k = np.flatnonzero(csum > h[r] + _tol(h[r:r + 1])[0])
            if k.size == 0:
                break
            S = _minimize(G, h, list(order[:k[0] + 1]), int(r))
            key = tuple(sorted(S))
            if key not in seen:
                seen.add(key)
                found.append(sorted(S))
            avail = np.setdiff1d(avail, S)
        if len(found) >= max_sets:
            break
    return found, base


@dataclass
class Report:
    sets: list[dict]
    base_violations: list[dict]
    effects: list[dict]
    all_fit: bool

    def to_dict(self) -> dict:
        return {"all_fit": self.all_fit, "incompatible_sets": self.sets, "reference_over": self.base_violations,
                "unintended_effects": self.effects}


def find(ctx, decision=None, *, threshold_pct: float | None = None, max_sets: int = 50) -> Report:
    """Minimal incompatible sets among all proposals, and each proposal's unintended effects."""
    G, h, names = structure(ctx, decision)
    d = decision or ctx.status_quo
    H = ctx.workforce * d.hours_per_week * WEEKS_PER_YEAR
    xs = ctx.basis.X @ d.shares
    ref = np.concatenate([H * xs, [0.0]]) if ctx.economy.capacity is not None else np.array([0.0])
    sets, base = minimal_sets(G, h, max_sets=max_sets)
    ids = ctx.resolved.ids()
    out = []
    r_ = ctx.resolved
    for S in sets:
        tot = G[:, S].sum(axis=1)
        excess = (tot - np.maximum(h, 0)) / np.maximum(np.abs(h), 1.0)
        r = int(np.argmax(excess))
        if names[r] == "labour":
            need, available = float(tot[r]), float(H)
            unit = "hours per year"
        else:
            added = float(sum(r_.dcap[p] for p in S if r_.sector[p] == r))
            need = float(ref[r] + tot[r] + added)
            available = float(ctx.economy.capacity[r] + added)
            unit = "output"
        pct = 100.0 * need / available if available > 0 else float("inf")
        out.append({"proposals": [ids[p] for p in S], "positions": S, "row": names[r],
                    "need": need, "available": available, "percent": pct, "unit": unit,
                    "text": _set_text([ids[p] for p in S], names[r], pct)})
    base_v = [{"row": names[r], "need": float(ref[r]), "available": float(ref[r] + h[r])} for r in base]
    thr = ctx.parameters["threshold_pct"] if threshold_pct is None else threshold_pct
    return Report(sets=out, base_violations=base_v, effects=unintended_effects(ctx, d, thr),
                  all_fit=(not out and not base and _fits(G, np.maximum(h, 0), np.arange(G.shape[1]))))


def _set_text(ids: list[str], row: str, pct: float) -> str:
    who = " and ".join([", ".join(ids[:-1]), ids[-1]]) if len(ids) > 1 else ids[0]
    noun = "proposals" if len(ids) > 1 else "proposal"
    together = " together" if len(ids) > 1 else ""
    verb = "need" if len(ids) > 1 else "needs"
    if row == "labour":
        return f"{noun} {who}{together} {verb} {pct:.0f}% of the hours available"
    return f"{noun} {who}{together} {verb} {pct:.0f}% of {row} capacity"


def unintended_effects(ctx, decision, threshold_pct: float) -> list[dict]:
    """For each proposal: sectors other than its own moved by more than ``threshold_pct`` % of today's output."""
    r = ctx.resolved
    if r.P == 0:
        return []
    xs = ctx.basis.X @ decision.shares
    shift = r.dL - (r.value_Z + r.value_dy)
    dX = r.D + np.outer(xs, shift)  # (n, P) output change of every sector
    dX_other = dX.copy()
    dX_other[r.sector, np.arange(r.P)] -= r.dy  # the proposer's own extra output is intended
    today = np.where(ctx.today > 0, ctx.today, np.inf)
    pct = 100.0 * dX_other / today[:, None]
    counts = np.bincount(ctx.ent_sector, minlength=ctx.n) if ctx.ent_sector.size else np.zeros(ctx.n, dtype=int)
    out = []
    for p in range(r.P):
        moved = np.flatnonzero(np.abs(pct[:, p]) > threshold_pct)
        moved = moved[np.argsort(-np.abs(pct[moved, p]), kind="stable")]
        sectors = [{"sector": ctx.economy.sectors[j], "change": float(dX_other[j, p]), "change_pct": float(pct[j, p]),
                    "workplaces": int(counts[j] - (1 if j == r.sector[p] else 0))} for j in moved]
        out.append({"proposal": r.proposals[p].id, "enterprise": r.proposals[p].enterprise,
                    "threshold_pct": threshold_pct, "sectors": sectors,
                    "workplaces": int(sum(s["workplaces"] for s in sectors))})
    return out
