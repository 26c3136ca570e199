"""Proposals from the workplace councils, and what each one means for the economy.

A proposal (essay, section 7f) comes from one workplace (an :class:`~planfactory.economy.Enterprise`)
and says, for the next period (one year):

- ``output_change``: how much more (or less) it will produce, either ``absolute`` (units of
  its sector's product per year) or ``percent`` of its output today;
- ``equipment``: the extra equipment it needs, by supplying sector (units of that sector's
  product); when omitted, the capital coefficients give it: ``B[:, j] * max(0, output change)``;
- ``hours_change``: the change of hours per person per week at that workplace (+ or -).

Against the economy's linear structure a proposal p of workplace e in sector j becomes
three vectors (docs/plan-variants.md, "Proposals"):

- a final demand ``d_p = dy_p * e_j + Z_p``: its extra product goes to the net product,
  its equipment is an investment delivered by the supplying sectors;
- a gross-output change ``D[:, p] = (I - A)^-1 d_p``: one multi-column solve for all of
  them, never one solve per proposal;
- a capacity addition ``dcap_p`` in sector j: the workplace's capacity becomes at least
  its proposed output (the council states what it can produce), and a labour change
  ``dL_p = workforce_e * hours_change * WEEKS_PER_YEAR`` hours per year.

Everything downstream (incompatibilities, variants, cards) is linear in these columns.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from planfactory.economy import WEEKS_PER_YEAR as WEEKS
from planfactory.economy import Economy
from planfactory.errors import PlanError

__all__ = ["Proposal", "ProposalError", "parse_proposal", "parse_proposals", "load_proposals",
           "ResolvedProposals", "resolve", "WEEKS"]

KINDS = ("absolute", "percent")


ProposalError = PlanError
"""The older name of :class:`planfactory.errors.PlanError` (a proposal that cannot be accepted)."""


@dataclass(frozen=True)
class Proposal:
    """One workplace council's proposal for the next period."""

    id: str
    """Stable id (given by the store, or by the file)."""
    enterprise: str
    """Id of the proposing workplace (an enterprise of the economy)."""
    output_change: float = 0.0
    """Change of its output: units per year (``absolute``) or percent of today's output."""
    kind: str = "absolute"
    """``absolute`` or ``percent``."""
    equipment: dict = field(default_factory=dict)
    """Extra equipment by supplying sector name: units of that sector's product. Empty: from B."""
    hours_change: float = 0.0
    """Change of hours per person per week at this workplace."""
    author: str | None = None
    """Who submitted it (the clerk token's subject: an assembly id)."""
    created_at: float | None = None
    """Unix time of submission."""
    note: str = ""
    """Free text from the council (not used in any computation)."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["equipment"] = dict(sorted(self.equipment.items()))
        return d

    def computational(self) -> dict:
        """The fields that enter computation (hashed into a published variant set)."""
        return {"id": self.id, "enterprise": self.enterprise, "output_change": self.output_change,
                "kind": self.kind, "equipment": dict(sorted(self.equipment.items())),
                "hours_change": self.hours_change}


def _num(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PlanError(field, "must be a finite number")
    return float(value)


def parse_proposal(d: dict, economy: Economy | None = None, *, default_id: str | None = None) -> Proposal:
    """Validate a proposal given as a JSON object (checked against ``economy`` when given)."""
    if not isinstance(d, dict):
        raise PlanError("proposal", "must be a JSON object")
    unknown = set(d) - {"id", "enterprise", "output_change", "kind", "output_change_percent", "equipment",
                        "hours_change", "author", "created_at", "note"}
    if unknown:
        raise PlanError(sorted(unknown)[0], "unknown field")
    if "enterprise" not in d:
        raise PlanError("enterprise", "is required")
    ent = d["enterprise"]
    if not isinstance(ent, str) or not ent:
        raise PlanError("enterprise", "must be an enterprise id (text)")
    kind = d.get("kind", "absolute")
    if "output_change_percent" in d:
        if "output_change" in d:
            raise PlanError("output_change_percent", "give output_change or output_change_percent, not both")
        change, kind = _num(d["output_change_percent"], "output_change_percent"), "percent"
    else:
        change = _num(d.get("output_change", 0.0), "output_change")
    if kind not in KINDS:
        raise PlanError("kind", f"must be one of {', '.join(KINDS)}")
    if kind == "percent" and change < -100:
        raise PlanError("output_change_percent" if "output_change_percent" in d else "output_change",
                            "a workplace cannot cut its output by more than 100%")
    eq = d.get("equipment") or {}
    if not isinstance(eq, dict):
        raise PlanError("equipment", "must be an object: supplying sector name -> amount")
    equipment = {}
    for k, v in eq.items():
        val = _num(v, f"equipment.{k}")
        if val < 0:
            raise PlanError(f"equipment.{k}", "must be >= 0")
        equipment[str(k)] = val
    hours = _num(d.get("hours_change", 0.0), "hours_change")
    if abs(hours) > 168:
        raise PlanError("hours_change", "a week has 168 hours")
    note = d.get("note", "")
    if not isinstance(note, str) or len(note) > 2000:
        raise PlanError("note", "must be text of at most 2000 characters")
    pid = d.get("id", default_id)
    if pid is None:
        raise PlanError("id", "is required")
    p = Proposal(id=str(pid), enterprise=ent, output_change=change, kind=kind, equipment=equipment,
                 hours_change=hours, author=d.get("author"), created_at=d.get("created_at"), note=note)
    if economy is not None:
        check(p, economy)
    return p


def check(p: Proposal, economy: Economy) -> None:
    """Raise :class:`~planfactory.errors.PlanError` if ``p`` names an unknown workplace or sector."""
    ents = {e.id: e for e in economy.enterprises}
    if p.enterprise not in ents:
        raise PlanError("enterprise", f"no workplace with id {p.enterprise!r} in the economy")
    index = set(economy.sectors)
    for k in p.equipment:
        if k not in index:
            raise PlanError(f"equipment.{k}", f"no sector named {k!r}")
    e = ents[p.enterprise]
    if p.hours_change and e.workforce == 0:
        raise PlanError("hours_change", "this workplace has no workforce")


def parse_proposals(items, economy: Economy | None = None) -> list[Proposal]:
    """A list of proposals (ids default to 1, 2, ... in order); ids must be unique."""
    if isinstance(items, dict) and "proposals" in items:
        items = items["proposals"]
    if not isinstance(items, list):
        raise PlanError("proposals", "must be a list of proposal objects")
    out, seen = [], set()
    for k, it in enumerate(items):
        try:
            p = parse_proposal(it, economy, default_id=str(k + 1))
        except PlanError as exc:
            raise PlanError(f"proposals[{k}].{exc.field}", exc.reason) from None
        if p.id in seen:
            raise PlanError(f"proposals[{k}].id", f"duplicate id {p.id!r}")
        seen.add(p.id)
        out.append(p)
    return out


def load_proposals(path, economy: Economy | None = None) -> list[Proposal]:
    """Proposals from a JSON file: a list, or an object with a ``proposals`` list."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise PlanError("proposals", f"cannot read {path}: {exc}") from None
    return parse_proposals(data, economy)


@dataclass
class ResolvedProposals:
    """Proposals turned into columns over the economy's sectors (P proposals, n sectors)."""

    proposals: list[Proposal]
    enterprise: np.ndarray
    """(P,) index of the proposing workplace in ``economy.enterprises``."""
    sector: np.ndarray
    """(P,) sector index of that workplace."""
    dy: np.ndarray
    """(P,) output change, units per year."""
    Z: np.ndarray
    """(n, P) equipment by supplying sector."""
    demand: np.ndarray
    """(n, P) final demand of each proposal: dy * e_j + Z."""
    D: np.ndarray
    """(n, P) gross-output change of each proposal: (I - A)^-1 demand."""
    dcap: np.ndarray
    """(P,) capacity added to the proposer's sector."""
    dL: np.ndarray
    """(P,) hours of labour per year added (workforce * hours change * weeks)."""
    value_Z: np.ndarray
    """(P,) labour value of the equipment, hours."""
    value_dy: np.ndarray
    """(P,) labour value of the extra product, hours."""

    @property
    def P(self) -> int:
        return len(self.proposals)

    def ids(self) -> list[str]:
        return [p.id for p in self.proposals]


def resolve(economy: Economy, proposals: list[Proposal], solver, labour_values: np.ndarray,
            base_output: np.ndarray) -> ResolvedProposals:
    """Turn proposals into the columns of :class:`ResolvedProposals` (one multi-column solve).

    ``base_output`` is each sector's output today (the status quo); a workplace's output
    today is its share of it, and its capacity its share of the sector's capacity.
    """
    n, P = economy.n, len(proposals)
    ents = {e.id: k for k, e in enumerate(economy.enterprises)}
    sidx = {s: i for i, s in enumerate(economy.sectors)}
    ent = np.zeros(P, dtype=np.int64)
    sec = np.zeros(P, dtype=np.int64)
    dy = np.zeros(P)
    dL = np.zeros(P)
    Z = np.zeros((n, P))
    dcap = np.zeros(P)
    cap = economy.capacity
    for k, p in enumerate(proposals):
        check(p, economy)
        ei = ents[p.enterprise]
        e = economy.enterprises[ei]
        ent[k], sec[k] = ei, e.sector
        today = e.share * float(base_output[e.sector])
        dy[k] = today * p.output_change / 100.0 if p.kind == "percent" else p.output_change
        if p.equipment:
            for name, amount in p.equipment.items():
                Z[sidx[name], k] += amount
        elif economy.B is not None and dy[k] > 0:
            Bcol = economy.B[:, [e.sector]]
            Bcol = Bcol.toarray().ravel() if hasattr(Bcol, "toarray") else np.asarray(Bcol).ravel()
            Z[:, k] = Bcol * dy[k]
        dL[k] = e.workforce * p.hours_change * WEEKS
        if cap is not None:
            dcap[k] = max(0.0, today + dy[k] - e.share * float(cap[e.sector]))
    demand = Z.copy()
    demand[sec, np.arange(P)] += dy
    D = solver.solve(demand).gross_output if P else np.zeros((n, 0))
    D = np.asarray(D).reshape(n, P)
    v = np.asarray(labour_values)
    return ResolvedProposals(list(proposals), ent, sec, dy, Z, demand, D, dcap, dL,
                             v @ Z if P else np.zeros(0), v[sec] * dy if P else np.zeros(0))
