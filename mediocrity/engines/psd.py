"""The semidefinite-safe Cholesky factor of a Gram matrix, shared by the engines `gram` and
`sde` (quadrature.py) without importing either's kernels."""

from __future__ import annotations

import math

import numba

# Relative Schur complement below which a direction counts as already spanned.
SINGULAR_TOL = 1e-14


@numba.njit(cache=True, nogil=True)
def psd_cholesky(g, low):
    """low <- lower-triangular L with L L^T = g for positive-semidefinite g (teacher first,
    g[0, 0] = 1); a column whose Schur complement is <= SINGULAR_TOL g_jj is set to 0."""
    r = g.shape[0]
    for j in range(r):
        s = g[j, j]
        for k in range(j):
            s -= low[j, k] * low[j, k]
        if s > SINGULAR_TOL * g[j, j]:
            ljj = math.sqrt(s)
            inv = 1.0 / ljj
        else:
            ljj = 0.0
            inv = 0.0
        low[j, j] = ljj
        for i in range(j + 1, r):
            a = g[i, j]
            for k in range(j):
                a -= low[i, k] * low[j, k]
            low[i, j] = a * inv
