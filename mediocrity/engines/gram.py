"""Engine `gram`: the exact finite-d Markov chain of the Gram matrix (docs/science.md §4).

State: G = Gram(w*, w_1..w_p)/d, (p+1) x (p+1), teacher first. For isotropic x, one SGD
step needs only the local fields lambda = L xi (G = L L^T, xi ~ N(0, I_r), r = p + 1)
and |x|^2 = |xi|^2 + chi2_{d-r}:
    G' = G - lambda e^T - e lambda^T + |x|^2 e e^T,   e_j = gamma g_j / d,  e_0 = 0,
then G'_jk /= sqrt(G'_jj G'_kk) (spherical projection). Same law as `sgd` at a cost per
step independent of d. The factor L comes from a semidefinite-safe Cholesky (a direction
whose Schur complement vanishes is dropped), so runs that learn fully (m -> 1, or two
students aligning: G singular) are safe.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .psd import SINGULAR_TOL, psd_cholesky  # noqa: F401  (SINGULAR_TOL: part of the API)
from .saves import CONTINUE, DIVERGED, save_and_check

# The model (mediocrity.models.specialise replaces this block per model; the default's
# functions here: y = z^2, sigma = x^2, sigma' = 2x).
# isort: off
# <model>
from ..models.catalogue import square as target
from ..models.catalogue import square as sigma
from ..models.catalogue import twice as dsigma
from ..overlaps import risk_from_gram as risk_gram
# </model>
# isort: on



@numba.njit(cache=True, nogil=True, inline="always")
def chisquare(rng, k):
    """chi2_k draw; Marsaglia-Tsang squeeze (exact, ~1.5x faster than Generator.chisquare
    in numba) for k >= 2, the Generator's own sampler below."""
    if k < 2.0:
        return rng.chisquare(k)
    a = 0.5 * k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * a)
    while True:
        x = rng.standard_normal()
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = rng.random()
        if u < 1.0 - 0.0331 * (x * x) * (x * x):
            return 2.0 * a * v
        if math.log(u) < 0.5 * x * x + a * (1.0 - v + math.log(v)):
            return 2.0 * a * v


@numba.njit(cache=True, nogil=True)
def gram_step(g, low, xi, chi, z, gamma, noise, d, lam, e):
    """One SGD step of the chain, in place on g (r x r).

    xi: the r standard normals of the local fields; chi: the chi2_{d-r} draw; z: the label
    noise normal. low (r x r), lam, e (r): scratch. lam holds the fields on return.
    """
    r = g.shape[0]
    p = r - 1
    psd_cholesky(g, low)
    xx = chi
    f = 0.0
    for i in range(r):
        xx += xi[i] * xi[i]
        a = 0.0
        for k in range(i + 1):
            a += low[i, k] * xi[k]
        lam[i] = a
        if i > 0:
            f += sigma(a)
    y = target(lam[0]) + math.sqrt(noise) * z
    coef = gamma * (f / p - y) / (p * d)
    e[0] = 0.0
    for j in range(1, r):
        e[j] = coef * dsigma(lam[j])
    # G' = G - lam e^T - e lam^T + |x|^2 e e^T, then unit diagonal; e is reused for the scales
    for i in range(r):
        for j in range(i, r):
            g[i, j] += xx * e[i] * e[j] - lam[i] * e[j] - e[i] * lam[j]
    e[0] = 1.0
    for j in range(1, r):
        e[j] = 1.0 / math.sqrt(g[j, j])
    for i in range(r):
        for j in range(i, r):
            v = g[i, j] * e[i] * e[j]
            g[i, j] = v
            g[j, i] = v
    for j in range(1, r):
        g[j, j] = 1.0


@numba.njit(cache=True, nogil=True)
def advance(g, rng, nsteps, d, gamma, noise):
    """nsteps steps of the chain, in place on g. Draw order per step: r normals xi,
    chi2_{d-r} (if d > r), one normal z (if noise > 0)."""
    r = g.shape[0]
    if r == 2:
        g[0, 1] = g[1, 0] = advance_one_neuron(g[0, 1], rng, nsteps, d, gamma, noise)
        return
    low = np.zeros((r, r))
    xi = np.empty(r)
    lam = np.empty(r)
    e = np.empty(r)
    dof = float(d - r)
    for _ in range(nsteps):
        for k in range(r):
            xi[k] = rng.standard_normal()
        chi = chisquare(rng, dof) if dof > 0.0 else 0.0
        z = rng.standard_normal() if noise > 0.0 else 0.0
        gram_step(g, low, xi, chi, z, gamma, noise, d, lam, e)


@numba.njit(cache=True, nogil=True)
def advance_one_neuron(m, rng, nsteps, d, gamma, noise):
    """`advance` for p = 1, where the state is m alone (G = [[1, m], [m, 1]], its
    Cholesky factor has L_11 = sqrt(1 - m^2)): the same arithmetic and draws as gram_step,
    written as scalars because the step is latency-bound."""
    dof = float(d - 2)
    sn = math.sqrt(noise)
    c0 = gamma / d
    for _ in range(nsteps):
        x0 = rng.standard_normal()
        x1 = rng.standard_normal()
        chi = chisquare(rng, dof) if dof > 0.0 else 0.0
        z = rng.standard_normal() if noise > 0.0 else 0.0
        lam1 = m * x0 + math.sqrt(max(1.0 - m * m, 0.0)) * x1
        e1 = c0 * (sigma(lam1) - target(x0) - sn * z) * dsigma(lam1)
        q = 1.0 - 2.0 * lam1 * e1 + (chi + x0 * x0 + x1 * x1) * e1 * e1
        m = (m - x0 * e1) / math.sqrt(q)
    return m


@numba.njit(cache=True, nogil=True)
def gram_run_chunk(g, rng, d, gamma, noise, save_steps, threshold, stop_steps,
                   risk_out, m_out, gram_out, track, pos, budget):
    """`gram_run`, resumable and bounded: continue from pos = [saves written, steps done]
    with the save-and-stop state track = [R(0), step to stop at], for at most `budget`
    steps, then return to the caller (who may react to Ctrl-C) with pos updated. The
    draws and arithmetic are those of one uninterrupted run, so chunked runs are
    bit-identical. Returns (finished, diverged)."""
    limit = pos[1] + budget
    status = CONTINUE
    while status == CONTINUE and pos[0] < save_steps.shape[0]:
        n, step = pos[0], pos[1]
        target = save_steps[n]
        if target > limit:
            advance(g, rng, limit - step, d, gamma, noise)
            pos[1] = limit
            return False, False
        advance(g, rng, target - step, d, gamma, noise)
        status = save_and_check(n, target, g, risk_gram(g), risk_out, m_out, gram_out,
                                threshold, stop_steps, track, pos)
    return True, status == DIVERGED


@numba.njit(cache=True, nogil=True)
def gram_run(g, rng, d, gamma, noise, save_steps, threshold, stop_steps, risk_out, m_out, gram_out):
    """Run the chain from g, saving risk, M and G at the step counts save_steps
    (gram_out holds one slot per save, or a single scratch slot when G is not kept).

    Stops stop_steps after the first save with R <= (1 - threshold) R(0) (never if
    stop_steps < 0). Outputs past the last save are left untouched (NaN-filled by the
    caller). Returns (number of saves written, diverged flag). In one call (not
    interruptible): `simulate` runs `gram_run_chunk` in bounded chunks instead.
    """
    track = np.array([0.0, -1.0])
    pos = np.zeros(2, dtype=np.int64)
    _, diverged = gram_run_chunk(g, rng, d, gamma, noise, save_steps, threshold, stop_steps,
                                 risk_out, m_out, gram_out, track, pos, 2**62)
    return pos[0], diverged
