"""Wall time of the deterministic engines: integrate to t = 10 from the annealed start
(m_j = 1/sqrt(d), Q = I) at d = 10^4, gamma = 0.1 (< gamma_c for every p: gamma_c = 1/6
at p = 1 and grows like p), Delta = 0: full ODE for p in {1, 10, 100, 500}, large-p form
for p in {10^3, 10^4}. Single-threaded BLAS (the project's execution model).

    python benchmarks/bench_ode.py | tee benchmarks/results/bench_ode.txt
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import platform
import time

import numpy as np

import mediocrity as md
from mediocrity.engines.ode import METHOD, RTOL, annealed_start, integrate_full, integrate_largep
from mediocrity.overlaps import gram_from_overlaps

D, GAMMA, T_MAX = 10**4, 0.1, 10.0


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    cpu = platform.processor() or platform.machine()
    print(f"mediocrity {md.__version__}, numpy {np.__version__}, {cpu}, solve_ivp {METHOD} "
          f"rtol {RTOL}; d = {D}, gamma = {GAMMA}, Delta = 0, t = 0..{T_MAX}")
    print(f"{'form':>8} {'p':>6} {'seconds':>9} {'RHS evals':>10} {'ms/RHS':>8} {'R(t=10)':>10}")
    for p in (1, 10, 100, 500):
        problem = md.Problem(d=D, p=p, gamma=GAMMA, t_max=T_MAX)
        gram0 = gram_from_overlaps(*annealed_start(p, D))
        sec, (m, q, nfev, _) = timed(lambda problem=problem, gram0=gram0: integrate_full(problem, gram0))
        risk = md.risk_from_overlaps(m[-1], q[-1])
        print(f"{'full':>8} {p:>6} {sec:9.3f} {nfev:>10} {1e3 * sec / nfev:8.3f} {risk:10.3e}")
    for p in (10**3, 10**4):
        problem = md.Problem(d=D, p=p, gamma=GAMMA, t_max=T_MAX)
        m0 = annealed_start(p, D)[0]
        sec, (m, nfev, _) = timed(lambda problem=problem, m0=m0: integrate_largep(problem, m0))
        risk = md.engines.ode.largep_risk(m[-1])
        print(f"{'large-p':>8} {p:>6} {sec:9.3f} {nfev:>10} {1e3 * sec / nfev:8.3f} {risk:10.3e}")


if __name__ == "__main__":
    main()
