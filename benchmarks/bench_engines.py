"""Per-step cost of the `sgd` and `gram` engines against their floors (docs/science.md §7).

Run:  python benchmarks/bench_engines.py [--quick] [--out FILE]

Prints the report; with --out also writes it to FILE (the committed run is
benchmarks/results/bench_engines.txt, written with --out benchmarks/results/bench_engines.txt).
Reports, in one run on this machine:
  * sgd ns/step and the ns/step of drawing the same d Gaussians alone (the floor), for
    d in {1e3, 1e4, 1e5}, p in {1, 10};
  * gram ns/step for d in {1e3, 1e6, 1e8}, p in {1, 2, 8, 32}, its d = 1e8 / d = 1e3 ratio,
    and the gram/sgd speedup per cell (sgd measured where it fits in memory);
  * wall time of 200 seeds of d = 1e6, p = 1, gamma = 0.1 to t = 6 with gram on all cores.
Timings are the best of a few repeats after a warm-up call (compilation excluded).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numba
import numpy as np

import mediocrity
from mediocrity.engines.gram import gram_run
from mediocrity.engines.sgd import embed, sgd_run
from mediocrity.initial import random_gram


SGD_MEMORY_BYTES = 4e9  # sgd holds (p + 2) d doubles; bigger cells are not timed


@numba.njit(cache=True, nogil=True)
def draw_gaussians(rng, x, nsteps):
    """The sgd floor: nsteps times, fill x (d,) with standard normals."""
    acc = 0.0
    for _ in range(nsteps):
        for i in range(x.shape[0]):
            x[i] = rng.standard_normal()
        acc += x[0]
    return acc


def best_of(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def kernel_ns(engine: str, d: int, p: int, nsteps: int, repeats: int) -> float:
    """ns per step of one engine's kernel, from a random start, no saves in between."""
    rng = np.random.default_rng(1)
    g0 = random_gram(d, p, rng)
    steps = np.array([0, nsteps], dtype=np.int64)
    outs = (np.empty(2), np.empty((2, p)), np.empty((1, p + 1, p + 1)))

    def once(n=steps):
        if engine == "gram":
            gram_run(g0.copy(), rng, d, 0.1, 1e-4, n, 0.01, -1, *outs)
        else:
            w, wstar = embed(g0, d)
            sgd_run(w, wstar, rng, 0.1, 1e-4, n, 0.01, -1, *outs)

    once(np.array([0, 2], dtype=np.int64))  # compile / load cache
    return best_of(once, repeats) / nsteps * 1e9


def floor_ns(d: int, nsteps: int, repeats: int) -> float:
    rng = np.random.default_rng(2)
    x = np.empty(d)
    draw_gaussians(rng, x, 1)
    return best_of(lambda: draw_gaussians(rng, x, nsteps), repeats) / nsteps * 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and seeds (smoke run)")
    ap.add_argument("--out", default=None, help="also write the report to this file")
    args = ap.parse_args(argv)
    scale = 0.05 if args.quick else 1.0
    repeats = 2 if args.quick else 3
    lines: list[str] = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say(f"# bench_engines  mediocrity {mediocrity.__version__}  numba {numba.__version__}  "
        f"numpy {np.__version__}  python {platform.python_version()}")
    say(f"# machine: {platform.machine()} {platform.processor() or ''} cores={os.cpu_count()}  "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
    say()
    say("## sgd: ns/step vs the ns/step of drawing d Gaussians alone")
    say(f"{'d':>9} {'p':>3} {'sgd ns/step':>13} {'draw ns/step':>13} {'ratio':>6}")
    sgd_cost = {}
    for d in (10**3, 10**4, 10**5):
        n = max(20, int(scale * 2e8 / d))
        floor = floor_ns(d, n, repeats)
        for p in (1, 10):
            ns = kernel_ns("sgd", d, p, max(10, n // p), repeats)
            sgd_cost[d, p] = ns
            say(f"{d:>9} {p:>3} {ns:>13.0f} {floor:>13.0f} {ns / floor:>6.2f}")
    say()
    say("## gram: ns/step (independent of d), and speedup over sgd at the same (d, p)")
    say(f"{'d':>9} {'p':>3} {'gram ns/step':>13} {'sgd ns/step':>13} {'speedup':>9}")
    gram_cost = {}
    for p in (1, 2, 8, 32):
        for d in (10**3, 10**6, 10**8):
            n = max(1000, int(scale * 2e7 / (p + 1) ** 1.5))
            ns = kernel_ns("gram", d, p, n, repeats)
            gram_cost[d, p] = ns
            fits = (p + 2) * d * 8 <= SGD_MEMORY_BYTES
            if (d, p) not in sgd_cost and fits:
                sgd_cost[d, p] = kernel_ns("sgd", d, p, max(3, int(scale * 2e8 / (d * p))), 2)
            sgd = sgd_cost.get((d, p))
            sgd_txt = f"{sgd:>13.0f}" if sgd else f"{'(too big)':>13}"
            speed = f"{sgd / ns:>9.1f}" if sgd else f"{'-':>9}"
            say(f"{d:>9} {p:>3} {ns:>13.1f} {sgd_txt} {speed}")
    say()
    say("## gram: per-step time at d = 1e8 relative to d = 1e3")
    for p in (1, 2, 8, 32):
        say(f"p = {p:>2}: {gram_cost[10**8, p] / gram_cost[10**3, p]:.3f}")
    say()
    n_seeds = 200 if not args.quick else 20
    problem = mediocrity.Problem(d=10**6, p=1, gamma=0.1, t_max=6.0)
    mediocrity.simulate(mediocrity.Problem(d=10**3, p=1, gamma=0.1, t_max=0.1),
                        engine="gram", seeds=2)
    t0 = time.perf_counter()
    ds = mediocrity.simulate(problem, engine="gram", seeds=n_seeds, init="random")
    wall = time.perf_counter() - t0
    steps = int(problem.save_steps()[-1])
    say(f"## {n_seeds} seeds of gram, d = 1e6, p = 1, gamma = 0.1, to t = "
        f"{float(ds.t[-1]):.3g} ({steps:.3g} steps each), threads = {os.cpu_count()}")
    say(f"wall time: {wall:.1f} s  ({wall / (n_seeds * steps) * 1e9 * (os.cpu_count() or 1):.1f} "
        "core-ns/step)")
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
