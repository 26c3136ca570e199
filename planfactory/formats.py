"""Reading, writing and validating economies (docs/planfactory.md, "Formats").

Public API::

    load(source) -> Economy
        source: a path to a JSON file, a path to a sparse folder (see below), or an
        already-parsed dict in the JSON format. Raises EconomyError(field, reason).
    to_dict(economy) -> dict
        The JSON format (JSON-able; sparse A/B written as triplets). ``load(to_dict(e))``
        gives back the same economy.
    save(economy, path) -> Path
        ``*.json`` writes the JSON format; any other path writes a sparse folder.
    validate_economy(economy) -> None
        Shapes, finite and non-negative entries, baskets summing to 1, enterprise shares,
        and productiveness (spectral radius of A < 1; otherwise EconomyError
        ("technical_coefficients", "not productive: spectral radius ... >= 1")).

The JSON format (small economies). Minimal form::

    {"sectors": ["corn", "iron"], "technical_coefficients": [[0.2, 0.3], [0.1, 0.4]],
     "labour": [1.0, 2.0]}

Optional fields: ``name``, ``units`` (list), ``capital_coefficients`` (n x n),
``capacity``, ``stocks``, ``current_output``, ``consumption_basket``, ``public_basket``
(lists in sector order, or objects keyed by sector name; baskets sum to 1),
``workforce`` (persons), ``hours_per_week``, ``enterprises`` (list of
``{"id", "name", "sector" (name or index), "share", "workforce"}``). A matrix may also
be given sparse as ``{"shape": [n, n], "rows": [...], "cols": [...], "values": [...]}``.

The sparse folder (large economies)::

    economy.json      name, workforce, hours_per_week, "format": "councilcast-sparse-1"
    A.npz             technical coefficients, scipy.sparse.save_npz (or A.mtx, MatrixMarket)
    B.npz             capital coefficients (optional; or B.mtx)
    sectors.csv       header: name,labour[,unit,capacity,stocks,current_output,consumption,public]
    enterprises.csv   header: id,name,sector,share,workforce (optional; sector = name or index)
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

from planfactory.economy import Economy, EconomyError, Enterprise, spectral_radius_bounds

__all__ = ["load", "to_dict", "save", "validate_economy", "spectral_radius", "FORMAT_SPARSE"]

FORMAT_SPARSE = "councilcast-sparse-1"
VECTOR_FIELDS = ("capacity", "stocks", "current_output", "consumption_basket", "public_basket")
DENSE_EIG_LIMIT = 600


# --------------------------------------------------------------------------- validation
def spectral_radius(A, tight: bool = False) -> tuple[float, float]:
    """(lower, upper) bounds on rho(A); exact for n <= 600; ``tight`` narrows them for large A."""
    n = A.shape[0]
    if n == 0:
        return 0.0, 0.0
    if n <= DENSE_EIG_LIMIT:
        M = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=float)
        r = float(np.max(np.abs(np.linalg.eigvals(M))))
        return r, r
    return spectral_radius_bounds(A, tight=tight, iterations=1000 if tight else 300, tol=1e-6 if tight else 1e-9)


def _check_matrix(M, field: str, n: int):
    if M.ndim != 2 or M.shape != (n, n):
        raise EconomyError(field, f"shape {tuple(M.shape)} does not match {n} sectors (expected {n} x {n})")
    data = M.data if sp.issparse(M) else M
    if not np.all(np.isfinite(data)):
        raise EconomyError(field, "contains a value that is not a finite number")
    if data.size and float(np.min(data)) < 0:
        if sp.issparse(M):
            k = int(np.argmin(M.data))
            coo = M.tocoo()
            k = int(np.argmin(coo.data))
            i, j = int(coo.row[k]), int(coo.col[k])
        else:
            i, j = (int(t) for t in np.unravel_index(int(np.argmin(M)), M.shape))
        raise EconomyError(field, f"negative entry at row {i}, column {j}: coefficients must be >= 0")


def _check_vector(v, field: str, n: int, *, basket: bool = False):
    if v.ndim != 1 or v.shape[0] != n:
        raise EconomyError(field, f"length {v.shape[0] if v.ndim else 0} does not match {n} sectors")
    if not np.all(np.isfinite(v)):
        raise EconomyError(field, "contains a value that is not a finite number")
    if v.size and float(np.min(v)) < 0:
        raise EconomyError(field, f"negative entry at position {int(np.argmin(v))}: must be >= 0")
    if basket and abs(float(v.sum()) - 1.0) > 1e-6:
        raise EconomyError(field, f"a basket's structure must sum to 1, got {float(v.sum()):.9g}")


def validate_economy(e: Economy) -> None:
    """Raise :class:`EconomyError` naming the first problem found."""
    n = len(e.sectors)
    if n == 0:
        raise EconomyError("sectors", "at least one sector is needed")
    if len(set(e.sectors)) != n:
        seen = set()
        dup = next(s for s in e.sectors if s in seen or seen.add(s))
        raise EconomyError("sectors", f"duplicate sector name {dup!r}")
    _check_matrix(e.A, "technical_coefficients", n)
    _check_vector(e.labour, "labour", n)
    if e.B is not None:
        _check_matrix(e.B, "capital_coefficients", n)
    for name in VECTOR_FIELDS:
        v = getattr(e, name)
        if v is not None:
            _check_vector(v, name, n, basket=name.endswith("basket"))
    if e.units is not None and len(e.units) != n:
        raise EconomyError("units", f"length {len(e.units)} does not match {n} sectors")
    for name in ("workforce", "hours_per_week"):
        v = getattr(e, name)
        if v is not None and (not math.isfinite(v) or v < 0):
            raise EconomyError(name, "must be a finite number >= 0")
    if e.hours_per_week is not None and e.hours_per_week > 168:
        raise EconomyError("hours_per_week", "a week has 168 hours")
    ids = set()
    shares = np.zeros(n)
    for k, ent in enumerate(e.enterprises):
        f = f"enterprises[{k}]"
        if ent.id in ids:
            raise EconomyError(f + ".id", f"duplicate enterprise id {ent.id!r}")
        ids.add(ent.id)
        if not 0 <= ent.sector < n:
            raise EconomyError(f + ".sector", f"sector index {ent.sector} out of range")
        if not (math.isfinite(ent.share) and 0 <= ent.share <= 1):
            raise EconomyError(f + ".share", "share of the sector's capacity must be in [0, 1]")
        if ent.workforce < 0:
            raise EconomyError(f + ".workforce", "must be >= 0")
        shares[ent.sector] += ent.share
    if e.enterprises:
        covered = np.array(sorted({ent.sector for ent in e.enterprises}))
        bad = covered[np.abs(shares[covered] - 1.0) > 1e-6]
        if bad.size:
            j = int(bad[0])
            raise EconomyError("enterprises", f"shares of sector {e.sectors[j]!r} sum to {shares[j]:.9g}, not 1")
    lo, hi = spectral_radius(e.A)
    if hi >= 1.0 and lo >= 1.0 - 1e-12:
        raise EconomyError("technical_coefficients",
                           f"not productive: spectral radius of A is {lo:.6g} >= 1, so no non-negative "
                           "gross output can meet every final demand")
    if hi >= 1.0:
        # undecided by the bounds (slow convergence): settle with ARPACK
        import scipy.sparse.linalg as spla

        r = float(abs(spla.eigs(sp.csr_matrix(e.A), k=1, which="LM", return_eigenvectors=False,
                                tol=1e-10)[0]))
        if r >= 1.0 - 1e-12:
            raise EconomyError("technical_coefficients",
                               f"not productive: spectral radius of A is {r:.6g} >= 1, so no non-negative "
                               "gross output can meet every final demand")


# --------------------------------------------------------------------------- JSON
def _matrix(value, field: str, n: int):
    if isinstance(value, dict):
        try:
            shape = tuple(int(s) for s in value["shape"])
            rows = np.asarray(value["rows"], dtype=np.int64)
            cols = np.asarray(value["cols"], dtype=np.int64)
            vals = np.asarray(value["values"], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise EconomyError(field, f"sparse form needs shape, rows, cols, values: {exc}") from None
        if len(shape) != 2 or shape != (n, n):
            raise EconomyError(field, f"shape {shape} does not match {n} sectors (expected {n} x {n})")
        if not (rows.shape == cols.shape == vals.shape):
            raise EconomyError(field, "rows, cols and values must have the same length")
        if rows.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= n or cols.max() >= n):
            raise EconomyError(field, "an index is out of range")
        return sp.csr_matrix((vals, (rows, cols)), shape=shape)
    try:
        M = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise EconomyError(field, "must be a list of rows of numbers") from None
    if M.ndim != 2:
        if M.size == 0 and n == 0:
            return M.reshape(0, 0)
        raise EconomyError(field, f"must be a list of {n} rows of {n} numbers")
    return M


def _vector(value, field: str, sectors: list[str]):
    n = len(sectors)
    if isinstance(value, dict):
        index = {s: i for i, s in enumerate(sectors)}
        v = np.zeros(n)
        for k, x in value.items():
            if k not in index:
                raise EconomyError(field, f"no sector named {k!r}")
            try:
                v[index[k]] = float(x)
            except (TypeError, ValueError):
                raise EconomyError(field, f"value for {k!r} is not a number") from None
        return v
    try:
        v = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise EconomyError(field, "must be a list of numbers in sector order or an object by sector name") from None
    if v.ndim != 1:
        raise EconomyError(field, "must be a list of numbers in sector order or an object by sector name")
    return v


def _number(value, field: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EconomyError(field, "must be a number")
    return float(value)


def _enterprises(items, sectors: list[str]) -> list[Enterprise]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise EconomyError("enterprises", "must be a list of objects")
    index = {s: i for i, s in enumerate(sectors)}
    out = []
    for k, it in enumerate(items):
        f = f"enterprises[{k}]"
        if not isinstance(it, dict):
            raise EconomyError(f, "must be an object with id, name, sector, share, workforce")
        sec = it.get("sector")
        if isinstance(sec, str):
            if sec not in index:
                # a CSV gives indices as text
                if sec.strip().isdigit():
                    sec = int(sec)
                else:
                    raise EconomyError(f + ".sector", f"no sector named {sec!r}")
            else:
                sec = index[sec]
        if isinstance(sec, bool) or not isinstance(sec, (int, np.integer)):
            raise EconomyError(f + ".sector", "must be a sector name or index")
        try:
            out.append(Enterprise(id=str(it["id"]), name=str(it.get("name", it["id"])), sector=int(sec),
                                  share=float(it.get("share", 1.0)), workforce=int(round(float(it.get("workforce", 0))))))
        except KeyError as exc:
            raise EconomyError(f, f"missing {exc.args[0]}") from None
        except (TypeError, ValueError) as exc:
            raise EconomyError(f, f"bad value: {exc}") from None
    return out


def from_dict(d: dict) -> Economy:
    """An :class:`Economy` from the JSON format (already parsed)."""
    if not isinstance(d, dict):
        raise EconomyError("economy", "must be a JSON object")
    for key in ("sectors", "technical_coefficients", "labour"):
        if key not in d:
            raise EconomyError(key, "is required")
    sectors = d["sectors"]
    if not isinstance(sectors, list) or not all(isinstance(s, str) for s in sectors):
        raise EconomyError("sectors", "must be a list of names")
    n = len(sectors)
    kw = {}
    for name in VECTOR_FIELDS:
        if d.get(name) is not None:
            kw[name] = _vector(d[name], name, sectors)
    units = d.get("units")
    if units is not None and (not isinstance(units, list) or not all(isinstance(u, str) for u in units)):
        raise EconomyError("units", "must be a list of strings")
    return Economy(
        sectors=list(sectors),
        A=_matrix(d["technical_coefficients"], "technical_coefficients", n),
        labour=_vector(d["labour"], "labour", sectors),
        B=_matrix(d["capital_coefficients"], "capital_coefficients", n) if d.get("capital_coefficients") is not None else None,
        workforce=_number(d.get("workforce"), "workforce"),
        hours_per_week=_number(d.get("hours_per_week"), "hours_per_week"),
        enterprises=_enterprises(d.get("enterprises"), sectors),
        name=str(d.get("name", "economy")),
        units=units,
        **kw,
    )


def _matrix_out(M):
    if sp.issparse(M):
        c = M.tocoo()
        return {"shape": list(c.shape), "rows": c.row.tolist(), "cols": c.col.tolist(), "values": c.data.tolist()}
    return np.asarray(M).tolist()


def to_dict(e: Economy) -> dict:
    """The JSON format of ``e`` (JSON-able)."""
    d: dict = {"name": e.name, "sectors": list(e.sectors)}
    if e.units is not None:
        d["units"] = list(e.units)
    d["technical_coefficients"] = _matrix_out(e.A)
    d["labour"] = np.asarray(e.labour).tolist()
    if e.B is not None:
        d["capital_coefficients"] = _matrix_out(e.B)
    for name in VECTOR_FIELDS:
        v = getattr(e, name)
        if v is not None:
            d[name] = np.asarray(v).tolist()
    if e.workforce is not None:
        d["workforce"] = e.workforce
    if e.hours_per_week is not None:
        d["hours_per_week"] = e.hours_per_week
    if e.enterprises:
        d["enterprises"] = [{"id": x.id, "name": x.name, "sector": e.sectors[x.sector], "share": x.share,
                             "workforce": x.workforce} for x in e.enterprises]
    return d


# --------------------------------------------------------------------------- sparse folder
SECTOR_COLUMNS = {"capacity": "capacity", "stocks": "stocks", "current_output": "current_output",
                  "consumption": "consumption_basket", "public": "public_basket"}


def _read_matrix(folder: Path, stem: str, field: str):
    npz, mtx = folder / f"{stem}.npz", folder / f"{stem}.mtx"
    try:
        if npz.exists():
            return sp.load_npz(npz).tocsr()
        if mtx.exists():
            return sp.csr_matrix(scipy.io.mmread(str(mtx)))
    except (OSError, ValueError) as exc:
        raise EconomyError(field, f"cannot read {stem}: {exc}") from None
    return None


def _load_folder(folder: Path) -> Economy:
    meta_path = folder / "economy.json"
    meta = {}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as exc:
            raise EconomyError("economy.json", f"not valid JSON: {exc}") from None
    sectors_path = folder / "sectors.csv"
    if not sectors_path.exists():
        raise EconomyError("sectors", f"{sectors_path} is missing")
    with open(sectors_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "name" not in rows[0] or "labour" not in rows[0]:
        raise EconomyError("sectors", "sectors.csv needs a header with at least name,labour")
    sectors = [r["name"] for r in rows]

    def col(key, field):
        try:
            return np.array([float(r[key]) for r in rows])
        except (TypeError, ValueError) as exc:
            raise EconomyError(field, f"sectors.csv column {key}: {exc}") from None

    kw = {}
    for key, field in SECTOR_COLUMNS.items():
        if key in rows[0] and all(r.get(key) not in (None, "") for r in rows):
            kw[field] = col(key, field)
    units = [r["unit"] for r in rows] if "unit" in rows[0] else None
    A = _read_matrix(folder, "A", "technical_coefficients")
    if A is None:
        raise EconomyError("technical_coefficients", "A.npz or A.mtx is missing")
    ents = []
    ep = folder / "enterprises.csv"
    if ep.exists():
        with open(ep, newline="") as fh:
            ents = _enterprises(list(csv.DictReader(fh)), sectors)
    return Economy(sectors=sectors, A=A, labour=col("labour", "labour"), B=_read_matrix(folder, "B", "capital_coefficients"),
                   workforce=_number(meta.get("workforce"), "workforce"),
                   hours_per_week=_number(meta.get("hours_per_week"), "hours_per_week"),
                   enterprises=ents, name=str(meta.get("name", folder.name)), units=units, **kw)


def load(source) -> Economy:
    """Load and validate an economy from a JSON file, a sparse folder or a parsed dict."""
    if isinstance(source, Economy):
        return source
    if isinstance(source, dict):
        return from_dict(source)
    path = Path(source)
    if path.is_dir():
        return _load_folder(path)
    if not path.exists():
        raise EconomyError("economy", f"no such file or folder: {path}")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise EconomyError("economy", f"{path} is not valid JSON: {exc}") from None
    return from_dict(data)


def save(e: Economy, path) -> Path:
    """Write ``e``: a ``.json`` path gets the JSON format, anything else a sparse folder."""
    path = Path(path)
    if path.suffix == ".json":
        path.write_text(json.dumps(to_dict(e), separators=(",", ":")))
        return path
    path.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT_SPARSE, "name": e.name, "workforce": e.workforce, "hours_per_week": e.hours_per_week}
    (path / "economy.json").write_text(json.dumps(meta, indent=1))
    sp.save_npz(path / "A.npz", sp.csr_matrix(e.A))
    if e.B is not None:
        sp.save_npz(path / "B.npz", sp.csr_matrix(e.B))
    cols = ["name", "labour"] + (["unit"] if e.units else [])
    extra = [(k, getattr(e, f)) for k, f in SECTOR_COLUMNS.items() if getattr(e, f) is not None]
    cols += [k for k, _ in extra]
    with open(path / "sectors.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for j, name in enumerate(e.sectors):
            row = [name, repr(float(e.labour[j]))] + ([e.units[j]] if e.units else [])
            row += [repr(float(v[j])) for _, v in extra]
            w.writerow(row)
    if e.enterprises:
        with open(path / "enterprises.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "name", "sector", "share", "workforce"])
            for x in e.enterprises:
                w.writerow([x.id, x.name, x.sector, repr(x.share), x.workforce])
    return path
