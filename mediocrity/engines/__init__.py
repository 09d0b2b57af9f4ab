"""Engines: interchangeable by name, one run of one seed each.

Every runner has the signature ``run(problem, gram0, rng, save_q) -> Run`` where gram0 is
the normalised Gram matrix of the start, rng the run's dynamics generator (unused by
deterministic engines) and the saves are on ``problem.time_grid()``.
"""

from __future__ import annotations

import importlib
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

from . import registry  # noqa: E402

# Derived from the engine registry (engines/registry.py), the one place engines are named.
RUNNERS = {e.name: getattr(importlib.import_module(e.runner.split(":")[0]),
                           e.runner.split(":")[1])
           for e in registry.ENGINES if e.runner}
STOCHASTIC = set(registry.stochastic_names())
step_cost_ns = registry.step_cost_ns
choose_engine = registry.choose_engine
