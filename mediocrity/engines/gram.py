"""Engine `gram`: the exact finite-d Markov chain of the Gram matrix (SCIENCE.md §4).

State: upper-triangular R with R^T R = G = Gram(w*, w_1..w_p)/d. One SGD step needs only
the local fields lambda = R^T xi (xi ~ N(0, I_r), r = p + 1) and |x|^2 = |xi|^2 + chi2_{d-r}:
    G' = (R - xi e^T)^T (R - xi e^T) + chi2_{d-r} e e^T,  e_j = gamma g_j / d, e_0 = 0,
then each column is rescaled to unit norm (spherical projection). R' is obtained from
[R - xi e^T; sqrt(chi2) e^T] by Givens rotations (a rank-1 QR update plus one appended
row): O(r^2) per step, independent of d, and exact for singular G (no square roots of
differences, so learning that succeeds fully, m -> 1, is safe).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..overlaps import risk_from_gram


@numba.njit(cache=True, nogil=True, inline="always")
def _rotate(r_mat, i, k, c, s, col0):
    """Rows (i, k) of r_mat <- [[c, s], [-s, c]] @ rows (i, k), from column col0 on."""
    n = r_mat.shape[1]
    for j in range(col0, n):
        a = r_mat[i, j]
        b = r_mat[k, j]
        r_mat[i, j] = c * a + s * b
        r_mat[k, j] = c * b - s * a


@numba.njit(cache=True, nogil=True)
def gram_step(rmat, xi, chi, z, gamma, noise, d, work):
    """One SGD step of the chain, in place on rmat (r x r upper triangular).

    xi: the r standard normals of the local fields; chi: the chi2_{d-r} draw; z: the label
    noise normal. work: scratch of length 3r. Returns nothing.
    """
    r = rmat.shape[0]
    p = r - 1
    lam = work[:r]
    e = work[r:2 * r]
    w = work[2 * r:]
    # local fields lambda = R^T xi (lam[0] = nu, the teacher's)
    for j in range(r):
        acc = 0.0
        for k in range(j + 1):
            acc += rmat[k, j] * xi[k]
        lam[j] = acc
    xx = chi
    for k in range(r):
        xx += xi[k] * xi[k]
    f = 0.0
    for j in range(1, r):
        f += lam[j] * lam[j]
    f /= p
    y = lam[0] * lam[0] + math.sqrt(noise) * z
    coef = gamma * 2.0 * (f - y) / (p * d)
    e[0] = 0.0
    for j in range(1, r):
        e[j] = coef * lam[j]
    # rank-1 update R - xi e^T: rotate xi onto the first axis (R becomes Hessenberg) ...
    w[:] = xi
    for k in range(r - 1, 0, -1):
        a = w[k - 1]
        b = w[k]
        h = math.sqrt(a * a + b * b)
        if h > 0.0:
            c = a / h
            s = b / h
            w[k - 1] = h
            _rotate(rmat, k - 1, k, c, s, k - 1)
    for j in range(r):
        rmat[0, j] -= w[0] * e[j]
    # ... then chase the subdiagonal back to zero.
    for k in range(r - 1):
        a = rmat[k, k]
        b = rmat[k + 1, k]
        h = math.sqrt(a * a + b * b)
        if h > 0.0:
            _rotate(rmat, k, k + 1, a / h, b / h, k)
            rmat[k + 1, k] = 0.0
    # append the row sqrt(chi) e^T (the part of x outside the span) and fold it in.
    sq = math.sqrt(chi)
    for j in range(r):
        e[j] *= sq
    for k in range(1, r):
        a = rmat[k, k]
        b = e[k]
        h = math.sqrt(a * a + b * b)
        if h > 0.0:
            c = a / h
            s = b / h
            for j in range(k, r):
                u = rmat[k, j]
                v = e[j]
                rmat[k, j] = c * u + s * v
                e[j] = c * v - s * u
    # spherical projection: every column (teacher included, |w*|^2 = d) to unit norm.
    for j in range(r):
        nrm = 0.0
        for k in range(j + 1):
            nrm += rmat[k, j] * rmat[k, j]
        scale = 1.0 / math.sqrt(nrm)
        for k in range(j + 1):
            rmat[k, j] *= scale


@numba.njit(cache=True, nogil=True)
def gram_run(rmat, rng, d, gamma, noise, save_steps, threshold, stop_steps,
             risk_out, m_out, gram_out):
    """Run the chain from rmat, saving risk, M and G at the step counts save_steps
    (gram_out holds one slot per save, or a single scratch slot when G is not kept).

    Stops stop_steps after the first save with R <= (1 - threshold) R(0) (never if
    stop_steps < 0). Outputs past the last save are left untouched (NaN-filled by the
    caller). Returns (number of saves written, diverged flag).
    """
    r = rmat.shape[0]
    xi = np.empty(r)
    work = np.empty(3 * r)
    dof = d - r
    step = 0
    stop_at = -1
    r0 = 0.0
    for n in range(save_steps.shape[0]):
        target = save_steps[n]
        while step < target:
            for k in range(r):
                xi[k] = rng.standard_normal()
            chi = rng.chisquare(dof) if dof > 0 else 0.0
            z = rng.standard_normal() if noise > 0.0 else 0.0
            gram_step(rmat, xi, chi, z, gamma, noise, d, work)
            step += 1
        g = gram_out[n if gram_out.shape[0] > 1 else 0]
        g[:, :] = rmat.T @ rmat
        risk = risk_from_gram(g)
        risk_out[n] = risk
        m_out[n, :] = g[0, 1:]
        if not math.isfinite(risk):
            return n + 1, True
        if n == 0:
            r0 = risk
        elif stop_steps >= 0 and stop_at < 0 and risk <= (1.0 - threshold) * r0:
            stop_at = step + stop_steps
        if stop_at >= 0 and step >= stop_at:
            return n + 1, False
    return save_steps.shape[0], False
