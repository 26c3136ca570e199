"""Cards: for each variant and each workplace, the same fields in the same order.

Numbers are computed as arrays first (:func:`card_numbers` for any variants,
:func:`card_arrays` for the chosen ones: workplaces x variants, one product per field) and
rendered on demand, one card at a time, as JSON (:func:`card_dict`) or plain text short
enough to read aloud in under a minute (:func:`card_text`). The HTML fragment that fits a
phone screen is the application's (``councilcast.plan_cards.render_card``, a template).

The fields (docs/plan-variants.md, "Cards"), letters a-e are the essay's items:

==================  ==================================================  ============
key                 label                                               scope
==================  ==================================================  ============
output              a. Output target of this workplace                  workplace
equipment           Equipment received (labour value)                   workplace
hours               b. Hours per worker per week                        workplace
consumption         c. Private consumption per worker per week          economy
growth              e. Growth of consumption per year                   economy
public_share        d. Public consumption, share of the net product      economy
investment_share    d. Net investment, share of the net product          economy
sector_output       a. Output of the workplace's sector                 sector
hours_total         b. Hours worked in the economy in the year          economy
consumption_total   c. Private consumption in the economy in the year   economy
public_total        d. Public consumption in the year                   economy
investment_total    d. Net investment (new capacity) in the year        economy
replacement_total   d. Replacement of worn equipment in the year        economy
==================  ==================================================  ============

The net product is what is left of the gross output after the materials used up and the
replacement of the equipment worn out (decision.operating_matrix): the investment share
and total are net investment, new capacity; the replacement is shown beside them, so that
gross investment = net investment + replacement. "Per worker" divides by the workforce.

Each field carries its value, the status quo's value and the change (signed), the last
published version's value and the change since (or null when that version had no such
variant), and, when coefficients are marked as estimates, the range over the samples.
Rounding is stated once (:data:`ROUNDING`); no adjectives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from planfactory.document import CARD_FORMAT
from planfactory.growth import growth_note
from planfactory.variants import VariantArrays, spec_key

__all__ = ["FIELDS", "KEYS", "ROUNDING", "CardArrays", "card_numbers", "card_arrays", "card_dict", "card_text",
           "fmt_value", "fmt_signed", "fmt_change", "NO_CHANGE", "attach_previous", "attach_ranges", "changes"]

ROUNDING = "Rounded: quantities to 3 significant digits, hours and % to 1 decimal; changes to the same digit."

# key, label, unit ("{unit}" = the sector's unit), scope, number kind
FIELDS: list[tuple[str, str, str, str, str]] = [
    ("output", "a. Output target of this workplace", "{unit} a year", "workplace", "qty"),
    ("equipment", "Equipment received", "hours of labour", "workplace", "qty"),
    ("hours", "b. Hours per worker per week", "hours", "workplace", "dec"),
    ("consumption", "c. Private consumption per worker per week", "hours of labour", "economy", "dec"),
    ("growth", "e. Growth of consumption per year", "%", "economy", "pct"),
    ("public_share", "d. Public consumption, share of the net product", "%", "economy", "pct"),
    ("investment_share", "d. Net investment, share of the net product", "%", "economy", "pct"),
    ("sector_output", "a. Output of the sector", "{unit} a year", "sector", "qty"),
    ("hours_total", "b. Hours worked in the economy", "hours a year", "economy", "qty"),
    ("consumption_total", "c. Private consumption in the economy", "hours a year", "economy", "qty"),
    ("public_total", "d. Public consumption", "hours a year", "economy", "qty"),
    ("investment_total", "d. Net investment (new capacity)", "hours a year", "economy", "qty"),
    ("replacement_total", "d. Replacement of worn equipment", "hours a year", "economy", "qty"),
]
KEYS = [f[0] for f in FIELDS]


@dataclass
class CardArrays:
    """Every card number of K variants for E workplaces, as arrays."""

    names: list[str]
    keys: list[str]
    ent_ids: list[str]
    ent_names: list[str]
    ent_sector: np.ndarray
    sectors: list[str]
    units: list[str]
    values: dict
    """key -> (E, K) for workplace fields, (n, K) for sector fields, (K,) for economy fields."""
    status_quo: dict
    """key -> (E,), (n,) or scalar."""
    previous: dict | None = None
    """key -> same shape as ``values`` (NaN where the last version had no such variant)."""
    previous_label: str | None = None
    ranges: dict | None = None
    """key -> (low, high), each the shape of ``values``."""
    samples: dict | None = None
    """Over the samples of estimated coefficients (:func:`attach_ranges`), JSON-able: ``count``
    (samples), and per variant ``within_capacity`` (in how many samples it stays within capacity
    and the hours available) and ``max_utilisation`` ([lowest, highest] largest use of capacity
    over the variant's samples, a fraction; None when the economy states no capacity)."""
    growth_notes: list[str] | None = None
    """Per variant, what the growth figure is (:func:`planfactory.growth.growth_note`): an
    estimate, over what horizon, and whether labour caps it."""
    equipment_basis: dict = field(default_factory=dict)
    """What the equipment detail is computed from on demand (per sector unit columns)."""

    @property
    def K(self) -> int:
        return len(self.names)

    @property
    def E(self) -> int:
        return len(self.ent_ids)

    def get(self, key: str, e: int, k: int, which: str = "values") -> float:
        src = getattr(self, which)
        if src is None:
            return float("nan")
        a = src[key] if which != "status_quo" else src[key]
        scope = _SCOPE[key]
        if which == "status_quo":
            if scope == "workplace":
                return float(a[e])
            if scope == "sector":
                return float(a[self.ent_sector[e]])
            return float(a)
        if scope == "workplace":
            return float(a[e, k])
        if scope == "sector":
            return float(a[self.ent_sector[e], k])
        return float(a[k])


_SCOPE = {f[0]: f[3] for f in FIELDS}
_KIND = {f[0]: f[4] for f in FIELDS}


def _scatter(index: np.ndarray, values: np.ndarray, size: int, T: np.ndarray) -> np.ndarray:
    """(size, K): sum over proposals p in each variant's set of ``values[p]`` at row ``index[p]``."""
    M = np.zeros((size, index.size))
    if index.size:
        M[index, np.arange(index.size)] = values
    return M @ T.astype(float) if index.size else np.zeros((size, T.shape[1]))


def card_numbers(ctx, arr: VariantArrays) -> dict:
    """Field values for every variant of ``arr``: key -> (E, V), (n, V) or (V,) (see :class:`CardArrays`).

    ``ctx`` is the :class:`planfactory.variants.Context` that ``arr`` was evaluated in.
    """
    r = ctx.resolved
    T = arr.specs.T
    E = ctx.ent_sector.size
    sec, share = ctx.ent_sector, ctx.ent_share
    dy_sec = _scatter(r.sector, r.dy, ctx.n, T)
    dy_ent = _scatter(r.enterprise, r.dy, E, T)
    vz_ent = _scatter(r.enterprise, r.value_Z, E, T)
    dh_ent = _scatter(r.enterprise, np.array([p.hours_change for p in r.proposals]), E, T)
    output = share[:, None] * (arr.X - dy_sec)[sec, :] + dy_ent
    eq_unit = ctx.basis.new_capacity_per_hour * ctx.vB  # equipment hours per hour of basket investment, by sector
    equipment = share[:, None] * eq_unit[sec][:, None] * arr.basket_investment[None, :] + vz_ent
    hours = arr.specs.decisions[:, 0][None, :] + dh_ent
    shares = arr.shares
    return {
        "output": output, "equipment": equipment, "hours": hours,
        "consumption": arr.consumption_pp_week, "growth": 100.0 * arr.growth,
        "public_share": 100.0 * shares[1], "investment_share": 100.0 * shares[2],
        "sector_output": arr.X, "hours_total": arr.hours_total, "consumption_total": arr.consumption,
        "public_total": arr.public, "investment_total": arr.investment,
        "replacement_total": arr.replacement if arr.replacement is not None else np.zeros(arr.V),
    }


def card_arrays(ctx, arr, chosen, names, sq_arr) -> CardArrays:
    """Card numbers of the chosen variants (indices into ``arr``), with the status quo (``sq_arr``, one column)."""
    sub = _take(arr, chosen)
    vals = card_numbers(ctx, sub)
    sq = {k: (v[..., 0] if np.ndim(v) else v) for k, v in card_numbers(ctx, sq_arr).items()}
    sq["output"] = ctx.ent_share * ctx.today[ctx.ent_sector]
    sq["sector_output"] = ctx.today.copy()
    ids = ctx.resolved.ids()
    keys = [spec_key(sub.specs.decisions[k], [ids[p] for p in np.flatnonzero(sub.specs.T[:, k])])
            for k in range(sub.V)]
    e = ctx.economy
    g = ctx.parameters["growth"]
    cap = (1 + g["labour_productivity_growth"]) * (1 + g["workforce_growth"]) - 1
    notes = [growth_note(int(g["years"]), capped=bool(np.isfinite(x) and x >= cap - 1e-6)) for x in sub.growth]
    return CardArrays(names=list(names), keys=keys, ent_ids=[x.id for x in e.enterprises],
                      ent_names=[x.name for x in e.enterprises], ent_sector=ctx.ent_sector, sectors=list(e.sectors),
                      units=list(e.units) if e.units else ["unit"] * e.n, values=vals, status_quo=sq,
                      growth_notes=notes)


def _take(arr, idx):
    idx = np.asarray(idx, dtype=np.int64)
    return VariantArrays(specs=arr.specs.take(idx), X=arr.X[:, idx],
                         capacity=None if arr.capacity is None else arr.capacity[:, idx],
                         hours_total=arr.hours_total[idx], rest=arr.rest[idx], consumption=arr.consumption[idx],
                         public=arr.public[idx], investment=arr.investment[idx],
                         basket_investment=arr.basket_investment[idx], growth=arr.growth[idx],
                         feasible=arr.feasible[idx], max_utilisation=arr.max_utilisation[idx],
                         tightest=arr.tightest[idx], workforce=arr.workforce,
                         replacement=None if arr.replacement is None else arr.replacement[idx])


def attach_previous(cards: CardArrays, prev: CardArrays, label: str) -> None:
    """Align the last published version's numbers to ``cards`` (by variant spec and workplace id)."""
    kpos = {key: k for k, key in enumerate(prev.keys)}
    epos = {eid: i for i, eid in enumerate(prev.ent_ids)}
    spos = {s: i for i, s in enumerate(prev.sectors)}
    emap = np.array([epos.get(eid, -1) for eid in cards.ent_ids], dtype=np.int64)
    smap = np.array([spos.get(s, -1) for s in cards.sectors], dtype=np.int64)
    kmap = np.array([kpos.get(key, -1) for key in cards.keys], dtype=np.int64)
    out = {}
    for key in KEYS:
        v = cards.values[key]
        pv = prev.values[key]
        res = np.full(np.shape(v), np.nan)
        scope = _SCOPE[key]
        for k, pk in enumerate(kmap):
            if pk < 0:
                continue
            if scope == "economy":
                res[k] = pv[pk]
            else:
                m = emap if scope == "workplace" else smap
                ok = m >= 0
                res[ok, k] = pv[m[ok], pk]
        out[key] = res
    cards.previous = out
    cards.previous_label = label


def attach_ranges(cards: CardArrays, samples: list[dict], arrays: list | None = None) -> None:
    """Ranges over sampled coefficients: ``samples`` are ``values`` dicts of the same shapes.

    ``arrays``, the samples' :class:`~planfactory.variants.VariantArrays` (same order), add
    whether each variant stays within capacity across the samples (:attr:`CardArrays.samples`):
    a range of card values alone would not say it.
    """
    if not samples:
        return
    rng = {}
    for key in KEYS:
        stack = np.stack([np.asarray(cards.values[key], dtype=float)] + [np.asarray(s[key], dtype=float)
                                                                         for s in samples])
        rng[key] = (np.nanmin(stack, axis=0), np.nanmax(stack, axis=0))
    cards.ranges = rng
    if arrays:
        feasible = np.array([np.asarray(a.feasible, dtype=bool) for a in arrays])  # (S, K)
        util = np.array([np.asarray(a.max_utilisation, dtype=float) for a in arrays])
        known = np.isfinite(util).all(axis=0)
        cards.samples = {"count": len(arrays), "within_capacity": feasible.sum(axis=0).tolist(),
                         "max_utilisation": [[float(util[:, k].min()), float(util[:, k].max())] if known[k] else None
                                             for k in range(util.shape[1])]}


def _estimates(cards: CardArrays, k: int) -> dict | None:
    """What a card says about the variant across the samples of estimated coefficients."""
    s = cards.samples
    if not s:
        return None
    n, m, u = int(s["count"]), int(s["within_capacity"][k]), s["max_utilisation"][k]
    of = f"{n} samples of the estimates"
    text = (f"Capacity not known: not checked over the {of}." if u is None else
            f"Within capacity in all {of}." if m == n else
            f"Over capacity in all {of}." if m == 0 else f"Within capacity in {m} of {of}.")
    return {"samples": n, "within_capacity": m, "max_utilisation": u, "text": text}


# --------------------------------------------------------------------------- formatting
# Display rounding is decimal: a number is taken as its shortest round-trip form (repr, the
# form published in the document), so 0.125 and 1.15 are the halves they are written as, and
# halves round away from zero (ROUND_HALF_UP) every time; binary floats would round 1.15 down.
_SCALES = ((12, "trillion"), (9, "billion"), (6, "million"))
_MINUS = "\u2212"
NO_CHANGE = "no change"
"""A card's change that rounds to zero at its figure's precision (docs/decisions.md)."""


def _dec(x) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(repr(float(x)))


def _last_digit(d: Decimal, digits: int = 3) -> int:
    """Exponent of the last digit shown of ``d`` at ``digits`` significant digits (after rounding)."""
    e = d.adjusted() - (digits - 1)
    r = d.quantize(Decimal(1).scaleb(e), rounding=ROUND_HALF_UP)
    return e + 1 if r != 0 and r.adjusted() > d.adjusted() else e  # 999.6 -> 1.00E+3


def _render(r: Decimal, e: int) -> str:
    """``r`` (already rounded at 10^e) as text: scale words from a million, digits down to 10^e."""
    a = abs(r)
    for scale, word in _SCALES:
        if a >= Decimal(1).scaleb(scale):
            s = f"{format(r.scaleb(-scale), f',.{max(0, scale - e)}f')} {word}"
            break
    else:
        s = format(r, f",.{max(0, -e)}f")
    return s.replace("-", _MINUS)


def _qty(x) -> tuple[Decimal, int]:
    """A quantity rounded to 3 significant digits, and the exponent of its last digit."""
    d = _dec(x)
    if d == 0:
        return Decimal(0), 0
    e = _last_digit(d)
    return d.quantize(Decimal(1).scaleb(e), rounding=ROUND_HALF_UP), e


def _finite(x) -> bool:
    return x is not None and math.isfinite(float(x))


def fmt_value(x: float, kind: str) -> str:
    """The display of a number under :data:`ROUNDING` (no sign for positives).

    ``kind`` "qty": 3 significant digits, shown (60.0 million, 1.00 trillion, 98,800, 0.0123);
    "dec": 1 decimal; "pct": 1 decimal and "%". Halves round away from zero, in decimal
    arithmetic on the number's shortest form; never scientific notation.

    >>> fmt_value(6e7, "qty"), fmt_value(1e12, "qty"), fmt_value(98765, "qty"), fmt_value(0.0125, "qty")
    ('60.0 million', '1.00 trillion', '98,800', '0.0125')
    >>> fmt_value(1.15, "dec"), fmt_value(-2.25, "dec"), fmt_value(12.25, "pct")
    ('1.2', '\u22122.3', '12.3%')
    """
    if not _finite(x):
        return "not known"
    if kind == "qty":
        return _render(*_qty(x))
    r = _dec(x).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    s = _render(abs(r) if r == 0 else r, -1)
    return s + ("%" if kind == "pct" else "")


def fmt_signed(x: float, kind: str) -> str:
    """A number with its sign: +1.2, \u22120.5, \u00b10 when it rounds to zero (``kind`` "pts": points).

    The number is rounded by its own kind (a quantity to 3 significant digits of itself): for
    a change of a figure on a card, see :func:`fmt_change`, which rounds at the figure's precision.
    """
    if not _finite(x):
        return "not known"
    body = fmt_value(abs(float(x)), "dec" if kind == "pts" else kind)
    if body.strip("0.,%") == "":
        return "\u00b10" + ("%" if kind == "pct" else "")
    return ("+" if x > 0 else _MINUS) + body + (" points" if kind == "pts" else "")


def fmt_change(value: float, reference: float, kind: str) -> str:
    """The change from ``reference`` to ``value`` as a card shows it, rounded at the figure's precision.

    A quantity's change is rounded at the last digit shown of ``value`` (of ``reference`` when
    ``value`` rounds to 0), and to at most 3 significant digits of its own; a change of hours
    or a percentage (in points) at 1 decimal. The difference is taken in decimal arithmetic.
    A change that rounds to zero is :data:`NO_CHANGE`, so a figure identical to the status quo
    never shows a change that is not there.

    >>> fmt_change(70_636_112.3, 70_636_112.296, "qty"), fmt_change(70.6e6, 73.8e6, "qty")
    ('no change', '\u22123.2 million')
    >>> fmt_change(21.0, 18.0, "pct"), fmt_change(40.04, 40.0, "dec")
    ('+3.0 points', 'no change')
    """
    if not (_finite(value) and _finite(reference)):
        return "not known"
    c = _dec(value) - _dec(reference)
    e = -1
    if kind == "qty":
        shown, e = _qty(value)
        if shown == 0:
            shown, e = _qty(reference)
        if c != 0:
            e = max(e, _last_digit(c))
    r = c.quantize(Decimal(1).scaleb(e), rounding=ROUND_HALF_UP)
    if r == 0:
        return NO_CHANGE
    body = _render(abs(r), e) + ("%" if kind == "pctchg" else "")
    return ("+" if r > 0 else _MINUS) + body + (" points" if kind == "pct" else "")


def _unit(unit: str, cards: CardArrays, e: int) -> str:
    return unit.replace("{unit}", cards.units[int(cards.ent_sector[e])])


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def card_dict(cards: CardArrays, k: int, e: int, meta: dict | None = None) -> dict:
    """One card (variant k, workplace e) as a JSON-able dict; ``meta`` adds hashes and links."""
    fields = []
    for key, label, unit, scope, kind in FIELDS:
        v = cards.get(key, e, k)
        sq = cards.get(key, e, k, "status_quo")
        pv = cards.get(key, e, k, "previous") if cards.previous is not None else float("nan")
        lab = label if key != "sector_output" else f"{label} {cards.sectors[int(cards.ent_sector[e])]}"
        f = {"key": key, "label": lab, "unit": _unit(unit, cards, e), "scope": scope, "value": _num(v),
             "status_quo": _num(sq), "change": _num(v - sq),
             "change_pct": _num(100.0 * (v - sq) / sq) if kind == "qty" and sq not in (0.0,) and math.isfinite(sq) else None,
             "previous": _num(pv), "change_previous": _num(v - pv),
             "range": None, "text_range": None, "text_change_pct": None, "text": fmt_value(v, kind),
             "text_change": fmt_change(v, sq, kind), "text_change_previous": fmt_change(v, pv, kind)
             if math.isfinite(pv) else "no earlier version"}
        if kind == "qty" and f["change_pct"] is not None:
            f["text_change_pct"] = (NO_CHANGE if f["text_change"] == NO_CHANGE
                                    else fmt_change(f["change_pct"], 0.0, "pctchg"))
        if cards.ranges is not None:
            lo, hi = cards.ranges[key]
            lo = float(lo[e, k] if scope == "workplace" else lo[int(cards.ent_sector[e]), k] if scope == "sector" else lo[k])
            hi = float(hi[e, k] if scope == "workplace" else hi[int(cards.ent_sector[e]), k] if scope == "sector" else hi[k])
            if fmt_value(lo, kind) != fmt_value(hi, kind):
                f["range"] = [_num(lo), _num(hi)]
                f["text_range"] = f"{fmt_value(lo, kind)} to {fmt_value(hi, kind)}"
        if key == "growth" and cards.growth_notes is not None:
            f["note"] = cards.growth_notes[k]  # an estimate, over what horizon, capped or not
        fields.append(f)
    out = {"format": CARD_FORMAT, "variant": cards.names[k], "variant_key": cards.keys[k],
           "workplace": {"id": cards.ent_ids[e], "name": cards.ent_names[e],
                         "sector": cards.sectors[int(cards.ent_sector[e])]},
           "fields": fields, "estimates": _estimates(cards, k), "rounding": ROUNDING,
           "compared_with": {"status_quo": "today", "previous": cards.previous_label}}
    if meta:
        out.update(meta)
    return out


SPOKEN = {"output": "Output", "equipment": "Equipment received", "hours": "Weekly hours per worker",
          "consumption": "Private consumption per worker a week", "growth": "Consumption growth a year",
          "public_share": "Public consumption share", "investment_share": "Net investment share",
          "sector_output": "Sector output", "hours_total": "Economy: hours worked",
          "consumption_total": "Private consumption", "public_total": "Public consumption",
          "investment_total": "Net investment"}
"""Labels read aloud; a field not named here (the replacement of worn equipment, an economy-wide
figure beside the net investment) is on the card but not in the minute read aloud."""
SPOKEN_UNIT = {"hours": "hours", "equipment": "hours", "consumption": "hours", "hours_total": "hours",
               "consumption_total": "hours", "public_total": "hours", "investment_total": "hours"}


def _spoken_range(text: str) -> str:
    """"403 million to 404 million" read as "403 to 404 million" (one scale word)."""
    lo, _, hi = text.partition(" to ")
    for _, word in _SCALES:
        if lo.endswith(" " + word) and hi.endswith(" " + word):
            return f"{lo[:-len(word) - 1]} to {hi}"
    return text


def card_text(card: dict) -> str:
    """Plain text to read aloud in under a minute (about 120 words: the same fields, short labels)."""
    w = card["workplace"]
    no_prev = all(f["previous"] is None for f in card["fields"])
    same = all(f["text_change_previous"] == NO_CHANGE for f in card["fields"] if f["previous"] is not None)
    head = f"Variant {card['variant']}. {w['name']}, {w['sector']}. Each figure, then its change on today"
    if not (no_prev or same):
        head += ", then on the last version"
    lines = [head + "."]
    for f in card["fields"]:
        if f["key"] not in SPOKEN:  # shown on the card, left out of the minute read aloud
            continue
        unit = SPOKEN_UNIT.get(f["key"], "")
        if f["key"] in ("output", "sector_output"):
            unit = f["unit"]
        s = f"{SPOKEN[f['key']]}: {f['text']}" + (f" {unit}" if unit else "")
        if f.get("text_range"):
            s += f", estimate {_spoken_range(f['text_range'])}"
        s += f", {f['text_change']}"
        if not (no_prev or same):
            s += f", {f['text_change_previous']}"
        lines.append(s + ".")
    if card.get("estimates"):
        lines.append(card["estimates"]["text"])
    lines.append("No earlier published version." if no_prev else
                 "No change since the last published version." if same else "")
    lines.append(card["rounding"])
    if card.get("input_hash"):
        lines.append(f"Inputs {card['input_hash'][7:15]}.")
    return "\n".join(x for x in lines if x)


def changes(cards: CardArrays, top: int = 10) -> list[dict]:
    """What changed since the last published version, and for whom (one entry per variant).

    A number counts as changed when its rounded display changed. Workplaces are listed by
    the size of the change of their output target (in % of the last version), largest first.
    """
    if cards.previous is None:
        return []
    out = []
    for k in range(cards.K):
        econ = []
        for key, label, unit, scope, kind in FIELDS:
            if scope != "economy":
                continue
            v, p = float(cards.values[key][k]), float(cards.previous[key][k])
            if math.isfinite(p) and fmt_value(v, kind) != fmt_value(p, kind):
                econ.append({"key": key, "label": label, "value": v, "previous": p,
                             "text": f"{label}: {fmt_value(v, kind)}, {fmt_change(v, p, kind)}"})
        if not np.isfinite(cards.previous["hours_total"][k]):
            out.append({"variant": cards.names[k], "comparable": False, "economy": [], "workplaces": [],
                        "workplaces_changed": 0})
            continue
        moved = np.zeros(cards.E, dtype=bool)
        for key in ("output", "equipment", "hours"):
            v, p = cards.values[key][:, k], cards.previous[key][:, k]
            kind = _KIND[key]
            disp = np.array([fmt_value(a, kind) != fmt_value(b, kind) for a, b in zip(v, p)], dtype=bool)
            moved |= disp & np.isfinite(p)
        v, p = cards.values["output"][:, k], cards.previous["output"][:, k]
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(np.abs(p) > 0, 100 * (v - p) / np.where(np.abs(p) > 0, np.abs(p), 1), 0.0)
        idx = np.flatnonzero(moved)
        idx = idx[np.argsort(-np.abs(pct[idx]), kind="stable")]
        who = [{"workplace": cards.ent_ids[i], "name": cards.ent_names[i],
                "sector": cards.sectors[int(cards.ent_sector[i])], "output": float(v[i]), "previous": float(p[i]),
                "text": f"{cards.ent_names[i]}: output {fmt_value(v[i], 'qty')}, {fmt_signed(pct[i], 'pct')} "
                        "on the last version"} for i in idx[:top]]
        out.append({"variant": cards.names[k], "comparable": True, "economy": econ, "workplaces": who,
                    "workplaces_changed": int(idx.size)})
    return out
