"""Closed-form theory of the escape from mediocrity (SCIENCE.md §2-§3).

Every function is vectorised: numpy arrays and xarray DataArrays broadcast through.
Time is in units t = steps gamma/(p d); samples n = t p d / gamma.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma


def growth_rate(p, gamma, noise=0.0):
    """lambda_p = 4 - 4 (gamma/p)(p^2 + p + 4)/p^2 - 2 gamma Delta / p: rate of |m_j| at M = 0, Q = I."""
    return 4.0 - 4.0 * (gamma / p) * (p**2 + p + 4) / p**2 - 2.0 * gamma * noise / p


def offdiagonal_rate(p, gamma):
    """Rate of the off-diagonal q_jk modes at M = 0, Q = I: -8/p + 64 gamma/p^3."""
    return -8.0 / p + 64.0 * gamma / p**3


def critical_gamma(p, noise=0.0):
    """gamma_c = 2 p^3 / (2 (p^2 + p + 4) + Delta p^2): M = 0 is stable for gamma > gamma_c."""
    return 2.0 * p**3 / (2.0 * (p**2 + p + 4) + noise * p**2)


def optimal_gamma(p, noise=0.0):
    """gamma* = gamma_c / 2, which minimises the samples to escape (there lambda_p = 2)."""
    return critical_gamma(p, noise) / 2.0


def exit_time_constant(p, threshold=0.01, initial="annealed"):
    """C_p in t_ex = (log d + C_p)/(2 lambda_p).

    annealed (|M(0)|^2 = p/d): C_p = log(T (p+1)/(2p));
    quenched (d |M(0)|^2 ~ chi^2_p): C_p = log(T (p+1)/4) - digamma(p/2).
    """
    if initial == "annealed":
        return np.log(threshold * (p + 1) / (2.0 * p))
    if initial == "quenched":
        return np.log(threshold * (p + 1) / 4.0) - digamma(p / 2.0)
    raise ValueError(f"initial = {initial!r}: allowed 'annealed' or 'quenched'")


def exit_time_linear(m0_norm2, p, gamma, noise=0.0, threshold=0.01):
    """Linear-regime exit time from a given |M(0)|^2: log[T (p+1) / (2 |M(0)|^2)] / (2 lambda_p)."""
    return np.log(threshold * (p + 1) / (2.0 * m0_norm2)) / (2.0 * growth_rate(p, gamma, noise))


def exit_time_annealed(d, p, gamma, noise=0.0, threshold=0.01):
    """t_ex = (log d + C_p)/(2 lambda_p) with C_p = log(T (p+1)/(2p)) (typical start |M|^2 = p/d)."""
    c = exit_time_constant(p, threshold, "annealed")
    return (np.log(d) + c) / (2.0 * growth_rate(p, gamma, noise))


def exit_time_quenched(d, p, gamma, noise=0.0, threshold=0.01):
    """<t_ex> over random starts d|M(0)|^2 ~ chi^2_p: C_p = log(T(p+1)/4) - digamma(p/2)."""
    c = exit_time_constant(p, threshold, "quenched")
    return (np.log(d) + c) / (2.0 * growth_rate(p, gamma, noise))


def sgd_noise_shift(p, gamma, noise=0.0):
    """First-order finite-d SGD-noise shift of the exit time (time units, negative):
    -log(1 + s_p)/(2 lambda_p), s_p = (2 gamma/(p lambda_p)) [(10p^2 - 6p + 8)/p^2 + Delta]."""
    lam = growth_rate(p, gamma, noise)
    s = (2.0 * gamma / (p * lam)) * ((10.0 * p**2 - 6.0 * p + 8.0) / p**2 + noise)
    return -np.log1p(s) / (2.0 * lam)


def exit_time_corrected(d, p, gamma, noise=0.0, threshold=0.01, initial="quenched"):
    """Exit time with the SGD-noise shift: (log d + C_p)/(2 lambda_p) + shift."""
    base = {"annealed": exit_time_annealed, "quenched": exit_time_quenched}[initial]
    return base(d, p, gamma, noise, threshold) + sgd_noise_shift(p, gamma, noise)


def samples_needed(d, p, gamma, noise=0.0, threshold=0.01, initial="annealed"):
    """n = t_ex p d / gamma samples to escape, t_ex annealed or quenched."""
    base = {"annealed": exit_time_annealed, "quenched": exit_time_quenched}[initial]
    return base(d, p, gamma, noise, threshold) * p * d / gamma


def optimal_samples(d, p, noise=0.0, threshold=0.01, initial="annealed"):
    """n* = [(p^2+p+4)/(2 p^2) + Delta/4] d (log d + C_p): samples at gamma = gamma*."""
    c = exit_time_constant(p, threshold, initial)
    return ((p**2 + p + 4) / (2.0 * p**2) + noise / 4.0) * d * (np.log(d) + c)


def overparameterization_gain(noise=0.0):
    """n*(p=1)/n*(p -> inf) = (12 + Delta)/(2 + Delta), the leading (d log d) ratio."""
    return (12.0 + noise) / (2.0 + noise)


def plateau_risk_p1(gamma, noise):
    """Asymptotic risk at p = 1: R_inf = gamma Delta / (1 - 6 gamma) (gamma < 1/6)."""
    return gamma * noise / (1.0 - 6.0 * gamma)
