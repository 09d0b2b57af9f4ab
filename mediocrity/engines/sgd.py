"""Engine `sgd`: full d-dimensional one-pass SGD of the committee (SCIENCE.md §1).

Per step: x ~ N(0, I_d), lambda_j = w_j.x/sqrt d, nu = w*.x/sqrt d,
g_j = (2/p)(f - y) lambda_j, w_j <- sqrt(d) (w_j - c_j x)/|w_j - c_j x| with
c_j = gamma g_j / sqrt d. The new norm is known without a pass over w_j:
|w_j - c_j x|^2 = d - 2 c_j sqrt(d) lambda_j + c_j^2 |x|^2, so a step is one fused pass
(draw x, all dot products) and one update pass: ~3 p d flops plus d Gaussian draws.
Norms are reset exactly at every save, so rounding cannot accumulate.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..overlaps import risk_from_gram


@numba.njit(cache=True, nogil=True)
def sgd_update(w, wstar, x, xx, nu, lam, z, gamma, noise):
    """Apply one step given the sample x (|x|^2 = xx) and its fields nu, lam (p,), in place
    on w (d, p); z is the label-noise normal. Assumes |w_j|^2 = d on entry."""
    d, p = w.shape
    sqd = math.sqrt(d)
    f = 0.0
    for j in range(p):
        f += lam[j] * lam[j]
    f /= p
    y = nu * nu + math.sqrt(noise) * z
    c = np.empty(p)
    s = np.empty(p)
    for j in range(p):
        c[j] = gamma * 2.0 * (f - y) * lam[j] / (p * sqd)
        s[j] = sqd / math.sqrt(d - 2.0 * c[j] * sqd * lam[j] + c[j] * c[j] * xx)
    for i in range(d):
        xi = x[i]
        for j in range(p):
            w[i, j] = (w[i, j] - c[j] * xi) * s[j]


@numba.njit(cache=True, nogil=True)
def _normalised_gram(w, wstar, out):
    """out <- Gram(w*, w_1..w_p)/d after resetting each |w_j|^2 to exactly d."""
    d, p = w.shape
    for j in range(p):
        nrm = 0.0
        for i in range(d):
            nrm += w[i, j] * w[i, j]
        scale = math.sqrt(d / nrm)
        for i in range(d):
            w[i, j] *= scale
    out[0, 0] = (wstar @ wstar) / d
    out[0, 1:] = (wstar @ w) / d
    out[1:, 0] = out[0, 1:]
    out[1:, 1:] = (w.T @ w) / d


@numba.njit(cache=True, nogil=True)
def sgd_run(w, wstar, rng, gamma, noise, save_steps, threshold, stop_steps,
            risk_out, m_out, gram_out):
    """Run SGD from (w (d, p), wstar (d,)), saving risk, M and the normalised Gram matrix
    at the step counts save_steps; same outputs, stopping rule and return value as
    `gram_run`."""
    d, p = w.shape
    sqd = math.sqrt(d)
    x = np.empty(d)
    lam = np.empty(p)
    step = 0
    stop_at = -1
    r0 = 0.0
    for n in range(save_steps.shape[0]):
        target = save_steps[n]
        while step < target:
            lam[:] = 0.0
            nu = 0.0
            xx = 0.0
            for i in range(d):
                xi = rng.standard_normal()
                x[i] = xi
                xx += xi * xi
                nu += wstar[i] * xi
                for j in range(p):
                    lam[j] += w[i, j] * xi
            for j in range(p):
                lam[j] /= sqd
            z = rng.standard_normal() if noise > 0.0 else 0.0
            sgd_update(w, wstar, x, xx, nu / sqd, lam, z, gamma, noise)
            step += 1
        g = gram_out[n if gram_out.shape[0] > 1 else 0]
        _normalised_gram(w, wstar, g)
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


def embed(gram: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (w (d, p), wstar (d,)) on the sphere of radius sqrt(d) whose normalised Gram
    matrix is `gram`, placed in the first coordinates: by the isotropy of x the SGD law of
    the overlaps depends on the start only through its Gram matrix."""
    r = gram.shape[0]
    vals, vecs = np.linalg.eigh(gram)
    keep = np.argsort(vals)[::-1][: min(r, d)]
    f = vecs[:, keep] * np.sqrt(np.clip(vals[keep], 0.0, None))  # gram = f f^T
    v = np.zeros((r, d))
    v[:, : f.shape[1]] = f * math.sqrt(d)
    return np.ascontiguousarray(v[1:].T), v[0].copy()
