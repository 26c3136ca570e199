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
- growth_200, growth_1000, growth_2000 (issue 13): a 10-year growth path on
  planfactory.demo.generate(n, n_enterprises=2n): path_for_investment_share at today's
  decision and investment_for_growth at +2% a year; seconds of each (generation not
  counted), the solver used, and the same with OpenBLAS held to one thread
  (OPENBLAS_NUM_THREADS=1 in a fresh process: on this shared 2-core machine OpenBLAS's
  second thread spins while other engineers' tests hold the cores). Bar: under 10 s at
  1,000 sectors. (--quick: 200 and 1,000.) --growth-only prints these figures alone.
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


def _growth_case(n: int, queue) -> None:
    from planfactory import demo
    from planfactory.demo import today_decision
    from planfactory.growth import GrowthAssumptions, investment_for_growth, path_for_investment_share

    t = time.perf_counter()
    e = demo.generate(n, n_enterprises=2 * n)
    gen = time.perf_counter() - t
    a = GrowthAssumptions(years=10)
    t = time.perf_counter()
    p = path_for_investment_share(e, today_decision(), a)
    share = time.perf_counter() - t
    t = time.perf_counter()
    q = investment_for_growth(e, today_decision(), 0.02, a)
    target = time.perf_counter() - t
    queue.put({"n": n, "years": 10, "generate_seconds": round(gen, 2), "share_path_seconds": round(share, 3),
               "target_path_seconds": round(target, 3), "solver": p.solver, "status": p.status,
               "target_status": q.status, "feasible": bool(p.feasible.all() and q.feasible.all()),
               "capital_goods_sectors": int((abs(e.B).sum(axis=1) > 0).sum()),
               "load_average": [round(x, 2) for x in os.getloadavg()]})


def _child(target, args, env=None, timeout=600):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        p = ctx.Process(target=target, args=(*args, q))
        p.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        return q.get(timeout=timeout)
    finally:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()


def bench_growth(n: int) -> dict:
    """One 10-year path at n sectors, in fresh processes: OpenBLAS as configured, then one thread."""
    r = _child(_growth_case, (n,))
    one = _child(_growth_case, (n,), env={"OPENBLAS_NUM_THREADS": "1"})
    r["one_blas_thread"] = {k: one[k] for k in ("share_path_seconds", "target_path_seconds", "load_average")}
    if n == 1000:
        r["bar_seconds"] = 10.0
        r["meets_bar"] = max(r["share_path_seconds"], r["target_path_seconds"]) < 10.0
    return r


def growth_figures(quick: bool) -> dict:
    out = {f"growth_{n}": bench_growth(n) for n in ((200, 1000) if quick else (200, 1000, 2000))}
    g = [out[k] for k in sorted(out, key=lambda k: int(k.split("_")[1]))]
    if len(g) >= 2:  # the cost's growth with n, from the two largest sizes (one BLAS thread: less noise)
        a, b = g[-2], g[-1]
        ratio = b["one_blas_thread"]["share_path_seconds"] / max(a["one_blas_thread"]["share_path_seconds"], 1e-9)
        out["growth_exponent"] = round(float(np.log(ratio) / np.log(b["n"] / a["n"])), 2)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (about 20 s)")
    ap.add_argument("--growth-only", action="store_true", help="only the growth-path figures (issue 13)")
    args = ap.parse_args(argv)
    if args.growth_only:
        out = {"bench": "planfactory", "quick": args.quick, "cores": os.cpu_count(), **growth_figures(args.quick)}
        print(json.dumps(out, separators=(",", ":")))
        return out
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
    out.update(growth_figures(args.quick))
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
