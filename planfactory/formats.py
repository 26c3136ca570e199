"""Reading, writing and validating economies (docs/planfactory.md, "Formats").

Public API::

    load(source) -> Economy
        source: a path to a JSON file, a path to a sparse folder (see below), or an
        already-parsed dict in the JSON format. Raises PlanError(field, reason).
    to_dict(economy) -> dict
        The JSON format (JSON-able; sparse A/B written as triplets). ``load(to_dict(e))``
        gives back the same economy.
    save(economy, path) -> Path
        ``*.json`` writes the JSON format; any other path writes a sparse folder.
    validate_economy(economy) -> None
        Shapes, finite and non-negative entries, baskets summing to 1, enterprise shares,
        and productiveness (spectral radius of A < 1; otherwise PlanError
        ("technical_coefficients", "not productive: spectral radius ... >= 1")).
        Lives in planfactory.validation (re-exported here), spectral_radius in
        planfactory.spectral: economy and formats import them, they import neither.

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
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

from planfactory.economy import Economy, Enterprise
from planfactory.errors import PlanError
from planfactory.spectral import spectral_radius
from planfactory.validation import VECTOR_FIELDS, validate_economy

__all__ = ["load", "to_dict", "save", "validate_economy", "spectral_radius", "FORMAT_SPARSE"]

FORMAT_SPARSE = "councilcast-sparse-1"


# --------------------------------------------------------------------------- JSON
def _matrix(value, field: str, n: int):
    if isinstance(value, dict):
        try:
            shape = tuple(int(s) for s in value["shape"])
            rows = np.asarray(value["rows"], dtype=np.int64)
            cols = np.asarray(value["cols"], dtype=np.int64)
            vals = np.asarray(value["values"], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(field, f"sparse form needs shape, rows, cols, values: {exc}") from None
        if len(shape) != 2 or shape != (n, n):
            raise PlanError(field, f"shape {shape} does not match {n} sectors (expected {n} x {n})")
        if not (rows.shape == cols.shape == vals.shape):
            raise PlanError(field, "rows, cols and values must have the same length")
        if rows.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= n or cols.max() >= n):
            raise PlanError(field, "an index is out of range")
        return sp.csr_matrix((vals, (rows, cols)), shape=shape)
    try:
        M = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise PlanError(field, "must be a list of rows of numbers") from None
    if M.ndim != 2:
        if M.size == 0 and n == 0:
            return M.reshape(0, 0)
        raise PlanError(field, f"must be a list of {n} rows of {n} numbers")
    return M


def _vector(value, field: str, sectors: list[str]):
    n = len(sectors)
    if isinstance(value, dict):
        index = {s: i for i, s in enumerate(sectors)}
        v = np.zeros(n)
        for k, x in value.items():
            if k not in index:
                raise PlanError(field, f"no sector named {k!r}")
            try:
                v[index[k]] = float(x)
            except (TypeError, ValueError):
                raise PlanError(field, f"value for {k!r} is not a number") from None
        return v
    try:
        v = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise PlanError(field, "must be a list of numbers in sector order or an object by sector name") from None
    if v.ndim != 1:
        raise PlanError(field, "must be a list of numbers in sector order or an object by sector name")
    return v


def _number(value, field: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(field, "must be a number")
    return float(value)


def _enterprises(items, sectors: list[str]) -> list[Enterprise]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise PlanError("enterprises", "must be a list of objects")
    index = {s: i for i, s in enumerate(sectors)}
    out = []
    for k, it in enumerate(items):
        f = f"enterprises[{k}]"
        if not isinstance(it, dict):
            raise PlanError(f, "must be an object with id, name, sector, share, workforce")
        sec = it.get("sector")
        if isinstance(sec, str):
            if sec not in index:
                # a CSV gives indices as text
                if sec.strip().isdigit():
                    sec = int(sec)
                else:
                    raise PlanError(f + ".sector", f"no sector named {sec!r}")
            else:
                sec = index[sec]
        if isinstance(sec, bool) or not isinstance(sec, (int, np.integer)):
            raise PlanError(f + ".sector", "must be a sector name or index")
        try:
            out.append(Enterprise(id=str(it["id"]), name=str(it.get("name", it["id"])), sector=int(sec),
                                  share=float(it.get("share", 1.0)), workforce=int(round(float(it.get("workforce", 0))))))
        except KeyError as exc:
            raise PlanError(f, f"missing {exc.args[0]}") from None
        except (TypeError, ValueError) as exc:
            raise PlanError(f, f"bad value: {exc}") from None
    return out


def from_dict(d: dict) -> Economy:
    """An :class:`Economy` from the JSON format (already parsed)."""
    if not isinstance(d, dict):
        raise PlanError("economy", "must be a JSON object")
    for key in ("sectors", "technical_coefficients", "labour"):
        if key not in d:
            raise PlanError(key, "is required")
    sectors = d["sectors"]
    if not isinstance(sectors, list) or not all(isinstance(s, str) for s in sectors):
        raise PlanError("sectors", "must be a list of names")
    n = len(sectors)
    kw = {}
    for name in VECTOR_FIELDS:
        if d.get(name) is not None:
            kw[name] = _vector(d[name], name, sectors)
    units = d.get("units")
    if units is not None and (not isinstance(units, list) or not all(isinstance(u, str) for u in units)):
        raise PlanError("units", "must be a list of strings")
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
        raise PlanError(field, f"cannot read {stem}: {exc}") from None
    return None


def _load_folder(folder: Path) -> Economy:
    meta_path = folder / "economy.json"
    meta = {}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as exc:
            raise PlanError("economy.json", f"not valid JSON: {exc}") from None
    sectors_path = folder / "sectors.csv"
    if not sectors_path.exists():
        raise PlanError("sectors", f"{sectors_path} is missing")
    with open(sectors_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "name" not in rows[0] or "labour" not in rows[0]:
        raise PlanError("sectors", "sectors.csv needs a header with at least name,labour")
    sectors = [r["name"] for r in rows]

    def col(key, field):
        try:
            return np.array([float(r[key]) for r in rows])
        except (TypeError, ValueError) as exc:
            raise PlanError(field, f"sectors.csv column {key}: {exc}") from None

    kw = {}
    for key, field in SECTOR_COLUMNS.items():
        if key in rows[0] and all(r.get(key) not in (None, "") for r in rows):
            kw[field] = col(key, field)
    units = [r["unit"] for r in rows] if "unit" in rows[0] else None
    A = _read_matrix(folder, "A", "technical_coefficients")
    if A is None:
        raise PlanError("technical_coefficients", "A.npz or A.mtx is missing")
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
        raise PlanError("economy", f"no such file or folder: {path}")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlanError("economy", f"{path} is not valid JSON: {exc}") from None
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
