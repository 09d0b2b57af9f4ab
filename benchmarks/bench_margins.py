"""Per-step cost of the margins engines `gf` and `sgd` against their floors (one thread).

Run:  python benchmarks/bench_margins.py [--quick] [--out FILE]

Prints the report; with --out also writes it to FILE. Reports, in one run on this machine:
  * gf: time of one accepted step (trial W - eta g, H^T = W X^T, then f, L and G^T in the
    one kernel logistic_gate, then G^T X) and of run_gf per accepted step, against the
    "BLAS floor": the two matrix products alone as the step lays them out, W X^T
    (m x d)(d x n) into an (m, n) array and G^T X (m x n)(n x d) from that same array;
    the ratio says what the elementwise work (logistic_gate) adds;
  * sgd: ns per step of the numba kernel (full network, O(m d); norm-only, O(m)) and
    ns/(m d).
Timings are the best of a few repeats after a warm-up call (compilation excluded), with
one BLAS/numba thread (set below, before numpy is imported).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from mediocrity.studies.margins.network import directions, init_network, sign_sets  # noqa: E402
from mediocrity.studies.margins.train import (_Full, _State, run_gf, sgd_steps,  # noqa: E402
                                      sgd_steps_norm)


def best_of(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def problem(n: int, m: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    W0, a = init_network(d, m, rng)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.where(X[:, 0] * X[:, 1] >= 0, 1.0, -1.0)
    return W0, a, X, y


def gf_times(n: int, m: int, d: int, reps: int, repeats: int) -> tuple[float, float, float]:
    """(floor, accepted step, run_gf per accepted step) in seconds."""
    W0, a, X, y = problem(n, m, d)
    GT, grad = np.empty((m, n)), np.empty((m, d))

    def floor():
        for _ in range(reps):
            np.matmul(W0, X.T, out=GT)
            np.matmul(GT, X, out=grad)

    model = _Full(W0, a, X, y, X[:1])
    cur, new = _State(W0.copy(), n, m, True), _State(np.empty_like(W0), n, m, True)
    g = np.empty_like(W0)
    model.evaluate(cur)
    model.gradient(cur, g)

    def step():
        for _ in range(reps):
            model.trial(cur, g, 1.0, 1e-3, new)
            model.evaluate(new)
            model.gradient(new, g)

    # run_gf with a fixed step to t = 1 (saves at t = 0 and 1): per accepted step, the cost
    # of the whole loop (finite check, bookkeeping, the rare rejected trial) plus the two
    # measurements
    eta = 1.0 / reps
    counts = {}

    def run():
        out = run_gf(W0, a, X, y, X[:1], y[:1], step=eta, step_max=eta, t_max=1.0, t_min=1.0,
                     saves_per_decade=1)
        counts.update(steps=out["steps"], rejected=out["rejected"])

    floor(), step(), run()
    return (best_of(floor, repeats) / reps, best_of(step, repeats) / reps,
            best_of(run, repeats) / counts["steps"])


def sgd_ns(m: int, d: int, steps: int, repeats: int, norm_only: bool) -> float:
    n = 1000
    W0, a, X, y = problem(n, m, d)
    plus, minus = sign_sets(a)
    order = np.random.default_rng(2).integers(0, n, steps)
    coef = 1e-3 / n
    if norm_only:
        U, r0 = directions(W0)
        R = np.maximum(X @ U.T, 0.0)
        r = r0.copy()

        def fn():
            sgd_steps_norm(r, a, plus, minus, R, y, order, coef)
    else:
        W, h = W0.copy(), np.empty(m)

        def fn():
            sgd_steps(W, a, plus, minus, X, y, order, coef, h)
    fn()
    return best_of(fn, repeats) / steps * 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (checks that it runs)")
    ap.add_argument("--out", default=None, help="also write the report to this file")
    args = ap.parse_args(argv)
    lines: list[str] = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    repeats = 2 if args.quick else 5
    say(f"# bench_margins  {platform.node()}  {platform.processor() or platform.machine()}  "
        f"python {platform.python_version()}  numpy {np.__version__}  1 thread"
        f"{'  (--quick)' if args.quick else ''}")
    say()
    say("## gf: time per accepted step vs the BLAS floor (W X^T and G^T X alone)")
    say(f"{'n':>6} {'m':>5} {'d':>4} {'floor ms':>10} {'step ms':>10} {'step/floor':>11} "
        f"{'run_gf ms':>10} {'run/floor':>10}")
    sizes = [(200, 16, 8)] if args.quick else [(200, 64, 16), (2000, 512, 32)]
    for n, m, d in sizes:
        reps = 5 if args.quick else max(5, int(2e8 / (n * m * d)))
        floor, step, run = gf_times(n, m, d, reps, repeats)
        say(f"{n:>6} {m:>5} {d:>4} {floor * 1e3:>10.3f} {step * 1e3:>10.3f} {step / floor:>11.2f} "
            f"{run * 1e3:>10.3f} {run / floor:>10.2f}")
    say()
    say("## sgd: ns per step of the numba kernel (full network O(m d), norm-only O(m))")
    say(f"{'m':>5} {'d':>4} {'m d':>7} {'full ns':>10} {'ns/(m d)':>9} {'norm-only ns':>13}")
    shapes = [(16, 8)] if args.quick else [(64, 16), (256, 32), (512, 32), (1024, 64)]
    for m, d in shapes:
        steps = 200 if args.quick else max(1000, int(2e8 / (m * d)))
        full = sgd_ns(m, d, steps, repeats, False)
        norm = sgd_ns(m, d, steps, repeats, True)
        say(f"{m:>5} {d:>4} {m * d:>7} {full:>10.1f} {full / (m * d):>9.3f} {norm:>13.1f}")
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
