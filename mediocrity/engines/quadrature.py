"""Gaussian moments of the one-step increment for any model, by Gauss-Hermite quadrature.

The generalisation of mediocrity.moments (exact Wick moments of the square) to any target
σ* and activation σ. One SGD step moves the state X = (M, q_jk for j < k) by
(γ/d) ξ + O((γ/d)²) with, for the local fields u = (ν, λ_1..λ_p) ~ N(0, G), the error
e = f − y = h − √Δ z, h = (1/p) Σ_l σ(λ_l) − σ*(ν), and g_j = e σ'(λ_j)/p:
    X_j  = −g_j ν,   Y_jk = −(g_j λ_k + g_k λ_j) + γ g_j g_k,
    ξ_mj = X_j − m_j Y_jj/2,   ξ_qjk = Y_jk − q_jk (Y_jj + Y_kk)/2,
so ξ = A(u) e + B(u) e² and, averaging the label noise in closed form
(E e = h, E e² = h² + Δ, E e³ = h³ + 3hΔ, E e⁴ = h⁴ + 6h²Δ + 3Δ²),
    E[ξ] = E_u[A h + B (h² + Δ)],
    E[ξξᵀ] = E_u[AAᵀ E e² + (ABᵀ + BAᵀ) E e³ + BBᵀ E e⁴].
The u-expectation is a tensor Gauss-Hermite rule in the p + 1 standard normals ξ of
u = Lξ (G = LLᵀ, semidefinite-safe Cholesky): exact for polynomial models once the
rule has 4·deg nodes per dimension (the integrand has degree ≤ 8·deg − 4), and
converging algebraically for kinked ones (|z|, relu: a kink on a hyperplane through 0);
nodes per model in `nodes_for` and the accuracy in docs/models.md.

p · E[ξ] is the ODE right-hand side of any model (engine `ode`); (pγ/d) Cov[ξ] its
diffusion (engine `sde`). Model template (mediocrity.models.specialise): the block
between the markers is replaced per model.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..moments import increment_moments_kernel
from .psd import psd_cholesky

# isort: off
# <model>
from ..models.catalogue import square as target
from ..models.catalogue import square as sigma
from ..models.catalogue import twice as dsigma
from ..overlaps import risk_from_gram as risk_gram
# </model>
# isort: on


@numba.njit(cache=True, nogil=True)
def _gram(m, q):
    """The normalised Gram matrix (teacher first) of the state (m (p,), q (p, p))."""
    p = m.size
    g = np.empty((p + 1, p + 1))
    g[0, 0] = 1.0
    for j in range(p):
        g[0, j + 1] = m[j]
        g[j + 1, 0] = m[j]
        for k in range(p):
            g[j + 1, k + 1] = q[j, k]
    return g


@numba.njit(cache=True, nogil=True)
def _setup(m, q):
    """For the moments at (m, q): the semidefinite-safe Cholesky factor of the normalised
    Gram matrix, the pair index tables (j < k) of the q part of the state, and the scratch
    and accumulators of `_accumulate`: (low, pa, pb, xi, u, ds, a, b, mean, second)."""
    p = m.size
    r = p + 1
    low = np.zeros((r, r))
    psd_cholesky(_gram(m, q), low)
    n = p + (p * (p - 1)) // 2
    pa = np.empty(n - p, dtype=np.int64)
    pb = np.empty(n - p, dtype=np.int64)
    x = 0
    for j in range(p):
        for k in range(j + 1, p):
            pa[x] = j
            pb[x] = k
            x += 1
    return (low, pa, pb, np.zeros(r), np.empty(r), np.empty(p), np.empty(n), np.empty(n),
            np.zeros(n), np.zeros((n, n)))


@numba.njit(cache=True, nogil=True, inline="always")
def _accumulate(w, xi, low, m, q, gamma, noise, pa, pb, u, ds, a, b, mean, second,
                want_cov):
    """Add the weight-w contribution of the standard normals xi (r,) to mean, second."""
    r = xi.size
    p = r - 1
    n = mean.size
    for i in range(r):
        acc = 0.0
        for k in range(i + 1):
            acc += low[i, k] * xi[k]
        u[i] = acc
    f = 0.0
    for j in range(p):
        f += sigma(u[j + 1])
        ds[j] = dsigma(u[j + 1])
    h = f / p - target(u[0])
    nu = u[0]
    for j in range(p):
        lam = u[j + 1]
        a[j] = (-ds[j] * nu + m[j] * ds[j] * lam) / p
        b[j] = -0.5 * m[j] * gamma * ds[j] * ds[j] / (p * p)
    for x in range(n - p):
        j = pa[x]
        k = pb[x]
        lj = u[j + 1]
        lk = u[k + 1]
        a[p + x] = (-(ds[j] * lk + ds[k] * lj) + q[j, k] * (ds[j] * lj + ds[k] * lk)) / p
        b[p + x] = gamma * (ds[j] * ds[k]
                            - 0.5 * q[j, k] * (ds[j] * ds[j] + ds[k] * ds[k])) / (p * p)
    h2 = h * h
    e2 = h2 + noise
    for x in range(n):
        mean[x] += w * (a[x] * h + b[x] * e2)
    if want_cov:
        e3 = h2 * h + 3.0 * h * noise
        e4 = h2 * h2 + 6.0 * h2 * noise + 3.0 * noise * noise
        for x in range(n):
            for y in range(x, n):
                second[x, y] += w * (a[x] * a[y] * e2 + (a[x] * b[y] + b[x] * a[y]) * e3
                                     + b[x] * b[y] * e4)


@numba.njit(cache=True, nogil=True)
def _finish(mean, second, want_cov):
    n = mean.size
    cov = np.zeros((n, n))
    if want_cov:
        for x in range(n):
            for y in range(x, n):
                c = second[x, y] - mean[x] * mean[y]
                cov[x, y] = c
                cov[y, x] = c
    return mean, cov


@numba.njit(cache=True, nogil=True)
def quadrature_moments(m, q, gamma, noise, nodes, weights, want_cov):
    """(mean (n,), cov (n, n)) of ξ at the state (m (p,), q (p, p)), n = p(p+1)/2, by the
    tensor rule (nodes, weights) in each of the p + 1 dimensions (weights summing to 1
    for the standard normal): exact for polynomial models with enough nodes. cov is zero
    unless want_cov."""
    r = m.size + 1
    low, pa, pb, xi, u, ds, a, b, mean, second = _setup(m, q)
    nn = nodes.size
    idx = np.zeros(r, dtype=np.int64)
    for _ in range(nn ** r):
        w = 1.0
        for i in range(r):
            xi[i] = nodes[idx[i]]
            w *= weights[idx[i]]
        _accumulate(w, xi, low, m, q, gamma, noise, pa, pb, u, ds, a, b, mean, second,
                    want_cov)
        for i in range(r):  # next multi-index
            idx[i] += 1
            if idx[i] < nn:
                break
            idx[i] = 0
    return _finish(mean, second, want_cov)


TAIL = 9.0  # the piecewise rule integrates each standard normal over [-TAIL, TAIL]


@numba.njit(cache=True, nogil=True)
def _pieces(breaks, nb, lo, hi, gl_x, gl_w, xs, ws):
    """Gauss-Legendre nodes (xs) and weights times the N(0, 1) density (ws) on [lo, hi]
    split at the nb points breaks[:nb]; returns the number of nodes written."""
    pts = np.empty(nb + 2)
    pts[0] = lo
    c = 1
    for i in range(nb):
        v = breaks[i]
        if lo < v < hi:
            pts[c] = v
            c += 1
    pts[c] = hi
    c += 1
    srt = np.sort(pts[:c])
    k = 0
    for s in range(c - 1):
        a = srt[s]
        b = srt[s + 1]
        if b - a <= 0.0:
            continue
        half = 0.5 * (b - a)
        mid = 0.5 * (a + b)
        for i in range(gl_x.size):
            x = mid + half * gl_x[i]
            xs[k] = x
            ws[k] = half * gl_w[i] * math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
            k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _fill(level, xi, low, gl_x, gl_w, xs, ws, cnt, br):
    """Nodes of level `level` given the outer ξ_0..ξ_(level-1): split where u_level
    changes sign, ξ_level = -(Σ_k<level L_level,k ξ_k)/L_level,level."""
    diag = low[level, level]
    nb = 0
    if diag > 0.0:
        shift = 0.0
        for k in range(level):
            shift += low[level, k] * xi[k]
        br[0] = -shift / diag
        nb = 1
    cnt[level] = _pieces(br, nb, -TAIL, TAIL, gl_x, gl_w, xs[level], ws[level])


@numba.njit(cache=True, nogil=True)
def piecewise_moments(m, q, gamma, noise, gl_x, gl_w, want_cov):
    """Same as quadrature_moments, for models with kinks or jumps (|z|, relu; any p):
    nested Gauss-Legendre rules (gl_x, gl_w on [-1, 1], per piece) in the standard
    normals of u = Lξ, outermost ξ_0. L is lower-triangular, so u_i depends on
    ξ_0..ξ_i only and, given the outer ones, changes sign at a single point of ξ_i: the
    rule of level i is split there, the integrand is smooth on every piece and the rule
    converges exponentially in the nodes per piece. Cost (2 len(gl_x))^(p+1) points."""
    r = m.size + 1
    low, pa, pb, xi, u, ds, a, b, mean, second = _setup(m, q)
    k = gl_x.size
    xs = np.empty((r, 2 * k))
    ws = np.empty((r, 2 * k))
    cnt = np.zeros(r, dtype=np.int64)
    idx = np.zeros(r, dtype=np.int64)
    br = np.empty(1)
    _fill(0, xi, low, gl_x, gl_w, xs, ws, cnt, br)
    level = 0
    while True:
        for lv in range(level, r):  # descend: set xi, refill the deeper levels
            xi[lv] = xs[lv, idx[lv]]
            if lv + 1 < r:
                _fill(lv + 1, xi, low, gl_x, gl_w, xs, ws, cnt, br)
                idx[lv + 1] = 0
        w = 1.0
        for lv in range(r):
            w *= ws[lv, idx[lv]]
        _accumulate(w, xi, low, m, q, gamma, noise, pa, pb, u, ds, a, b, mean, second,
                    want_cov)
        lv = r - 1
        while lv >= 0:
            idx[lv] += 1
            if idx[lv] < cnt[lv]:
                break
            lv -= 1
        if lv < 0:
            break
        level = lv
    return _finish(mean, second, want_cov)


@numba.njit(cache=True, nogil=True)
def risk_of(m, q):
    """The model's risk at (m, q) (numba)."""
    return risk_gram(_gram(m, q))


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point rule for E[f(z)], z ~ N(0, 1)."""
    from numpy.polynomial.hermite_e import hermegauss

    x, w = hermegauss(n)
    return x, w / w.sum()


# How `sde_advance_chunk` takes the moments of ξ: the tensor rule `quadrature_moments`,
# the split rule `piecewise_moments`, or the exact Wick moments of mediocrity.moments
# (the default model only: engine sde's own, engines/sde.py).
QUADRATURE, PIECEWISE, WICK = 0, 1, 2


@numba.njit(cache=True, nogil=True, inline="always")
def sde_moments(m, q, gamma, noise, nodes, weights, method, tables):
    """(mean (n,), cov (n, n)) of ξ at (m, q) by `method`: QUADRATURE or PIECEWISE with
    the rule (nodes, weights), or WICK with the increment_tables `tables` (then the other
    arguments are unused, and the moments are those of the default model)."""
    if method == WICK:
        return increment_moments_kernel(m, q, *tables)
    if method == PIECEWISE:
        return piecewise_moments(m, q, gamma, noise, nodes, weights, True)
    return quadrature_moments(m, q, gamma, noise, nodes, weights, True)


@numba.njit(cache=True, nogil=True)
def sde_advance_chunk(m, q, rng, now, duration, time_step, scale, budget, gamma, noise,
                      nodes, weights, method, tables):
    """The Euler-Maruyama steps of engine sde (engines/sde.py) for every model, in place on
    m (p,), q (p, p): X += p E[ξ] h + sqrt(h) scale B N(0, I), B Bᵀ = positive part of
    Cov[ξ] (scale = sqrt(p γ/d)), the moments by `sde_moments` (method, tables: there);
    at most `budget` steps of length <= time_step from time `now` of an interval of
    length `duration`. Returns the time reached (duration when done, or when the moments
    are not finite: m is then NaN, for the caller to flag)."""
    p = m.size
    count = 0
    while now < duration:
        if count >= budget:
            return now
        count += 1
        h = min(time_step, duration - now)
        mean, cov = sde_moments(m, q, gamma, noise, nodes, weights, method, tables)
        if not np.isfinite(cov).all():  # diverged: leave it to the caller to flag
            m[:] = np.nan
            return duration
        vals, vecs = np.linalg.eigh(cov)
        amp = np.sqrt(h * np.maximum(vals, 0.0)) * scale
        kick = vecs @ (amp * rng.standard_normal(mean.size))
        x = 0  # X = (m_j, then q_jk for j < k), the order of the moments
        for j in range(p):
            m[j] += p * h * mean[x] + kick[x]
            x += 1
        for j in range(p):
            for k in range(j + 1, p):
                q[j, k] += p * h * mean[x] + kick[x]
                q[k, j] = q[j, k]
                x += 1
        now = duration if h == duration - now else now + h
    return now
