"""Gaussian moments of the one-step increment of the overlaps, in closed form.

One SGD step changes the state X = (M, q_jk for j < k) by (gamma/d) xi + O((gamma/d)^2),
xi a polynomial in the local fields u = (nu, lambda_1..lambda_p) ~ N(0, G) and the label
noise z ~ N(0, 1) (docs/science.md §4, normalised units). With the error
e = f - y = h - sqrt(Delta) z, h = u^T H u, H = diag(-1, 1/p, .., 1/p), g_j = (2/p) e lambda_j:
    X_j  = -g_j nu = x(e) nu lambda_j,                      x(e) = -(2/p) e
    Y_jk = -(g_j lambda_k + g_k lambda_j) + gamma g_j g_k = phi(e) lambda_j lambda_k,
                                          phi(e) = -(4/p) e + (4 gamma/p^2) e^2
    xi_mj = X_j - m_j Y_jj / 2,   xi_qjk = Y_jk - q_jk (Y_jj + Y_kk) / 2
(the last two: the spherical rescaling w_j -> sqrt(d) w_j/|w_j| to first order).
Every first and second moment of xi is then a sum of E[P(h) u_a u_b] and
E[P(h) u_a u_b u_c u_d], P of degree <= 4 (z averaged first). Tilting by exp(s h) keeps
u Gaussian (Wick/Isserlis under the tilted covariance):
    E[exp(s h) F(u)] = Z(s) E_{G_s}[F],  G_s = (I - 2 s G H)^{-1} G = sum_n A_n s^n,
    A_n = 2^n (G H)^n G,   Z(s) = det(I - 2 s G H)^{-1/2} = sum_n z_n s^n,
    E[h^k u_a u_b]         = k! sum_{i+j=k} z_i A_j[ab]
    E[h^k u_a u_b u_c u_d] = k! sum_{i+j+l=k} z_i (A_j[ab] A_l[cd] + A_j[ac] A_l[bd]
                                                  + A_j[ad] A_l[bc]).
No inverse of G is needed, so a singular G (a student equal to the teacher) is fine.
"""

from __future__ import annotations

from math import comb, factorial

import numba
import numpy as np
from numpy.polynomial import polynomial as P

ORDER = 4  # highest power of h that appears (in phi(e)^2)


def noise_average(poly_e, noise: float) -> np.ndarray:
    """Coefficients in h (length ORDER + 1) of E_z[P(h - sqrt(Delta) z)], z ~ N(0, 1),
    for P given by its coefficients in e, lowest order first."""
    out = np.zeros(ORDER + 1)
    for n, c in enumerate(np.atleast_1d(np.asarray(poly_e, dtype=float))):
        for i in range(0, n + 1, 2):  # E z^i = (i - 1)!! for even i
            double_factorial = np.prod(np.arange(i - 1, 0, -2, dtype=float))
            out[n - i] += c * comb(n, i) * noise ** (i // 2) * double_factorial
    return out


def increment_tables(p: int, gamma: float, noise: float):
    """Index and polynomial tables of the raw variables V = (X_j, Y_jj, Y_jk j<k):
    (pair_a, pair_b) their u-indices (0 = teacher), kind 0 for X / 1 for Y, the
    noise-averaged h-polynomials times k! of E[V] (2, 5) and E[V V] (2, 2, 5)."""
    neuron = np.arange(1, p + 1)
    up_j, up_k = np.triu_indices(p, 1)
    pair_a = np.r_[np.zeros(p, dtype=np.int64), neuron, up_j + 1]
    pair_b = np.r_[neuron, neuron, up_k + 1]
    kind = np.r_[np.zeros(p, dtype=np.int64), np.ones(p + up_j.size, dtype=np.int64)]
    polys = (np.array([0.0, -2.0 / p]), np.array([0.0, -4.0 / p, 4.0 * gamma / p**2]))
    kfact = np.array([float(factorial(k)) for k in range(ORDER + 1)])
    first = np.array([noise_average(a, noise) for a in polys]) * kfact
    second = np.array([[noise_average(P.polymul(a, b), noise) for b in polys]
                       for a in polys]) * kfact
    return pair_a, pair_b, kind, first, second


@numba.njit(cache=True, nogil=True)
def increment_moments_kernel(m, q, pair_a, pair_b, kind, first, second):
    """(mean (n,), cov (n, n)) of xi at the state (m, q); tables from increment_tables."""
    p = m.size
    r = p + 1
    nv = pair_a.size
    g = np.empty((r, r))
    g[0, 0] = 1.0
    g[0, 1:] = m
    g[1:, 0] = m
    g[1:, 1:] = q
    # tilted series: a[n] = 2^n (G H)^n G, z = series of det(I - 2 s G H)^(-1/2)
    gh = g.copy()
    gh[:, 0] *= -1.0
    gh[:, 1:] /= p
    a = np.empty((ORDER + 1, r, r))
    a[0] = g
    power = np.eye(r)
    logz = np.zeros(ORDER + 1)
    z = np.zeros(ORDER + 1)
    z[0] = 1.0
    for n in range(1, ORDER + 1):
        power = power @ gh
        a[n] = 2.0**n * (power @ g)
        logz[n] = 2.0 ** (n - 1) * np.trace(power) / n
        acc = 0.0
        for k in range(1, n + 1):
            acc += k * logz[k] * z[n - k]
        z[n] = acc / n
    # weights w1[kind, j] = sum_k c_k k! z_{k-j}; w2[kind, kind', j, l] = ... z_{k-j-l}
    w1 = np.zeros((2, ORDER + 1))
    w2 = np.zeros((2, 2, ORDER + 1, ORDER + 1))
    for k in range(ORDER + 1):
        for j in range(k + 1):
            for s in range(2):
                w1[s, j] += first[s, k] * z[k - j]
            for l in range(k - j + 1):
                for s in range(2):
                    for t in range(2):
                        w2[s, t, j, l] += second[s, t, k] * z[k - j - l]
    mean_v = np.zeros(nv)
    for x in range(nv):
        for j in range(ORDER + 1):
            mean_v[x] += w1[kind[x], j] * a[j, pair_a[x], pair_b[x]]
    cov_v = np.empty((nv, nv))
    for x in range(nv):
        ia, ib = pair_a[x], pair_b[x]
        for y in range(x, nv):
            ic, id_ = pair_a[y], pair_b[y]
            w = w2[kind[x], kind[y]]
            acc = 0.0
            for j in range(ORDER + 1):
                for l in range(ORDER + 1 - j):
                    acc += w[j, l] * (a[j, ia, ib] * a[l, ic, id_]
                                      + a[j, ia, ic] * a[l, ib, id_]
                                      + a[j, ia, id_] * a[l, ib, ic])
            cov_v[x, y] = cov_v[y, x] = acc - mean_v[x] * mean_v[y]
    # first-order spherical projection xi = L V, each xi a combination of <= 3 V's
    n = nv - p
    idx = np.zeros((n, 3), dtype=np.int64)
    coef = np.zeros((n, 3))
    for j in range(p):
        idx[j, 0], idx[j, 1] = j, p + j
        coef[j, 0], coef[j, 1] = 1.0, -0.5 * m[j]
    for x in range(p, n):
        j, k = pair_a[p + x] - 1, pair_b[p + x] - 1
        idx[x, 0], idx[x, 1], idx[x, 2] = p + x, p + j, p + k
        coef[x, 0], coef[x, 1], coef[x, 2] = 1.0, -0.5 * q[j, k], -0.5 * q[j, k]
    mean = np.zeros(n)
    cov = np.zeros((n, n))
    for x in range(n):
        for s in range(3):
            mean[x] += coef[x, s] * mean_v[idx[x, s]]
        for y in range(x, n):
            acc = 0.0
            for s in range(3):
                for t in range(3):
                    acc += coef[x, s] * coef[y, t] * cov_v[idx[x, s], idx[y, t]]
            cov[x, y] = cov[y, x] = acc
    return mean, cov


def increment_moments(m, q, gamma: float, noise: float = 0.0):
    """Mean (n,) and covariance (n, n) of xi, the one-step increment of the state
    (M, q_jk for j < k) in units of gamma/d, n = p(p+1)/2 (exact Gaussian moments).

    p * mean is the ODE right-hand side; (p gamma/d) * cov is the diffusion per unit
    time of the overlaps (time t = steps gamma/(p d))."""
    m = np.ascontiguousarray(m, dtype=float).reshape(-1)
    q = np.ascontiguousarray(q, dtype=float)
    return increment_moments_kernel(m, q, *increment_tables(m.size, gamma, noise))


def sample_increments(gram: np.ndarray, d: int, gamma: float, noise: float,
                      rng: np.random.Generator, n: int) -> np.ndarray:
    """n independent exact one-step increments of the state (M, q_jk j < k) from the
    normalised Gram matrix `gram` (docs/science.md §4, vectorised): the Monte-Carlo reference
    of the closed forms above. Returns (n, p(p+1)/2), in overlap units (not gamma/d)."""
    r = gram.shape[0]
    p = r - 1
    xi = rng.standard_normal((n, r))
    u = xi @ np.linalg.cholesky(gram).T  # u ~ N(0, G): (nu, lambda)
    xx = np.einsum("ni,ni->n", xi, xi) + (rng.chisquare(d - r, n) if d > r else 0.0)
    f = np.einsum("nj,nj->n", u[:, 1:], u[:, 1:]) / p
    y = u[:, 0] ** 2 + np.sqrt(noise) * rng.standard_normal(n)
    e = np.zeros((n, r))
    e[:, 1:] = (gamma / d) * (2.0 / p) * (f - y)[:, None] * u[:, 1:]
    new = (gram - np.einsum("na,nb->nab", u, e) - np.einsum("na,nb->nab", e, u)
           + xx[:, None, None] * np.einsum("na,nb->nab", e, e))
    scale = 1.0 / np.sqrt(np.einsum("naa->na", new))
    new *= scale[:, :, None] * scale[:, None, :]
    up_j, up_k = np.triu_indices(p, 1)
    return np.concatenate([new[:, 0, 1:] - gram[0, 1:],
                           new[:, up_j + 1, up_k + 1] - gram[up_j + 1, up_k + 1]], axis=1)
