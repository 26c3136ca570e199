"""The bundled demo economy and the seeded generator that made it.

Public API::

    generate(n_sectors=30, n_enterprises=200, seed=1957, workforce=2_000_000,
             hours_per_week=40.0) -> Economy
        A realistic small economy: named sectors; A with a few dense rows (energy,
        transport and storage, repairs and maintenance: every sector uses them) and a
        handful of other inputs per sector, column sums between 0.30 and 0.70; capital
        coefficients B from the capital-goods sectors (construction, machinery, electrical
        equipment, electronics, vehicles, metal products) whose relative capital-output
        ratios in value (0.8 to 4.5 by kind, before scaling) are scaled so that the capital
        stock is worth CAPITAL_NET_PRODUCT (3) years of today's net product; labour 0.3 to 1.3 hours per unit; private and public baskets; today's
        output for today's split of the net product (74% private, 21% public, 5% net
        investment at 40 h/week; the replacement of worn equipment comes first),
        capacity 1% to 25% above it (a few sectors nearly full); stocks; enterprises
        of unequal size (Pareto) whose workforces add up to the workforce.
    demo_economy() -> Economy                  the bundled file planfactory/data/demo_economy.json
    DEMO_PATH                                  its path
    write_demo(path=DEMO_PATH) -> Path         regenerate it (``councilcast plan demo --write``)
    sparse_technology(n, inputs_per_product=20, seed=0, dense_rows=3) -> (A csr, labour)
        product-level A for benchmarks (10^5 - 10^7 products): a few dense rows (energy,
        transport, ...), the rest local inputs within a product family plus a few from
        elsewhere, column sums between 0.35 and 0.75.
    products_economy(n, inputs_per_product=20, seed=0) -> Economy
        a product-level economy around sparse_technology (sparse A, labour, names
        "p0000001"..., uniform baskets); ``councilcast plan demo --products N --out DIR``.
    today_decision() -> FundamentalDecision    the split used to make today's output

Units: each sector's output is counted in its own unit ("unit"); labour in hours.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from planfactory.decision import DecisionBasis, FundamentalDecision
from planfactory.economy import WEEKS_PER_YEAR, Economy, Enterprise
from planfactory.formats import load, to_dict

__all__ = ["generate", "demo_economy", "write_demo", "sparse_technology", "products_economy", "DEMO_PATH", "SECTOR_NAMES",
           "today_decision", "DEMO_SEED"]

DEMO_PATH = Path(__file__).parent / "data" / "demo_economy.json"
DEMO_SEED = 1957

# (name, kind): kind drives the structure. Order: the dense rows first.
SECTOR_NAMES = [
    ("Energy", "utility"), ("Transport and storage", "utility"), ("Repairs and maintenance", "utility"),
    ("Agriculture", "primary"), ("Food processing", "light"), ("Construction", "capital"),
    ("Machinery", "capital"), ("Steel", "heavy"), ("Chemicals", "heavy"), ("Health care", "public"),
    ("Education", "public"), ("Housing services", "service"), ("Retail distribution", "service"),
    ("Textiles and clothing", "light"), ("Electrical equipment", "capital"), ("Electronics", "capital"),
    ("Vehicles", "capital"), ("Metal products", "capital"), ("Mining", "primary"), ("Wood and paper", "light"),
    ("Water and sanitation", "public"), ("Telecommunications", "service"), ("Restaurants and canteens", "service"),
    ("Pharmaceuticals", "heavy"), ("Public administration", "public"), ("Research", "public"),
    ("Culture and recreation", "service"), ("Plastics and rubber", "heavy"), ("Glass and ceramics", "heavy"),
    ("Childcare", "public"), ("Furniture", "light"), ("Fishing and forestry", "primary"),
    ("Printing and publishing", "light"), ("Footwear", "light"), ("Shipbuilding", "capital"),
    ("Banking of accounts", "service"), ("Postal services", "service"), ("Sports facilities", "public"),
    ("Toys and games", "light"), ("Cement", "heavy"),
]
CONSUMER_WEIGHT = {"Agriculture": 3, "Food processing": 10, "Housing services": 9, "Retail distribution": 6,
                   "Textiles and clothing": 4, "Energy": 4, "Transport and storage": 4, "Restaurants and canteens": 4,
                   "Telecommunications": 2, "Culture and recreation": 3, "Vehicles": 2, "Electronics": 2,
                   "Furniture": 2, "Pharmaceuticals": 1, "Footwear": 1, "Printing and publishing": 1,
                   "Toys and games": 1, "Fishing and forestry": 1, "Postal services": 1, "Water and sanitation": 1}
PUBLIC_WEIGHT = {"Health care": 10, "Education": 9, "Public administration": 4, "Research": 3, "Childcare": 3,
                 "Water and sanitation": 2, "Construction": 3, "Culture and recreation": 1, "Sports facilities": 1,
                 "Transport and storage": 2, "Pharmaceuticals": 1}
CAPITAL_WEIGHT = {"Construction": 0.45, "Machinery": 0.22, "Electrical equipment": 0.10, "Electronics": 0.08,
                  "Vehicles": 0.08, "Metal products": 0.05, "Shipbuilding": 0.02}
TODAY = (40.0, 0.74, 0.21, 0.05)
"""Today's decision: 40 h/week; of the net product (after the replacement of worn equipment,
DEPRECIATION of a capital stock worth CAPITAL_NET_PRODUCT years of it, i.e. about 15%),
74% private, 21% public and 5% net investment. Gross investment is then about a fifth of
the net product, three quarters of it replacement, as in national accounts."""
CAPITAL_NET_PRODUCT = 3.0
"""Capital stock / yearly net product, in value (hours), at today's output: national
accounts put the net stock of fixed assets at about three years of GDP (docs/planfactory.md,
"Demo economy"). The kinds' capital-output ratios set the sectors' relative intensity."""


def today_decision():
    return FundamentalDecision(*TODAY)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    raw = total * weights / weights.sum()
    out = np.floor(raw).astype(np.int64)
    rest = total - int(out.sum())
    if rest > 0:
        out[np.argsort(-(raw - out), kind="stable")[:rest]] += 1
    return out


def generate(n_sectors: int = 30, n_enterprises: int = 200, seed: int = DEMO_SEED, workforce: int = 2_000_000,
             hours_per_week: float = 40.0) -> Economy:
    """A seeded, realistic small economy (see the module docstring)."""
    if n_sectors < 3:
        raise ValueError("n_sectors must be >= 3")
    if n_sectors > 3000:
        raise ValueError("generate() builds dense matrices: use products_economy() beyond 3,000 sectors")
    if n_enterprises < n_sectors:
        raise ValueError("n_enterprises must be >= n_sectors (every sector has an enterprise)")
    rng = np.random.default_rng(seed)
    n = n_sectors
    named = SECTOR_NAMES[:n] + [(f"Sector {k + 1}", "light") for k in range(len(SECTOR_NAMES), n)]
    names = [s for s, _ in named]
    kinds = [k for _, k in named]
    idx = {s: i for i, s in enumerate(names)}

    # current technical coefficients: dense utility rows + a few other inputs per column
    A = np.zeros((n, n))
    material = {"utility": 0.35, "primary": 0.40, "light": 0.62, "heavy": 0.62, "capital": 0.58, "public": 0.32,
                "service": 0.36}
    for j in range(n):
        A[0, j] = rng.uniform(0.03, 0.12)  # energy
        A[1, j] = rng.uniform(0.02, 0.06)  # transport
        A[2, j] = rng.uniform(0.005, 0.03)  # repairs
        A[j, j] += rng.uniform(0.0, 0.06)
        others = rng.choice(np.arange(3, n), size=min(n - 3, int(rng.integers(3, 7))), replace=False)
        A[others, j] += rng.lognormal(mean=-3.0, sigma=0.8, size=len(others))
        target = np.clip(material[kinds[j]] + rng.normal(0, 0.05), 0.30, 0.70)
        A[:, j] *= target / A[:, j].sum()
    A = np.round(A, 6)

    # capital coefficients: equipment from capital-goods sectors per unit of new capacity
    cap_ratio = {"utility": 4.0, "primary": 2.5, "light": 1.6, "heavy": 3.0, "capital": 2.0, "public": 2.2,
                 "service": 1.2}
    B = np.zeros((n, n))
    suppliers = [(idx[s], w) for s, w in CAPITAL_WEIGHT.items() if s in idx]
    for j in range(n):
        kappa = float(np.clip(cap_ratio[kinds[j]] * rng.lognormal(0, 0.2), 0.8, 4.5))
        if names[j] == "Housing services":
            kappa = 4.5
        ws = np.array([w * rng.uniform(0.7, 1.3) for _, w in suppliers])
        B[[i for i, _ in suppliers], j] = kappa * ws / ws.sum()

    labour = np.round(rng.uniform(0.3, 1.3, size=n), 4)
    for j, k in enumerate(kinds):
        if k in ("public", "service"):
            labour[j] = round(labour[j] + 0.3, 4)
    # kappa is a ratio of VALUES (hours of equipment per hour of yearly output), not of
    # units: a unit of equipment costs v_k hours, a unit of energy v_j; rescale each column
    v = np.linalg.solve((np.eye(n) - A).T, labour)
    B *= (B.sum(axis=0) * v) / (v @ B)

    def basket(weights: dict) -> np.ndarray:
        b = np.array([weights.get(s, 0.0) for s in names], dtype=float)
        if b.sum() == 0:
            b = np.ones(n)
        b = np.round(b / b.sum(), 12)
        b[np.argmax(b)] += 1.0 - b.sum()
        return b

    c, g = basket(CONSUMER_WEIGHT), basket(PUBLIC_WEIGHT)
    econ = Economy(sectors=names, A=A, labour=labour, B=B, consumption_basket=c, public_basket=g,
                   workforce=float(workforce), hours_per_week=hours_per_week, name=f"demo economy (seed {seed})",
                   units=["unit"] * n)
    # today's output: today's split at today's hours; capacity above it
    def today_output(x, iterations=30):
        for _ in range(iterations):  # fixed point: investment expands capacity in proportion to today's output
            basis = DecisionBasis.build(econ, expansion=x)
            x = basis.evaluate(FundamentalDecision(hours_per_week, *TODAY[1:])).gross_output[:, 0]
        return x

    x0 = today_output(np.ones(n))
    # the level of B: capital worth CAPITAL_NET_PRODUCT years of today's net product
    # (the investment basket's structure, hence x0, does not depend on B's level)
    B *= CAPITAL_NET_PRODUCT * float(v @ ((np.eye(n) - A) @ x0)) / float(v @ (B @ x0))
    econ.B = B = np.round(B, 6)
    x0 = today_output(x0, 8)  # from the fixed point of the unrounded B: a few steps suffice
    slack = rng.uniform(0.04, 0.25, size=n)
    slack[rng.choice(n, size=max(1, n // 10), replace=False)] = rng.uniform(0.01, 0.03)
    econ.current_output = np.round(x0, 1)
    econ.capacity = np.round(x0 * (1 + slack), 1)
    econ.stocks = np.round(x0 * rng.uniform(0.03, 0.15, size=n), 1)

    # enterprises: at least one per sector, the rest by the sector's persons; Pareto sizes
    persons = labour * x0 / (hours_per_week * WEEKS_PER_YEAR)
    per_sector = 1 + _largest_remainder(n_enterprises - n, persons)
    sector_persons = _largest_remainder(int(workforce), persons)
    ents = []
    for j in range(n):
        sizes = rng.pareto(1.3, size=per_sector[j]) + 0.2
        share = sizes / sizes.sum()
        share = np.round(share, 9)
        share[np.argmax(share)] += 1.0 - share.sum()
        wf = _largest_remainder(int(sector_persons[j]), share)
        for k in range(per_sector[j]):
            ents.append(Enterprise(id=f"{_slug(names[j])}-{k + 1:03d}", name=f"{names[j]} works no. {k + 1}",
                                   sector=j, share=float(share[k]), workforce=int(wf[k])))
    return Economy(sectors=names, A=A, labour=labour, B=B, capacity=econ.capacity, stocks=econ.stocks,
                   consumption_basket=c, public_basket=g, workforce=float(workforce), hours_per_week=hours_per_week,
                   enterprises=ents, name=econ.name, units=["unit"] * n, current_output=econ.current_output)


def demo_economy() -> Economy:
    """The bundled demo economy (planfactory/data/demo_economy.json)."""
    return load(DEMO_PATH)


def write_demo(path=DEMO_PATH, **kw) -> Path:
    """Regenerate the bundled demo file from :func:`generate` (defaults: 30 sectors, 200 enterprises)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    d = to_dict(generate(**kw))
    d["generator"] = {"module": "planfactory.demo.generate", "arguments": {"n_sectors": 30, "n_enterprises": 200,
                                                                           "seed": DEMO_SEED, **kw}}
    text = json.dumps(d, indent=None, separators=(",", ":"))
    path.write_text(text + "\n")
    return path


def sparse_technology(n: int, inputs_per_product: int = 20, seed: int = 0, dense_rows: int = 3,
                      family: int = 1000) -> tuple[sp.csr_matrix, np.ndarray]:
    """Product-level A (CSR, float64, int32 indices) and labour per unit, built vectorized.

    Column j (product j) takes inputs from: the ``dense_rows`` first products (energy,
    transport, repairs: rows with an entry in every column), ~70% of its other inputs
    from its own family of ``family`` neighbouring products, the rest from anywhere.
    Column sums are drawn in [0.35, 0.75], so the spectral radius is below 0.75.
    """
    rng = np.random.default_rng(seed)
    k = max(1, inputs_per_product - dense_rows)
    cols = np.repeat(np.arange(n, dtype=np.int64), k)
    local = rng.random(n * k) < 0.7
    fam_start = (cols // family) * family
    rows = np.where(local, fam_start + rng.integers(0, family, size=n * k), rng.integers(0, n, size=n * k))
    rows = np.minimum(rows, n - 1)
    vals = rng.lognormal(-3.0, 1.0, size=n * k)
    d_rows = np.tile(np.arange(min(dense_rows, n), dtype=np.int64), n)
    d_cols = np.repeat(np.arange(n, dtype=np.int64), min(dense_rows, n))
    d_vals = rng.uniform(0.2, 0.6, size=d_rows.size) * vals.mean() * k / max(dense_rows, 1) * 0.5
    rows = np.concatenate([rows, d_rows])
    cols = np.concatenate([cols, d_cols])
    vals = np.concatenate([vals, d_vals])
    del local, fam_start, d_rows, d_cols, d_vals
    A = sp.csc_matrix((vals, (rows.astype(np.int32), cols.astype(np.int32))), shape=(n, n))
    del rows, cols, vals
    A.sum_duplicates()
    colsum = np.asarray(A.sum(axis=0)).ravel()
    target = rng.uniform(0.35, 0.75, size=n)
    A = A @ sp.diags(target / colsum)
    A = A.tocsr()
    A.indices = A.indices.astype(np.int32)
    A.indptr = A.indptr.astype(np.int64 if A.nnz >= 2**31 else np.int32)
    labour = rng.uniform(0.05, 2.0, size=n)
    return A, labour


def products_economy(n: int, inputs_per_product: int = 20, seed: int = 0) -> Economy:
    """A product-level economy (sparse A from :func:`sparse_technology`) for large-scale trials."""
    A, labour = sparse_technology(n, inputs_per_product, seed=seed)
    width = len(str(n))
    basket = np.full(n, 1.0 / n)
    return Economy(sectors=[f"p{i:0{width}d}" for i in range(n)], A=A, labour=labour, consumption_basket=basket,
                   public_basket=basket.copy(), name=f"product-level economy ({n} products, seed {seed})")
