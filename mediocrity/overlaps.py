"""Sufficient statistics: overlaps M, Q, their Gram matrix, and the excess risk.

m_j = w_j.w*/d, q_jk = w_j.w_k/d; the Gram matrix of (w*, w_1..w_p) divided by d is
G = [[1, M^T], [M, Q]] (index 0 is the teacher).
"""

from __future__ import annotations

import numba
import numpy as np


def risk_from_overlaps(m, q):
    """R = 1/2 [3 - (2/p)(tr Q + 2|M|^2) + (1/p^2)((tr Q)^2 + 2 tr Q^2)]  (noise excluded).

    m: (..., p), q: (..., p, p); returns (...). Equals E[(f - f*)^2]/2 for x ~ N(0, I).
    """
    m = np.asarray(m, dtype=float)
    q = np.asarray(q, dtype=float)
    p = m.shape[-1]
    tr = np.trace(q, axis1=-2, axis2=-1)
    tr2 = np.einsum("...jk,...kj->...", q, q)
    return 0.5 * (3.0 - (2.0 / p) * (tr + 2.0 * np.sum(m * m, axis=-1))
                  + (tr * tr + 2.0 * tr2) / p**2)


@numba.njit(cache=True, nogil=True)
def risk_from_gram(g):
    """Same risk from the normalised Gram matrix g = [[rho, M^T], [M, Q]] (r x r), rho = 1."""
    r = g.shape[0]
    p = r - 1
    tr = 0.0
    tr2 = 0.0
    m2 = 0.0
    for j in range(1, r):
        tr += g[j, j]
        m2 += g[0, j] * g[0, j]
        for k in range(1, r):
            tr2 += g[j, k] * g[j, k]
    return 0.5 * (3.0 - (2.0 / p) * (tr + 2.0 * m2) + (tr * tr + 2.0 * tr2) / (p * p))


def gram_from_overlaps(m, q) -> np.ndarray:
    """G = [[1, M^T], [M, Q]] for m of shape (p,) or (p, 1) and q of shape (p, p)."""
    m = np.asarray(m, dtype=float).reshape(-1)
    q = np.asarray(q, dtype=float)
    p = m.size
    g = np.empty((p + 1, p + 1))
    g[0, 0] = 1.0
    g[0, 1:] = g[1:, 0] = m
    g[1:, 1:] = q
    return g
