"""Engine `sde`: the ODE drift plus the O(1/sqrt d) diffusion of the overlaps, any p.

State X = (M, q_jk for j < k); q_jj = 1 exactly. One SGD step (time gamma/(p d)) moves X
by (gamma/d) xi with xi a polynomial of the Gaussian local fields (mediocrity.moments);
steps are independent given X, so over a time h there are h p d / gamma of them and
    dX = p E[xi] dt + sqrt(p gamma / d) B dW,   B B^T = Cov[xi]
(E[xi], Cov[xi] exact Gaussian moments; p E[xi] is the ODE right-hand side). The
diffusion per unit time is (p gamma/d) Cov[xi] = O(gamma/(p d)) (xi carries (2/p)^2).
The noise includes the first-order spherical projection; its effect on the drift is
O(gamma/d) and is dropped with the other O(1/d) drift corrections.

Euler-Maruyama with step `time_step` (time units, default TIME_STEP = 2e-3), shortened
to land on every save time. Its bias is on the drift: in the escape phase m grows by
1 + lambda_p h per step instead of exp(lambda_p h), a relative error lambda_p h / 2 on
the rate (0.4% at h = 2e-3, lambda_p <= 4), i.e. ~0.004 on an exit time of order 1,
below the standard error of a few hundred seeds. Cost per step: O(p^4) moments and an
O(p^6) eigen-factorisation of Cov[xi] (n = p(p+1)/2): fine for p up to ~20.
Once learning succeeds with Delta ~ 0 the chain sits at the edge of the Gram cone and an
Euler step can leave it by O(sqrt(h gamma/d)); Cov[xi] is then clipped to its
positive part, so the plateau risk is only resolved down to that scale.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..moments import increment_tables
from ..overlaps import risk_from_overlaps
from ..problem import Problem
from . import Run, quadrature
from .saves import CONTINUE, DIVERGED, stop_rule

DEFAULT_MODEL = "phase_retrieval"  # mediocrity.models.DEFAULT: exact Wick moments above


def _model_sde(problem: Problem):
    """(advance, risk) of the SDE of a model other than the default: the Euler step of
    engines/quadrature.py with the moments by quadrature (nodes as for the ODE); advance
    has the signature of `sde_advance_chunk` (its tables unused)."""
    from ..models import get, specialise
    from .ode import model_moments_rule

    mod = specialise("mediocrity.engines.quadrature", problem.model)
    nodes, weights, piecewise = model_moments_rule(get(problem.model), problem.p)
    method = mod.PIECEWISE if piecewise else mod.QUADRATURE

    def advance(m, q, rng, now, duration, time_step, scale, tables, budget):
        return mod.sde_advance_chunk(m, q, rng, now, duration, time_step, scale, budget,
                                     problem.gamma, problem.noise, nodes, weights, method,
                                     tables)

    return advance, mod.risk_of

TIME_STEP = 2e-3
SDE_STEPS_MAX = 1e12  # Euler steps to t_max: finite, and now + h > now always
CHUNK_SECONDS = 0.1


@numba.njit(cache=True, nogil=True)
def sde_advance(m, q, rng, duration, time_step, scale, tables):
    """Euler-Maruyama steps of length <= time_step covering `duration` (time units), in
    place on m (p,), q (p, p): X += p E[xi] h + sqrt(h) scale B N(0, I), B B^T = positive
    part of Cov[xi], scale = sqrt(p gamma / d); tables from increment_tables."""
    sde_advance_chunk(m, q, rng, 0.0, duration, time_step, scale, tables, 2**62)


@numba.njit(cache=True, nogil=True)
def sde_advance_chunk(m, q, rng, now, duration, time_step, scale, tables, budget):
    """`sde_advance` from time `now` of the interval, for at most `budget` Euler steps;
    returns the time reached (duration when done). Chunked calls are bit-identical to
    one call: the same steps, draws and arithmetic. The steps of every model:
    engines/quadrature.py `sde_advance_chunk`, here with the exact Wick moments."""
    none = np.empty(0)  # no quadrature rule
    return quadrature.sde_advance_chunk(m, q, rng, now, duration, time_step, scale, budget,
                                        0.0, 0.0, none, none, quadrature.WICK, tables)


def run_sde(problem: Problem, gram0: np.ndarray, rng: np.random.Generator,
            save_q: bool, time_step: float = TIME_STEP) -> Run:
    """SDE from the normalised Gram matrix gram0 with the run's generator rng.

    Saves on problem.time_grid(); stops like `gram` (at the first save at least
    stop_after after the first save with R <= (1 - T) R(0)); NaN past the stop."""
    if not (isinstance(time_step, float | int) and math.isfinite(time_step)
            and problem.t_max / SDE_STEPS_MAX <= time_step):
        raise ValueError(f"time_step = {time_step!r}: allowed a finite number >= t_max / "
                         f"{SDE_STEPS_MAX:.0e} = {problem.t_max / SDE_STEPS_MAX:.3g}")
    from . import check_cancelled

    budget = max(1, int(CHUNK_SECONDS / (1e-6 * (problem.p + 1) ** 3)))
    p = problem.p
    t = problem.time_grid()
    risk = np.full(t.size, np.nan)
    m_out = np.full((t.size, p), np.nan)
    q_out = np.full((t.size, p, p), np.nan) if save_q else None
    m = np.array(gram0[0, 1:], dtype=float)
    q = np.array(gram0[1:, 1:], dtype=float)
    tables = increment_tables(p, problem.gamma, problem.noise)
    advance, risk_of = sde_advance_chunk, risk_from_overlaps
    if problem.model != DEFAULT_MODEL:  # moments by quadrature (engines/quadrature.py)
        advance, risk_of = _model_sde(problem)
    scale = math.sqrt(p * problem.gamma / problem.d)
    track = np.array([0.0, -1.0])  # the save-and-stop rule of every engine (saves.py)
    stop_after = -1.0 if problem.stop_after is None else problem.stop_after
    diverged = False
    for k, t_save in enumerate(t):
        if k > 0:  # in chunks of ~CHUNK_SECONDS, so that Ctrl-C is honoured in between
            now, duration = 0.0, t_save - t[k - 1]
            while True:
                now = advance(m, q, rng, now, duration, time_step, scale, tables, budget)
                if not now < duration:
                    break
                check_cancelled()
        risk[k] = risk_of(m, q)
        m_out[k] = m
        if save_q:
            q_out[k] = q
        status = stop_rule(k, t_save, risk[k], problem.threshold, stop_after, track)
        if status != CONTINUE:
            diverged = status == DIVERGED
            break
    return Run(risk=risk, m=m_out, q=q_out, diverged=diverged)
