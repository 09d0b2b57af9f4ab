"""Engines `ode` and `ode_largep`: the deterministic d -> infinity limit (docs/science.md §2).

Unconstrained drifts of the overlaps (time t = steps gamma/(p d), k = 1 teacher):
    Psi = (6 - 2 trQ/p) M - (4/p) Q M
    Phi = 4 (1 - trQ/p) Q + 8 M M^T - (8/p) Q^2 + (4 gamma/p)(S + Delta Q)
    S   = 3Q + 12MM^T - (2/p)[(trQ + 2|M|^2) Q + 2Q^2 + 2 trQ MM^T + 4(QMM^T + MM^TQ)]
          + (1/p^2)[((trQ)^2 + 2 trQ^2) Q + 4 trQ Q^2 + 8 Q^3]
and the spherical projection, D = diag(Phi):
    dM/dt = Psi - D M / 2,    dQ/dt = Phi - (D Q + Q D) / 2.
q_jj = 1 is conserved, but it is a repelling set when Phi_jj < 0 (rounding would grow
like exp(|Phi_jj| t)), so the integrated state is (M, q_jk for j < k) and the unit
diagonal is imposed exactly.

Large-p form (`ode_largep`): Q = M M^T + diag(q_perp) with q_perp = 1 - m_j^2 (the
sphere fixes it), so the state is M alone and every term above needs only O(p) work.
It is exact at linear order around M = 0 (same growth rate lambda_p, so the escape
phase is right), but the flow does not preserve the ansatz: the full ODE generates
q_jk - m_j m_k at rate -(4/p) m_j m_k (2 - m_j^2 - m_k^2) plus gamma/p terms.
Accurate for gamma = O(1): whole risk curve to ~0.3/p, exit time to ~2e-4 (measured,
p = 5-100). For gamma a fixed fraction of gamma_c ~ p the exit time stays within a few
percent but the post-escape curve does not converge in p; at gamma >= gamma_c/4 the
full dynamics collapses the students onto each other (R back to 1-2), which the ansatz
cannot represent (docs/ode_sde.md).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.integrate import solve_ivp

from .. import models
from ..initial import annealed_start  # noqa: F401 (re-exported: the ODE's typical start)
from ..models import DEFAULT as DEFAULT_MODEL
from ..overlaps import risk_from_overlaps
from ..problem import Problem
from . import Run
from .saves import stop_save_index

RTOL = 1e-8
ATOL = 1e-12
METHOD = "DOP853"


def ode_rhs(m, q, p: int, gamma: float, noise: float = 0.0):
    """(dM/dt, dQ/dt) of the spherical ODE at overlaps m (p,), q (p, p); vectorised,
    O(p^3) (two matrix products). Time units t = steps gamma/(p d)."""
    m = np.asarray(m, dtype=float)
    q = np.asarray(q, dtype=float)
    tr = np.trace(q)
    m2 = m @ m
    qm = q @ m
    q2 = q @ q
    mm = np.outer(m, m)
    qmm = np.outer(qm, m)
    s = (3.0 * q + 12.0 * mm
         - (2.0 / p) * ((tr + 2.0 * m2) * q + 2.0 * q2 + 2.0 * tr * mm + 4.0 * (qmm + qmm.T))
         + ((tr * tr + 2.0 * np.sum(q * q)) * q + 4.0 * tr * q2 + 8.0 * (q2 @ q)) / p**2)
    psi = (6.0 - 2.0 * tr / p) * m - (4.0 / p) * qm
    phi = (4.0 * (1.0 - tr / p) * q + 8.0 * mm - (8.0 / p) * q2
           + (4.0 * gamma / p) * (s + noise * q))
    dg = np.diag(phi)
    dq = phi - 0.5 * (dg[:, None] + dg[None, :]) * q
    return psi - 0.5 * dg * m, 0.5 * (dq + dq.T)


def largep_rhs(m, p: int, gamma: float, noise: float = 0.0):
    """dM/dt of the spherical ODE on the ansatz Q = M M^T + diag(1 - m_j^2); O(p)."""
    m = np.asarray(m, dtype=float)
    msq = m * m
    qperp = 1.0 - msq
    qjj = np.ones_like(m)
    tr = float(p)
    m2 = msq.sum()
    qm = (m2 + qperp) * m                           # (Q M)_j
    q2jj = m2 * msq + 2.0 * qperp * msq + qperp**2  # (Q^2)_jj
    mqm = m2 * m2 + qperp @ msq                     # M^T Q M
    q3jj = msq * mqm + 2.0 * m * qperp * qm + qperp**2 * qjj
    s = (3.0 * qjj + 12.0 * msq
         - (2.0 / p) * ((tr + 2.0 * m2) * qjj + 2.0 * q2jj + 2.0 * tr * msq + 8.0 * qm * m)
         + ((tr * tr + 2.0 * q2jj.sum()) * qjj + 4.0 * tr * q2jj + 8.0 * q3jj) / p**2)
    psi = (6.0 - 2.0 * tr / p) * m - (4.0 / p) * qm
    phi = (4.0 * (1.0 - tr / p) * qjj + 8.0 * msq - (8.0 / p) * q2jj
           + (4.0 * gamma / p) * (s + noise * qjj))
    return psi - 0.5 * phi * m


def largep_risk(m) -> np.ndarray:
    """R on the ansatz: 1 + 1/p - (2/p)|M|^2 + (|M|^4 - sum m_j^4)/p^2; m (..., p)."""
    m = np.asarray(m, dtype=float)
    p = m.shape[-1]
    msq = m * m
    m2 = msq.sum(axis=-1)
    return 1.0 + 1.0 / p - (2.0 / p) * m2 + (m2 * m2 - (msq * msq).sum(axis=-1)) / p**2


def integrate(rhs, y0: np.ndarray, risk_of, problem: Problem):
    """Integrate dy/dt = rhs(y) on problem.time_grid() with solve_ivp (METHOD, RTOL, ATOL).

    With problem.stop_after set, stops at the first save at least stop_after after the
    first save with R <= (1 - T) R(0), as the `gram` engine does (the crossing is
    located by a solve_ivp event). Returns (y at the saves, NaN past the stop or a
    failure: (nt, len(y)); number of RHS evaluations; failed flag)."""
    t = problem.time_grid()
    out = np.full((t.size, y0.size), np.nan)
    fun = lambda _, y: rhs(y)  # noqa: E731 (autonomous system)
    kw = dict(method=METHOD, rtol=RTOL, atol=ATOL)
    events = None
    if problem.stop_after is not None:
        level = (1.0 - problem.threshold) * risk_of(y0)
        events = lambda _, y: risk_of(y) - level  # noqa: E731
        events.terminal, events.direction = True, -1
    sol = solve_ivp(fun, (0.0, t[-1]), y0, t_eval=t, events=events, **kw)
    out[: sol.t.size] = sol.y.T
    if sol.status != 1:  # finished (0), failed (-1), or no crossing before t_max
        return out, sol.nfev, sol.status < 0
    t_cross, y_cross = sol.t_events[0][0], sol.y_events[0][0]
    first_save = min(np.searchsorted(t, t_cross), t.size - 1)
    last_save = stop_save_index(t, first_save, problem.stop_after)  # the rule, saves.py
    rest = np.arange(sol.t.size, last_save + 1)
    if rest.size == 0:
        return out, sol.nfev, False
    tail = solve_ivp(fun, (t_cross, t[rest[-1]]), y_cross, t_eval=t[rest], **kw)
    out[rest[: tail.t.size]] = tail.y.T
    return out, sol.nfev + tail.nfev, tail.status < 0


@functools.lru_cache(maxsize=8)
def _upper(p: int):
    return np.triu_indices(p, 1)


def unpack(y, p: int):
    """(m (p,), Q (p, p)) from the ODE state y = (m, q_jk for j < k), unit diagonal."""
    upper = _upper(p)
    q = np.eye(p)
    q[upper] = y[p:]
    q.T[upper] = y[p:]
    return y[:p], q


def pack(gram0: np.ndarray, p: int) -> np.ndarray:
    """The ODE state (m, q_jk for j < k) of gram0 = [[1, M0^T], [M0, Q0]]."""
    return np.concatenate([gram0[0, 1:], gram0[1:, 1:][_upper(p)]])


def unpack_path(ys: np.ndarray, p: int):
    """(m (nt, p), q (nt, p, p)) from states at the saves; NaN where the run stopped."""
    upper = _upper(p)
    m = ys[:, :p]
    q = np.full((ys.shape[0], p, p), np.nan)
    q[:, upper[0], upper[1]] = q[:, upper[1], upper[0]] = ys[:, p:]
    q[:, np.arange(p), np.arange(p)] = np.where(np.isfinite(m), 1.0, np.nan)
    return m, q


def integrate_full(problem: Problem, gram0: np.ndarray):
    """Full ODE from gram0 = [[1, M0^T], [M0, Q0]]: (m (nt, p), q (nt, p, p) at the saves,
    RHS evaluations, failed)."""
    p = problem.p
    upper = _upper(p)

    def rhs(y):
        dm, dq = ode_rhs(*unpack(y, p), p, problem.gamma, problem.noise)
        return np.concatenate([dm, dq[upper]])

    ys, nfev, failed = integrate(rhs, pack(gram0, p),
                                 lambda y: risk_from_overlaps(*unpack(y, p)), problem)
    return (*unpack_path(ys, p), nfev, failed)


def run_ode(problem: Problem, gram0: np.ndarray, rng=None, save_q: bool = True) -> Run:
    """Full ODE from the normalised Gram matrix gram0 = [[1, M0^T], [M0, Q0]]; rng unused.
    Any model: the default's closed form above, else `integrate_model`."""
    if problem.model != DEFAULT_MODEL:
        m, q, _, failed = integrate_model(problem, gram0)
        risk = models.get(problem.model).risk(m, q)
        return Run(risk=risk, m=m, q=q if save_q else None, diverged=failed)
    m, q, _, failed = integrate_full(problem, gram0)
    return Run(risk=risk_from_overlaps(m, q), m=m, q=q if save_q else None, diverged=failed)


# -- any model: the drift p E[xi] by quadrature (mediocrity/engines/quadrature.py) -------
GL_NODES = {1: 24, 2: 24, 3: 12}  # Gauss-Legendre nodes per piece, by p (kinked models)
P_MAX_MODEL = 3                    # cost (2 GL_NODES)^(p+1) per evaluation


def model_moments(model, p: int):
    """moments(m, q, gamma, noise, want_cov) -> (E[xi], Cov[xi]) of the one-step increment
    of `model` (mediocrity.engines.quadrature): Gauss-Hermite with 4 deg nodes per
    dimension for polynomial models (exact), the piecewise Gauss-Legendre rule otherwise
    (kinks; converged to ~1e-10 at GL_NODES, docs/models.md)."""
    from ..models import specialise

    model = models.get(model) if isinstance(model, str) else model
    mod = specialise("mediocrity.engines.quadrature", model)
    x, w, piecewise = model_moments_rule(model, p)
    kernel = mod.piecewise_moments if piecewise else mod.quadrature_moments

    def moments(m, q, gamma, noise, want_cov=False):
        return kernel(np.ascontiguousarray(m, dtype=float),
                      np.ascontiguousarray(q, dtype=float), float(gamma), float(noise),
                      x, w, bool(want_cov))

    return moments


def model_moments_rule(model, p: int):
    """(nodes, weights, piecewise) of the quadrature of `model`'s moments at p."""
    from numpy.polynomial.legendre import leggauss

    from .quadrature import gauss_hermite

    if model.degree is not None:
        x, w = gauss_hermite(4 * model.degree)
        return x, w, False
    if p > P_MAX_MODEL:
        raise ValueError(f"model {model.name!r}: the quadrature of the ODE/SDE moments "
                         f"is implemented for p <= {P_MAX_MODEL} (got p = {p})")
    x, w = leggauss(GL_NODES[p])
    return x, w, True


def model_rhs(model, m, q, p: int, gamma: float, noise: float = 0.0):
    """(dM/dt, dQ/dt) of the spherical ODE of any model: p E[xi] (for the default it
    equals ode_rhs, tested)."""
    mean, _ = model_moments(model, p)(m, q, gamma, noise)
    dm = p * mean[:p]
    dq = np.zeros((p, p))
    upper = _upper(p)
    dq[upper] = dq.T[upper] = p * mean[p:]
    return dm, dq


def integrate_model(problem: Problem, gram0: np.ndarray):
    """ODE of problem.model from gram0, state (M, q_jk j < k) as in integrate_full:
    (m (nt, p), q (nt, p, p), RHS evaluations, failed)."""
    from ..models import specialise

    p = problem.p
    moments = model_moments(problem.model, p)
    risk_of = specialise("mediocrity.engines.quadrature", problem.model).risk_of

    def rhs(y):
        mean, _ = moments(*unpack(y, p), problem.gamma, problem.noise)
        return p * mean

    ys, nfev, failed = integrate(rhs, pack(gram0, p), lambda y: risk_of(*unpack(y, p)),
                                 problem)
    return (*unpack_path(ys, p), nfev, failed)


def integrate_largep(problem: Problem, m0: np.ndarray):
    """Large-p form from M0 (p,): (m at the saves (nt, p), RHS evaluations, failed)."""
    rhs = lambda y: largep_rhs(y, problem.p, problem.gamma, problem.noise)  # noqa: E731
    return integrate(rhs, np.asarray(m0, dtype=float).reshape(-1), largep_risk, problem)


def run_ode_largep(problem: Problem, gram0: np.ndarray, rng=None, save_q: bool = False) -> Run:
    """Large-p form from M0 = gram0[0, 1:] (the off-diagonal of Q0 is dropped by the
    ansatz); q saved as M M^T + diag(1 - m^2) only when save_q. rng unused. Default
    model only (its closed-form O(p) drift)."""
    if problem.model != DEFAULT_MODEL:
        raise ValueError(f"engine 'ode_largep' supports the model {DEFAULT_MODEL!r} only "
                         f"(got {problem.model!r}); use 'ode'")
    m, _, failed = integrate_largep(problem, gram0[0, 1:])
    q = None
    if save_q:
        q = m[:, :, None] * m[:, None, :]
        idx = np.arange(problem.p)
        q[:, idx, idx] = np.where(np.isfinite(m), 1.0, np.nan)
    return Run(risk=largep_risk(m), m=m, q=q, diverged=failed)
