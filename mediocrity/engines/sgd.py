"""Engine `sgd`: full d-dimensional one-pass SGD of the committee (docs/science.md §1).

Per step: x ~ N(0, I_d), lambda_j = w_j.x/sqrt d, nu = w*.x/sqrt d,
g_j = (2/p)(f - y) lambda_j, w_j <- sqrt(d) (w_j - c_j x)/|w_j - c_j x| with
c_j = gamma g_j / sqrt d. The new norm is known without a pass over w_j:
|w_j - c_j x|^2 = d - 2 c_j sqrt(d) lambda_j + c_j^2 |x|^2, so a step is the draw of x,
p + 2 dot products and one fused update-and-rescale pass: ~3 p d flops plus d Gaussian
draws. Norms are reset exactly at every save, so rounding cannot accumulate.
"""

from __future__ import annotations

import math

import numba
import numpy as np

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


@numba.njit(cache=True, nogil=True, fastmath=True)
def _dot(a, b):
    """a.b, reassociated so that it vectorises (the order is fixed at compile time, so
    results are still bit-reproducible)."""
    acc = 0.0
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


@numba.njit(cache=True, nogil=True)
def sgd_step(w, wstar, x, z, gamma, noise, lam):
    """One SGD step on the sample x (d,) with label-noise normal z, in place on the rows
    w (p, d); |w_j|^2 = d on entry. lam (p,): scratch, holds lambda on return."""
    p, d = w.shape
    sqd = math.sqrt(d)
    xx = _dot(x, x)
    nu = _dot(wstar, x) / sqd
    f = 0.0
    for j in range(p):
        lam[j] = _dot(w[j], x) / sqd
        f += sigma(lam[j])
    y = target(nu) + math.sqrt(noise) * z
    coef = gamma * (f / p - y) / (p * sqd)
    for j in range(p):
        cj = coef * dsigma(lam[j])
        scale = sqd / math.sqrt(d - 2.0 * cj * sqd * lam[j] + cj * cj * xx)
        row = w[j]
        for i in range(d):
            row[i] = (row[i] - cj * x[i]) * scale


# error_model='numpy': after a floating-point overflow (absurd gamma) a row can be all
# zeros; d / 0 must give inf -> NaN, flagged as diverged, not raise ZeroDivisionError.
@numba.njit(cache=True, nogil=True, error_model="numpy")
def _normalised_gram(w, wstar, out):
    """out <- Gram(w*, w_1..w_p)/d after resetting each |w_j|^2 to exactly d."""
    p, d = w.shape
    for j in range(p):
        w[j] *= math.sqrt(d / _dot(w[j], w[j]))
    out[0, 0] = _dot(wstar, wstar) / d
    out[0, 1:] = (w @ wstar) / d
    out[1:, 0] = out[0, 1:]
    out[1:, 1:] = (w @ w.T) / d


@numba.njit(cache=True, nogil=True)
def sgd_run_chunk(w, wstar, rng, gamma, noise, save_steps, threshold, stop_steps,
                  risk_out, m_out, gram_out, track, pos, budget):
    """`sgd_run`, resumable and bounded like `gram_run_chunk` (pos = [saves written,
    steps done], at most `budget` steps per call, bit-identical to one call).
    Returns (finished, diverged)."""
    p, d = w.shape
    x = np.empty(d)
    lam = np.empty(p)
    g = np.empty((p + 1, p + 1))
    step = pos[1]
    limit = step + budget
    status = CONTINUE
    while status == CONTINUE and pos[0] < save_steps.shape[0]:
        n = pos[0]
        while step < save_steps[n]:
            if step >= limit:
                pos[1] = step
                return False, False
            for i in range(d):
                x[i] = rng.standard_normal()
            z = rng.standard_normal() if noise > 0.0 else 0.0
            sgd_step(w, wstar, x, z, gamma, noise, lam)
            step += 1
        _normalised_gram(w, wstar, g)
        status = save_and_check(n, step, g, risk_gram(g), risk_out, m_out, gram_out,
                                threshold, stop_steps, track, pos)
    return True, status == DIVERGED


@numba.njit(cache=True, nogil=True)
def sgd_run(w, wstar, rng, gamma, noise, save_steps, threshold, stop_steps, risk_out, m_out, gram_out):
    """Run SGD from (w (p, d), wstar (d,)), saving risk, M and the normalised Gram matrix
    at the step counts save_steps; same outputs, stopping rule and return value as
    `gram_run`. Draw order per step: d normals for x, then one normal z if noise > 0.
    In one call: `simulate` runs `sgd_run_chunk` in bounded chunks instead."""
    track = np.array([0.0, -1.0])
    pos = np.zeros(2, dtype=np.int64)
    _, diverged = sgd_run_chunk(w, wstar, rng, gamma, noise, save_steps, threshold,
                                stop_steps, risk_out, m_out, gram_out, track, pos, 2**62)
    return pos[0], diverged


def embed(gram: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (w (p, d), wstar (d,)) on the sphere of radius sqrt(d) whose normalised Gram
    matrix is `gram`, placed in the first coordinates: by the isotropy of x the SGD law of
    the overlaps depends on the start only through its Gram matrix."""
    r = gram.shape[0]
    vals, vecs = np.linalg.eigh(gram)
    keep = np.argsort(vals)[::-1][: min(r, d)]
    f = vecs[:, keep] * np.sqrt(np.clip(vals[keep], 0.0, None))  # gram = f f^T
    v = np.zeros((r, d))
    v[:, : f.shape[1]] = f * math.sqrt(d)
    return np.ascontiguousarray(v[1:]), v[0].copy()
