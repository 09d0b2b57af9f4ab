"""Engines: interchangeable by name, one run of one seed each.

Every runner has the signature ``run(problem, gram0, rng, save_q) -> Run`` where gram0 is
the normalised Gram matrix of the start, rng the run's dynamics generator (unused by
deterministic engines) and the saves are on ``problem.time_grid()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..problem import Problem


@dataclass
class Run:
    """One trajectory on the save grid: risk (nt,), m (nt, p), q (nt, p, p) or None; NaN
    after an early stop or a divergence (flagged by `diverged`)."""

    risk: np.ndarray
    m: np.ndarray
    q: np.ndarray | None
    diverged: bool


def run_kernel(kernel, problem: Problem, state, rng, save_q: bool) -> Run:
    """Allocate NaN outputs (left NaN past an early stop), call a numba kernel
    (`gram_run` / `sgd_run` signature) and cut its Gram-matrix saves into q."""
    steps = problem.save_steps()
    nt, r = steps.size, problem.p + 1
    risk = np.full(nt, np.nan)
    m = np.full((nt, r - 1), np.nan)
    grams = np.full((nt if save_q else 1, r, r), np.nan)
    _, diverged = kernel(*state, rng, problem.gamma, problem.noise, steps,
                         problem.threshold, problem.stop_after_steps(), risk, m, grams)
    return Run(risk=risk, m=m, q=grams[:, 1:, 1:].copy() if save_q else None,
               diverged=bool(diverged))


def run_gram(problem: Problem, gram0: np.ndarray, rng, save_q: bool) -> Run:
    from .gram import gram_run

    if problem.d < problem.p + 1:
        raise ValueError(f"engine 'gram' needs p + 1 <= d (got d = {problem.d}, "
                         f"p = {problem.p}): the Gram matrix would be singular; use 'sgd'")

    def kernel(g, rng, gamma, noise, *rest):
        return gram_run(g, rng, problem.d, gamma, noise, *rest)

    return run_kernel(kernel, problem, (np.array(gram0, dtype=float),), rng, save_q)


def run_sgd(problem: Problem, gram0: np.ndarray, rng, save_q: bool) -> Run:
    from .sgd import embed, sgd_run

    w, wstar = embed(gram0, problem.d)
    return run_kernel(sgd_run, problem, (w, wstar), rng, save_q)


from .ode import run_ode, run_ode_largep  # noqa: E402
from .sde import run_sde  # noqa: E402

RUNNERS = {"sgd": run_sgd, "gram": run_gram, "ode": run_ode, "ode_largep": run_ode_largep,
           "sde": run_sde}
STOCHASTIC = {"sgd", "gram", "sde"}

# Cost model (ns per SGD step) fitted to benchmarks/results/bench_engines.txt on the
# 2-core reference machine: sgd ~ a + b d + c p d (the d Gaussian draws dominate, then
# p dot products and updates); gram ~ e + f r^2 + g r^3 for p >= 2 (r = p + 1: the
# Cholesky of G and the rank-2 update) and a constant for the scalar p = 1 path.
SGD_NS = (0.0, 3.4, 0.35)
GRAM_NS = (94.0, 3.3, 0.026)
GRAM_P1_NS = 30.5


def step_cost_ns(engine: str, d: int, p: int) -> float:
    """Modelled wall time of one SGD step of `engine` in nanoseconds."""
    if engine == "sgd":
        a, b, c = SGD_NS
        return a + b * d + c * p * d
    if engine == "gram":
        if p == 1:
            return GRAM_P1_NS
        e, f, g = GRAM_NS
        r = p + 1
        return e + f * r**2 + g * r**3
    raise ValueError(f"no cost model for engine {engine!r}")


def choose_engine(problem: Problem) -> str:
    """'gram' where it is exact (p + 1 <= d) and modelled cheaper than 'sgd', else 'sgd'."""
    if problem.d >= problem.p + 1 and (step_cost_ns("gram", problem.d, problem.p)
                                       <= step_cost_ns("sgd", problem.d, problem.p)):
        return "gram"
    return "sgd"
