"""Which proposals cannot hold together, and whom each proposal affects without meaning to.

All proposals are checked together at a reference decision (the status quo unless
given). Through the linear structure (docs/plan-variants.md, "Incompatibilities") each
proposal p is one column of a matrix ``G`` and the reference leaves a slack ``h``:

- a capacity row per sector r: ``G[r, p] = D[r, p] + (dL_p - v.d_p) x_s[r] - dcap[r, p]``:
  the proposal's own gross-output change, plus the change of the baskets it causes (its
  labour comes from, or adds to, the net product that the decision splits), less the
  capacity it adds; ``h[r] = capacity[r] - H x_s[r]``;
- a labour row: ``G[L, p] = v.d_p - dL_p``, ``h[L] = H`` (the baskets cannot go below zero).

A set S of proposals holds when ``G[:, S] 1 <= h``; a fixed 0/1 choice fails on one row at
least (the row it overdraws is its certificate). A *minimal incompatible set* fails while
every proper subset holds. Rows that the reference already overdraws (``h < 0``) are
reported apart and counted as full (``h = 0``).

How they are found (docs/decisions.md, issue 13):

- Only ``G+ = max(G, 0)`` matters. If S is minimal and fails on row r, every member has
  ``G[r, p] > 0`` (dropping one must make r hold), and the proper subset of S that asks most
  of a row r' is the members with ``G[r', p] > 0``. So S is minimal exactly when it fails on
  some row and ``G+[:, S - {q}] 1 <= h`` for every member q. Proposals that free capacity
  never belong to a minimal set through the rows they free.
- Per row, the minimal sets are the minimal covers of its slack (sum above ``h[r]``, sum
  less the smallest member not above): a depth-first enumeration over the row's positive
  entries sorted by (need, proposal id), pruned where a partial set already fails on some
  row (it would be a proper subset), each cover kept when no member's removal leaves a
  failing row. A proposal that fails alone is a set of one and in no larger set.
- Every order is by value, then by the caller's ``keys`` (the proposal ids), and the
  columns are put in that order first: the answer does not depend on the input's order.
- At most ``max_sets`` sets are named per row (in that order). The enumeration goes on
  counting within a fixed work budget; when it stops short, the count is a lower bound and
  an antichain (Sperner-LYM) bound the upper. A linear programme (HiGHS) first drops the
  proposals that cannot complete any set of the row.
- Each proposal that belongs to a minimal set is named in at least one: it does exactly
  when some set that holds fails once it joins; a maximal set that holds, filled greedily,
  proves it for every proposal outside it, a 0/1 knapsack (HiGHS, ``scipy.optimize.milp``)
  settles the rest, and a deletion pass gives the set. Limits are counts (HiGHS's node
  limit, no time limit), so that the answer is the same on every machine.

:func:`maximal_feasible_sets` gives the sweep its proposal sets: the largest sets that hold
(HiGHS on the 0/1 programme), each with a proposal outside every earlier one.

Unintended effects: for each proposal, the sectors (other than its own) whose output it
moves by more than ``threshold_pct`` % of today's, and the number of workplaces there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from planfactory.economy import WEEKS_PER_YEAR

__all__ = [
    "MinimalSets",
    "Report",
    "RowSets",
    "find",
    "maximal_feasible_sets",
    "minimal_sets",
    "proposal_key",
    "structure",
    "unintended_effects",
]

TOL = 1e-9
MAX_SETS = 50
"""Sets named per row (resource), in the canonical order."""
ROW_WORK = 2_000
"""Work units (partial sets visited) of the enumeration per row before it stops counting."""
TOTAL_WORK = 30_000
"""The same over all rows: past it, the remaining rows get only the greedy search and bounds."""
ROW_TRIES = 100
"""Where the enumeration stops short: candidates tried for further sets of the row (one
greedy set that holds, each candidate added to it)."""
MILP_NODES = 2_000
"""HiGHS's branch-and-bound node limit per programme (deterministic, unlike a time limit)."""


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
    return TOL * np.maximum(1.0, np.abs(h))


def _fits(G: np.ndarray, h: np.ndarray, members: np.ndarray) -> bool:
    return bool(np.all(G[:, members].sum(axis=1) <= h + _tol(h)))


def proposal_key(pid: str) -> tuple:
    """Sort key of a proposal id: digits as numbers ("2" before "10"), then the id itself."""
    return tuple((1, int(x), "") if x.isdigit() else (0, 0, x) for x in re.split(r"(\d+)", str(pid)) if x) + ((2, 0, str(pid)),)


def _canonical(P: int, keys) -> np.ndarray:
    """Column order: by ``keys`` (default: the columns' own order)."""
    if keys is None:
        return np.arange(P)
    keys = list(keys)
    if len(keys) != P:
        raise ValueError(f"{len(keys)} keys for {P} columns")
    return np.array(sorted(range(P), key=lambda p: keys[p]), dtype=int)


def _by_need(values: np.ndarray, scale: float) -> np.ndarray:
    """Indices by decreasing value, ties (to the tolerance) by index: an order that rounding cannot flip."""
    q = np.round(values / (TOL * max(1.0, scale)))
    return np.lexsort((np.arange(values.size), -q))


@dataclass
class RowSets:
    """The minimal sets that overdraw one row (a sector's capacity, or the hours)."""

    row: int
    count: int
    """Minimal sets known to overdraw the row (all of them when ``complete``)."""
    complete: bool
    """Every minimal set overdrawing the row was enumerated (``count`` is exact)."""
    at_most: int | None
    """An upper bound on their number (``count`` when complete; None above 10**15)."""
    members: list[int]
    """Columns known to belong to a minimal set overdrawing the row."""
    possible: list[int] = field(default_factory=list)
    """Columns not excluded and not yet seen in one (empty when ``complete``)."""
    named: int = 0
    """Of the sets named, those that overdraw this row."""


@dataclass
class MinimalSets:
    sets: list[list[int]]
    """The sets named: up to ``max_sets`` per row, plus one set for each column in no other."""
    base: list[int]
    """Rows overdrawn with no proposal at all (counted as full, ``h = 0``, for the search)."""
    rows: list[RowSets] = field(default_factory=list)
    """Every row that a minimal set overdraws, or may."""
    members: list[int] = field(default_factory=list)
    """Columns that belong to some minimal set (each is in one of ``sets`` at least)."""
    undecided: list[int] = field(default_factory=list)
    """Columns HiGHS could neither place in a minimal set nor exclude within its node limit."""

    @property
    def complete(self) -> bool:
        """Every minimal set is named."""
        return not self.undecided and all(r.complete and r.named == r.count for r in self.rows)


class _OutOfWork(Exception):
    pass


def _enumerate_row(v: np.ndarray, M: np.ndarray, lim: np.ndarray, hr: float, keep: int, work: list[int]):
    """Minimal covers of one row among non-singleton items, in lexicographic order of the items.

    ``v`` the items' entries on the row (sorted by decreasing need), ``M`` their entries on
    every row that some set of them can overdraw (``v`` is one of those rows), ``lim`` those
    rows' limits, ``hr`` the row's own. Returns ``(first keep sets, count, members mask,
    witness, complete)``; ``work`` is ``[left for this row, left in all]`` and is spent.

    A node is a partial set C (a cover less later items, so it must hold: ``M C <= lim``).
    An item f may still join only if ``C - {q} + {f}`` holds for every q in C (a subset of
    the final set less q); with ``mins`` the smallest entry of C per row that is
    ``M C - mins + M f <= lim``. A later item that passes it and completes the cover is a
    minimal set as it stands, so covers are counted without further checks.
    """
    m = v.size
    kept: list[list[int]] = []
    count = 0
    members = np.zeros(m, dtype=bool)
    witness: dict[int, list[int]] = {}
    seen = np.zeros(m, dtype=bool)  # items with a witness

    def spend(units: int) -> None:
        work[0] -= units
        work[1] -= units
        if work[0] < 0 or work[1] < 0:
            raise _OutOfWork

    def node(chosen, colsum, mins, s, cand):
        # cand: the items (indices, increasing) that may still join, all after the last chosen
        nonlocal count
        spend(1)
        vs = v[cand]
        suf = np.cumsum(vs[::-1])[::-1]
        if suf.size == 0 or s + suf[0] <= hr:
            return
        leaf = s + vs > hr
        if leaf.any():
            L = cand[leaf]
            count += int(L.size)
            members[L] = True
            members[chosen] = True
            if len(kept) < keep or not (seen[L].all() and seen[chosen].all()):
                for i in L.tolist():
                    S = chosen + [i]
                    if len(kept) < keep:
                        kept.append(S)
                    for q in S:
                        if not seen[q]:
                            seen[q] = True
                            witness[q] = S
        for k in np.flatnonzero(~leaf).tolist():
            if s + suf[k] <= hr:  # nothing from here on can reach the row
                return
            c = int(cand[k])
            cs = colsum + M[:, c]
            if not np.all(cs <= lim):  # a partial set is a proper subset: it must hold
                continue
            mn = np.minimum(mins, M[:, c])
            rest = cand[k + 1:]
            ok = np.all(M[:, rest] <= (lim - cs + mn)[:, None], axis=0)
            spend(1 + rest.size // 64)
            node(chosen + [c], cs, mn, s + v[c], rest[ok])

    try:
        node([], np.zeros(M.shape[0]), np.full(M.shape[0], np.inf), 0.0, np.arange(m))
        complete = True
    except _OutOfWork:
        complete = False
    return kept, count, members, witness, complete


def _candidates(v: np.ndarray, M: np.ndarray, lim: np.ndarray, hr: float) -> np.ndarray:
    """Items that may belong to a minimal set overdrawing the row (the rest provably do not).

    A member p of such a set S has ``v[p] > hr - v(S - {p})`` and ``S - {p}`` holds on every
    row, so ``v[p] > hr - U`` with U the linear programme's bound on what a set that holds
    can ask of the row (HiGHS). Only members remain, so the bound is taken again on them.
    """
    keep = np.ones(v.size, dtype=bool)
    scale = np.maximum(1.0, np.abs(lim))[:, None]
    for _ in range(4):
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            break
        res = linprog(-v[idx], A_ub=M[:, idx] / scale, b_ub=lim / scale[:, 0], bounds=(0, 1), method="highs")
        U = -res.fun if res.status == 0 else float(v[idx].sum())
        new = keep.copy()
        new[idx] = v[idx] > hr - U - 1e-6 * max(1.0, hr)  # a margin above the programme's tolerance
        if new.sum() == keep.sum():
            break
        keep = new
    return np.flatnonzero(keep)


def _antichain_bound(v: np.ndarray, hr: float) -> int:
    """Sperner-LYM: minimal covers of size k to k' among m items are at most max C(m, j), k <= j <= k'."""
    m = v.size
    desc = np.sort(v)[::-1]
    big = np.cumsum(desc)
    kmin = int(np.searchsorted(big, hr, side="right")) + 1  # fewest items whose sum passes hr
    small = np.concatenate([[0.0], np.cumsum(desc[::-1])])
    kmax = int(np.searchsorted(small, hr, side="right"))  # a cover less its smallest fits: k - 1 smallest <= hr
    kmin, kmax = max(kmin, 2), min(kmax, m)
    if kmin > kmax:
        return 0
    j = min(max(m // 2, kmin), kmax)
    return math.comb(m, j)


def _reduce(M: np.ndarray, lim: np.ndarray, S: np.ndarray, p: int) -> list[int]:
    """A minimal infeasible subset of ``S`` (infeasible, ``S - {p}`` feasible) that keeps ``p``.

    One deletion pass, the smallest needs of the most overdrawn row tried first (so the set
    left is made of the largest needs, and short); one pass suffices since a subset of a
    set that holds holds.
    """
    tot = M[:, S].sum(axis=1)
    scale = np.maximum(1.0, lim)
    r = int(np.argmax((tot - lim) / scale))
    rest = S[S != p]
    keep = np.ones(S.size, dtype=bool)
    for k in _by_need(M[r, rest], lim[r])[::-1].tolist():
        q = rest[k]
        if np.any(tot - M[:, q] > lim):
            tot = tot - M[:, q]
            keep[np.flatnonzero(S == q)[0]] = False
    return sorted(int(q) for q in S[keep])


def _greedy_maximal(M: np.ndarray, lim: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The maximal set that holds, taking items in ``order`` when they fit (mask)."""
    t = np.zeros(M.shape[1], dtype=bool)
    tot = np.zeros(M.shape[0])
    for q in order.tolist():
        nxt = tot + M[:, q]
        if np.all(nxt <= lim):
            tot = nxt
            t[q] = True
    return t


def _row_sets(M: np.ndarray, lim: np.ndarray, ri: int, cand: np.ndarray, tries: int) -> list[list[int]]:
    """More minimal sets overdrawing row ``ri``, where the enumeration stopped short.

    A set T that holds is filled greedily from the row's candidates, those that ask most of
    the row relative to what they ask elsewhere first; each candidate p outside it that
    makes ``T + {p}`` overdraw the row is kept with the smallest part of T that still does
    (a minimal cover of the row, the smallest needs dropped first), when no member's
    removal leaves another row overdrawn.
    """
    if cand.size == 0:
        return []
    v = M[ri]
    rel = M[:, cand] / np.maximum(lim, 1e-300)[:, None]
    elsewhere = np.delete(rel, ri, axis=0).max(axis=0) if M.shape[0] > 1 else np.zeros(cand.size)
    ratio = np.minimum(rel[ri] / np.maximum(elsewhere, 1e-12), 1e12)
    fill = cand[np.lexsort((cand, -np.round(ratio, 6)))]  # rounded: noise in the last digits cannot reorder
    T = np.zeros(M.shape[1], dtype=bool)
    tot = np.zeros(M.shape[0])
    for q in fill.tolist():
        if np.all(tot + M[:, q] <= lim):
            tot += M[:, q]
            T[q] = True
    out = []
    outside = cand[~T[cand]]
    for p in outside[_by_need(v[outside], lim[ri])][:tries].tolist():
        if tot[ri] + v[p] <= lim[ri]:
            continue
        S = np.append(np.flatnonzero(T), p)
        s = tot[ri] + v[p]
        keep = np.ones(S.size, dtype=bool)
        for k in _by_need(v[S[:-1]], lim[ri])[::-1].tolist():
            if s - v[S[k]] > lim[ri]:
                s -= v[S[k]]
                keep[k] = False
        S = S[keep]
        colsum = M[:, S].sum(axis=1)
        if np.all(colsum[:, None] - M[:, S] <= lim[:, None]):
            out.append(sorted(int(q) for q in S))
    return out


def _knapsack_witness(M: np.ndarray, lim: np.ndarray, ri: int, p: int):
    """Is there a set T that holds, without ``p``, with ``T + {p}`` overdrawing row ``ri``?

    HiGHS on ``max M[ri] x, M x <= lim, x_p = 0`` (0/1). Returns ``(T or None, proven)``:
    a set when found; ``proven`` when none exists (the programme's bound says so).
    """
    items = np.flatnonzero(M[ri] > 0)
    items = items[items != p]
    need = lim[ri] - M[ri, p]
    if items.size == 0 or M[ri, items].sum() <= need:
        return None, True
    scale = np.maximum(1.0, lim)
    A = M[:, items] / scale[:, None]
    res = milp(-M[ri, items] / scale[ri], constraints=LinearConstraint(A, -np.inf, lim / scale),
               integrality=np.ones(items.size), bounds=Bounds(0, 1),
               options={"node_limit": MILP_NODES, "presolve": True, "disp": False, "mip_rel_gap": 0.0})
    if res.x is not None:
        T = items[res.x > 0.5]
        if np.all(M[:, T].sum(axis=1) <= lim) and M[ri, T].sum() > need:
            return T, True
    bound = getattr(res, "mip_dual_bound", None)  # HiGHS's bound on the best (a minimum of -need)
    if bound is not None and np.isfinite(bound) and -bound * scale[ri] <= need:
        return None, True
    return None, False


def minimal_sets(G: np.ndarray, h: np.ndarray, *, max_sets: int = MAX_SETS, keys=None) -> MinimalSets:
    """The minimal infeasible sets of columns of ``G`` against ``h`` (see the module's docstring).

    Parameters
    ----------
    G, h : the structure (rows x columns, rows); a set S holds when ``G[:, S].sum(1) <= h``.
    max_sets : sets named per row, in the canonical order.
    keys : one sort key per column (the proposal ids); ties are broken by them, so the
        answer does not depend on the columns' order. Default: the column index.

    Returns
    -------
    MinimalSets: the sets named (lists of column indices, sorted), the rows overdrawn with no
    proposal, per row the count (or bounds) and the members, and every column in some set.

    Examples
    --------
    >>> G = np.array([[60.0, 60.0, 60.0]]); h = np.array([100.0])
    >>> minimal_sets(G, h).sets
    [[0, 1], [0, 2], [1, 2]]
    """
    G = np.asarray(G, dtype=float)
    h = np.asarray(h, dtype=float)
    R, P = G.shape
    base = [int(r) for r in np.flatnonzero(h < -_tol(h))]
    h = np.maximum(h, 0.0)
    lim = h + _tol(h)
    if P == 0:
        return MinimalSets([], base)
    order = _canonical(P, keys)
    Gp = G[:, order]
    Gp = np.where(Gp > 1e-3 * _tol(h)[:, None], Gp, 0.0)  # G+; entries below 1e-12 of the slack are rounding
    K = np.flatnonzero(Gp.sum(axis=1) > lim)
    if K.size == 0:
        return MinimalSets([], base)
    single = np.any(Gp[K] > lim[K, None], axis=0)
    Q = np.flatnonzero(~single)
    KQ = K[Gp[np.ix_(K, Q)].sum(axis=1) > lim[K]] if Q.size else K[:0]
    MQ = Gp[np.ix_(KQ, Q)]
    limQ = lim[KQ]
    where_q = {int(r): k for k, r in enumerate(KQ)}
    work = [0, TOTAL_WORK]
    # per row: singletons (columns), first covers (Q indices), count, complete, bound, members and candidates (Q masks)
    info: dict[int, dict] = {}
    witness: dict[int, list[int]] = {}  # Q index -> a minimal set (Q indices) holding it
    known = np.zeros(Q.size, dtype=bool)
    maybe = np.zeros(Q.size, dtype=bool)
    for r in K.tolist():
        ones = np.flatnonzero(Gp[r] > lim[r])
        ones = ones[_by_need(Gp[r, ones], lim[r])]
        x = {"ones": ones.tolist(), "kept": [], "count": 0, "complete": True, "bound": 0,
             "mask": np.zeros(Q.size, dtype=bool), "cand": np.zeros(Q.size, dtype=bool)}
        if r in where_q:
            ri = where_q[r]
            items = np.flatnonzero(MQ[ri] > 0)
            items = items[_by_need(MQ[ri, items], lim[r])]
            items = items[_candidates(MQ[ri, items], MQ[:, items], limQ, float(limQ[ri]))]
            x["cand"][items] = True
            maybe[items] = True
            if items.size:
                work[0] = ROW_WORK
                kept, n, mask, wit, complete = _enumerate_row(MQ[ri, items], MQ[:, items], limQ, float(limQ[ri]),
                                                              max(max_sets - ones.size, 0), work)
                x.update(kept=[sorted(int(items[q]) for q in S) for S in kept], count=n, complete=complete,
                         bound=n if complete else _antichain_bound(MQ[ri, items], float(limQ[ri])))
                x["mask"][items[mask]] = True
                known[items[mask]] = True
                for q, S in wit.items():
                    witness.setdefault(int(items[q]), sorted(int(items[i]) for i in S))
                if not complete:
                    have = set(map(tuple, x["kept"]))
                    for S in _row_sets(MQ, limQ, ri, items, ROW_TRIES):
                        if tuple(S) not in have:
                            have.add(tuple(S))
                            if len(x["kept"]) < max(max_sets - ones.size, 0):
                                x["kept"].append(S)
                            x["mask"][S] = True
                            known[S] = True
                            for q in S:
                                witness.setdefault(q, S)
        info[r] = x
    # every proposal in some minimal set gets one: a maximal set that holds and leaves it out
    # (greedy, filling each row in turn), else HiGHS on the row's knapsack
    extra: list[list[int]] = []

    def add(S: list[int]) -> None:
        extra.append(S)
        known[S] = True
        for q in S:
            witness.setdefault(q, S)

    undecided = np.flatnonzero(maybe & ~known)
    for ri in range(KQ.size):
        if undecided.size == 0:
            break
        fill = np.lexsort((np.arange(Q.size), -np.round(MQ[ri] / (TOL * max(1.0, limQ[ri])))))
        T = _greedy_maximal(MQ, limQ, fill)
        for p in undecided[~T[undecided]].tolist():
            if not known[p]:
                add(_reduce(MQ, limQ, np.append(np.flatnonzero(T), p), p))
        undecided = undecided[~known[undecided]]
    unresolved = []
    excluded = np.zeros(Q.size, dtype=bool)  # proven in no minimal set
    for p in undecided.tolist():
        if known[p]:
            continue
        proven_all = True
        for r in K.tolist():
            if r not in where_q or not info[r]["cand"][p]:
                continue
            T, proven = _knapsack_witness(MQ, limQ, where_q[r], p)
            if T is not None:
                add(_reduce(MQ, limQ, np.append(T, p), p))
                break
            proven_all &= proven
        else:
            if proven_all:
                excluded[p] = True
            else:
                unresolved.append(p)
    # the sets named (canonical column indices): per row its singletons and first covers, then
    # one set for each proposal in a minimal set but in none of those
    to_c = lambda S: tuple(sorted(int(Q[q]) for q in S))
    chosen: list[tuple] = []
    for r in K.tolist():
        x = info[r]
        chosen.extend(([(c,) for c in x["ones"]] + [to_c(S) for S in x["kept"]])[:max_sets])
    chosen = list(dict.fromkeys(chosen))
    inside = set().union(*map(set, chosen)) if chosen else set()
    members_c = sorted({int(c) for c in Q[known]} | {c for r in K.tolist() for c in info[r]["ones"]})
    q_of = {int(c): q for q, c in enumerate(Q.tolist())}
    for c in members_c:
        if c not in inside:
            S = to_c(witness[q_of[c]]) if c in q_of else (c,)
            chosen.append(S)
            inside |= set(S)
    every_set = list(dict.fromkeys(chosen + [to_c(S) for S in extra]))
    incidence = np.zeros((len(every_set), P))
    for k, S in enumerate(every_set):
        incidence[k, list(S)] = 1.0
    over = (Gp @ incidence.T > lim[:, None]) if every_set else np.zeros((R, 0), dtype=bool)  # (rows, sets)
    is_named = np.array([k < len(chosen) for k in range(len(every_set))], dtype=bool)
    longer = np.array([len(S) > 1 for S in every_set], dtype=bool)
    back = lambda cols: sorted(int(order[c]) for c in cols)
    rows: list[RowSets] = []
    for r in K.tolist():
        x = info[r]
        ones = x["ones"]
        mem = set(ones) | {int(Q[q]) for q in np.flatnonzero(x["mask"])}
        seen_r = np.flatnonzero(over[r] & longer) if every_set else np.zeros(0, dtype=int)
        for k in seen_r.tolist():
            mem |= set(every_set[k])
        if x["complete"]:
            count = len(ones) + x["count"]
            at_most = count
            possible = []
        else:
            count = len(ones) + max(x["count"], int(seen_r.size))
            b = len(ones) + x["bound"]
            at_most = max(b, count) if b <= 10 ** 15 else None
            possible = sorted(int(Q[q]) for q in np.flatnonzero(x["cand"] & ~excluded) if int(Q[q]) not in mem)
        if count == 0 and not possible:
            continue
        rows.append(RowSets(row=int(r), count=count, complete=x["complete"], at_most=at_most, members=back(mem),
                            possible=back(possible), named=int((over[r] & is_named).sum()) if every_set else 0))
    out = [back(S) for S in sorted(chosen, key=lambda S: (len(S), S))]  # canonical order, then positions
    return MinimalSets(sets=out, base=base, rows=rows, members=back(members_c), undecided=back(Q[unresolved].tolist()))


def maximal_feasible_sets(G: np.ndarray, h: np.ndarray, count: int, *, keys=None) -> list[list[int]]:
    """Up to ``count`` sets of columns that hold together and to which no column can be added.

    The first is a largest such set; each next one is a largest set with a column outside
    every earlier set (a 0/1 programme, HiGHS), preferring columns that earlier sets left
    out, then completed to a maximal set in the order of ``keys``. Rows the reference
    overdraws count as full. Symmetric columns are treated alike: which of them comes
    first depends on ``keys`` only, never on their position.
    """
    G = np.asarray(G, dtype=float)
    h = np.maximum(np.asarray(h, dtype=float), 0.0)
    P = G.shape[1]
    if P == 0 or count <= 0:
        return []
    lim = h + _tol(h)
    order = _canonical(P, keys)
    Gc = G[:, order]
    K = np.flatnonzero(Gc.clip(min=0).sum(axis=1) > lim)
    if K.size == 0:
        return [sorted(order.tolist())]
    GK, limK = Gc[K], lim[K]
    scale = np.maximum(1.0, h[K])
    A = GK / scale[:, None]
    b = limK / scale - 1e-7  # a margin for HiGHS's tolerance; the completion below uses the exact test
    found: list[np.ndarray] = []
    seen = np.zeros(P)
    for _ in range(count):
        cons = [LinearConstraint(A, -np.inf, b)]
        for F in found:
            cons.append(LinearConstraint((~F).astype(float)[None, :], 1.0, np.inf))
        w = 1.0 + 0.5 / P * (1.0 - seen / (len(found) + 1))
        res = milp(-w, constraints=cons, integrality=np.ones(P), bounds=Bounds(0, 1),
                   options={"node_limit": MILP_NODES, "presolve": True, "disp": False})
        if res.x is None:
            break
        t = res.x > 0.5
        tot = GK[:, t].sum(axis=1)
        while np.any(tot > limK):  # beyond HiGHS's tolerance: drop the largest need on the worst row
            over = int(np.argmax((tot - limK) / scale))
            cand = np.flatnonzero(t & (GK[over] > 0))
            q = int(cand[np.argmax(GK[over, cand])])
            t[q] = False
            tot -= GK[:, q]
        grew = True
        while grew:  # complete to a maximal set, in the canonical order
            grew = False
            for p in np.flatnonzero(~t).tolist():
                if np.all(tot + GK[:, p] <= limK):
                    t[p] = True
                    tot += GK[:, p]
                    grew = True
        if any(np.array_equal(t, F) for F in found) or any(np.all(F[t]) for F in found):
            break
        found.append(t)
        seen += t
    return [sorted(int(order[p]) for p in np.flatnonzero(t)) for t in found]


@dataclass
class Report:
    sets: list[dict]
    base_violations: list[dict]
    effects: list[dict]
    all_fit: bool
    not_named: list[dict] = field(default_factory=list)
    """Per resource whose minimal sets are not all named: how many more, and the proposals in them."""
    members: list[str] = field(default_factory=list)
    """Every proposal that belongs to some minimal incompatible set (each is in a named set)."""
    undecided: list[str] = field(default_factory=list)
    """Proposals HiGHS could neither place in a minimal set nor exclude (normally none)."""

    def to_dict(self) -> dict:
        return {"all_fit": self.all_fit, "incompatible_sets": self.sets, "not_named": self.not_named,
                "in_some_set": self.members, "undecided": self.undecided, "reference_over": self.base_violations,
                "unintended_effects": self.effects}


def find(ctx, decision=None, *, threshold_pct: float | None = None, max_sets: int = MAX_SETS) -> Report:
    """Minimal incompatible sets among all proposals, and each proposal's unintended effects.

    Up to ``max_sets`` sets per resource, plus a set for every proposal in no other; the
    rest of each resource is counted in ``not_named``. Order-independent: ties go by id.
    """
    G, h, names = structure(ctx, decision)
    d = decision or ctx.status_quo
    H = ctx.workforce * d.hours_per_week * WEEKS_PER_YEAR
    xs = ctx.basis.X @ d.shares
    ref = np.concatenate([H * xs, [0.0]]) if ctx.economy.capacity is not None else np.array([0.0])
    ids = ctx.resolved.ids()
    found = minimal_sets(G, h, max_sets=max_sets, keys=[proposal_key(i) for i in ids])
    base = found.base
    out = []
    r_ = ctx.resolved
    hp = np.maximum(h, 0)
    for S in found.sets:
        tot = G[:, S].sum(axis=1)
        excess = (tot - hp) / np.maximum(np.abs(h), 1.0)
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
        S_ids = sorted((ids[p] for p in S), key=proposal_key)
        out.append({"proposals": S_ids, "positions": sorted(S, key=lambda p: proposal_key(ids[p])), "row": names[r],
                    "need": need, "available": available, "percent": pct, "unit": unit,
                    "text": _set_text(S_ids, names[r], pct), "_order": (r, len(S), [proposal_key(i) for i in S_ids])})
    out.sort(key=lambda s: s.pop("_order"))
    not_named = []
    for x in found.rows:
        if x.complete and x.named >= x.count:
            continue
        more = x.count - x.named if x.complete else None
        at_least = max(x.count - x.named, 0)
        at_most = (x.at_most - x.named) if x.at_most is not None else None
        who = sorted((ids[p] for p in x.members), key=proposal_key)
        maybe = sorted((ids[p] for p in x.possible), key=proposal_key)
        not_named.append({"row": names[x.row], "named": x.named, "more": more, "more_at_least": at_least,
                          "more_at_most": at_most, "proposals": who, "proposals_possible": maybe,
                          "text": _more_text(names[x.row], x.named, more, at_least, at_most, who, maybe)})
    base_v = [{"row": names[r], "need": float(ref[r]), "available": float(ref[r] + h[r])} for r in base]
    thr = ctx.parameters["threshold_pct"] if threshold_pct is None else threshold_pct
    return Report(sets=out, base_violations=base_v, effects=unintended_effects(ctx, d, thr),
                  all_fit=(not out and not base and _fits(G, hp, np.arange(G.shape[1]))), not_named=not_named,
                  members=sorted((ids[p] for p in found.members), key=proposal_key),
                  undecided=sorted((ids[p] for p in found.undecided), key=proposal_key))


def _who(ids: list[str]) -> str:
    return " and ".join([", ".join(ids[:-1]), ids[-1]]) if len(ids) > 1 else ids[0]


def _set_text(ids: list[str], row: str, pct: float) -> str:
    who = _who(ids)
    noun = "proposals" if len(ids) > 1 else "proposal"
    together = " together" if len(ids) > 1 else ""
    verb = "need" if len(ids) > 1 else "needs"
    if row == "labour":
        return f"{noun} {who}{together} {verb} {pct:.0f}% of the hours available"
    return f"{noun} {who}{together} {verb} {pct:.0f}% of {row} capacity"


def _more_text(row: str, named: int, more, at_least: int, at_most, ids: list[str], maybe: list[str]) -> str:
    what = "the hours available" if row == "labour" else f"{row} capacity"
    if more is not None:
        how = f"{more:,} more"
    elif at_least == 0:
        how = f"perhaps up to {at_most:,} more" if at_most is not None else "perhaps more"
    elif at_most is not None:
        how = f"{at_least:,} to {at_most:,} more"
    else:
        how = f"at least {at_least:,} more"
    text = f"{what}: {named:,} {'set' if named == 1 else 'sets'} named, {how} not named"
    if ids:
        text += f", with proposal{'s' if len(ids) > 1 else ''} {_who(ids)}"
    if maybe:
        text += f"; perhaps also with proposal{'s' if len(maybe) > 1 else ''} {_who(maybe)}"
    return text


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
