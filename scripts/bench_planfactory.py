#!/usr/bin/env python
"""Benchmark of the plan factory's solver (issue 3). Prints ONE JSON line.

    python scripts/bench_planfactory.py [--quick]

Figures (baselines measured in the same run, on the same machine, at the same time):
- dense_1000: factorize I - A (n = 1,000) plus 1,000 demands in one call; demands per second.
- dense_5000: our LU solve for 100 demands against pymrio's way (numpy.linalg.inv, then
  multiply): ratio = inverse_seconds / our_seconds (n = 2,000 with --quick).
- sparse_100000, sparse_1000000: product-level economies (about 20 inputs per product,
  3 dense rows for energy, transport, repairs; planfactory.demo.sparse_technology):
  labour values plus 32 demands; seconds, matrix products used, peak resident memory of a
  fresh process, and the memory traffic achieved against a STREAM-triad-like baseline.
  (--quick: 10^5 only.)
- machine: cores, memory, the triad bandwidth and dgemm GFLOP/s baselines.
At the end, if scripts/bench_plan_variants.py exposes run(quick) -> dict, its figures are
merged under "variants".

Every loop is bounded; each large case runs in its own child process so that its peak
memory (ru_maxrss) is its own. The machine has 2 cores and is shared with other
engineers' tests while this runs: figures are noisy; ratios are the meaningful part.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _dense_A(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    A = rng.random((n, n)) ** 4
    A *= rng.uniform(0.35, 0.75, size=n) / A.sum(axis=0)
    return A


def triad_bandwidth(mb: int = 256, reps: int = 5) -> float:
    """GB/s of a[:] = b + s * c over arrays of ``mb`` MB (3 arrays touched: 2 read, 1 written)."""
    m = mb * (1 << 20) // 8
    b, c = np.ones(m), np.ones(m)
    a = np.empty(m)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        np.multiply(c, 3.0, out=a)
        np.add(a, b, out=a)
        best = min(best, time.perf_counter() - t)
    # multiply reads c, writes a; add reads a and b, writes a: 5 passes of m doubles
    return 5 * m * 8 / best / 1e9


def dgemm_gflops(n: int = 1500) -> float:
    a = np.random.default_rng(0).random((n, n))
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def bench_dense_1000(n: int = 1000, k: int = 1000) -> dict:
    from planfactory.leontief import LeontiefSolver

    A = _dense_A(n, 1)
    F = np.random.default_rng(2).random((n, k))
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        sol = LeontiefSolver(A).solve(F)
        best = min(best, time.perf_counter() - t)
    return {"n": n, "demands": k, "seconds": round(best, 4), "demands_per_second": round(k / best, 1),
            "residual": sol.residual, "bar_seconds": 1.0, "meets_bar": best < 1.0}


def bench_dense_5000(n: int, k: int = 100, reps: int = 3) -> dict:
    """Ours against inverse-then-multiply, interleaved, best of ``reps`` each (load on a shared machine)."""
    from planfactory.leontief import LeontiefSolver

    A = _dense_A(n, 3)
    F = np.random.default_rng(4).random((n, k))
    ours = base = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        sol = LeontiefSolver(A).solve(F)
        ours = min(ours, time.perf_counter() - t)
        t = time.perf_counter()
        L = np.linalg.inv(np.eye(n) - A)  # the baseline: what pymrio does (calc_L), then L @ F
        Xb = L @ F
        base = min(base, time.perf_counter() - t)
        del L
    agree = float(np.max(np.abs(Xb - sol.gross_output)) / np.max(np.abs(Xb)))
    lu_flops = 2 * n**3 / 3 + 2 * n * n * k
    return {"n": n, "demands": k, "ours_seconds": round(ours, 3), "inverse_seconds": round(base, 3),
            "ratio_inverse_over_ours": round(base / ours, 2), "residual": sol.residual, "relative_difference": agree,
            "our_gflops": round(lu_flops / ours / 1e9, 2), "bar_ratio": 3.0, "meets_bar": base / ours >= 3.0}


def _sparse_case(n: int, k: int, queue) -> None:
    from planfactory.demo import sparse_technology
    from planfactory.leontief import LeontiefSolver

    t = time.perf_counter()
    A, labour = sparse_technology(n, 20, seed=11)
    gen = time.perf_counter() - t
    F = np.random.default_rng(5).random((n, k))
    t = time.perf_counter()
    solver = LeontiefSolver(A)
    sol_v = solver.solve(labour, transposed=True)  # labour values, with their iteration count
    v, iters_v = sol_v.gross_output, sol_v.iterations
    t_v = time.perf_counter() - t
    t2 = time.perf_counter()
    sol = solver.solve(F)
    t_f = time.perf_counter() - t2
    total = time.perf_counter() - t
    res_v = solver.residual(v, labour, transposed=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    a_bytes = A.data.nbytes + A.indices.nbytes + A.indptr.nbytes
    # one product (I - A) X with X of k columns: A read once, X read twice (A X and X - .), result written
    per_block = a_bytes + 3 * n * k * 8
    per_vec = a_bytes + 3 * n * 8
    traffic = sol.iterations * per_block + iters_v * per_vec
    queue.put({"n": n, "nnz": int(A.nnz), "demands": k, "method": solver.method,
               "generate_seconds": round(gen, 2), "labour_values_seconds": round(t_v, 2),
               "demands_seconds": round(t_f, 2), "seconds": round(total, 2),
               "products_for_demands": sol.iterations, "products_for_values": iters_v,
               "residual_demands": sol.residual, "residual_values": res_v,
               "peak_rss_gb": round(peak / 1e9, 3), "matrix_gb": round(a_bytes / 1e9, 3),
               "min_bytes_moved_gb": round(traffic / 1e9, 2), "achieved_gb_per_s": round(traffic / 1e9 / total, 2),
               "seconds_per_block_product": round(t_f / max(sol.iterations, 1), 3),
               "load_average": [round(x, 2) for x in os.getloadavg()]})


def bench_sparse(n: int, k: int = 32) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_sparse_case, args=(n, k, q))
    p.start()
    try:
        out = q.get(timeout=600)
    finally:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (about 20 s)")
    args = ap.parse_args(argv)
    import psutil

    t0 = time.perf_counter()
    bw = triad_bandwidth(128 if args.quick else 256)
    gf = dgemm_gflops(1000 if args.quick else 1500)
    out: dict = {"bench": "planfactory", "quick": args.quick,
                 "machine": {"cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
                             "triad_gb_per_s": round(bw, 2), "dgemm_gflops": round(gf, 1),
                             "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                             "note": "2 cores shared with other engineers' tests during the run"}}
    out["dense_1000"] = bench_dense_1000()
    d5 = bench_dense_5000(2000 if args.quick else 5000)
    if args.quick:  # the bar is for n = 5,000; at n = 2,000 the ratio is only indicative
        d5.pop("meets_bar")
        d5["bar_applies_at_n"] = 5000
    out["dense_5000" if not args.quick else "dense_2000"] = d5
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    for n in sizes:
        r = bench_sparse(n)
        r["bandwidth_fraction"] = round(r["achieved_gb_per_s"] / bw, 3)
        if n == 1_000_000:
            r["bar"] = {"seconds": 60, "peak_gb": 8}
            r["meets_bar"] = r["seconds"] < 60 and r["peak_rss_gb"] < 8
        out[f"sparse_{n}"] = r
    variants = ROOT / "scripts" / "bench_plan_variants.py"
    if variants.exists():
        try:
            spec = importlib.util.spec_from_file_location("bench_plan_variants", variants)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            if hasattr(mod, "run"):
                out["variants"] = mod.run(quick=args.quick)
        except Exception as exc:  # their bench failing must not hide ours
            out["variants"] = {"error": f"{type(exc).__name__}: {exc}"}
    out["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out["total_seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, separators=(",", ":")))
    return out


if __name__ == "__main__":
    main()
