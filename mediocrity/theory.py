"""Closed-form theory of the escape from mediocrity (docs/science.md §2-§3).

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
    return -np.log1p(_noise_variance(p, gamma, noise)) / (2.0 * growth_rate(p, gamma, noise))


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


def _noise_variance(p, gamma, noise):
    """s_p: variance the SGD noise adds to each m_j during the escape, in units of 1/d."""
    lam = growth_rate(p, gamma, noise)
    return (2.0 * gamma / (p * lam)) * ((10.0 * p**2 - 6.0 * p + 8.0) / p**2 + noise)


def mean_log_noncentral_chi2(k, nc, terms: int | None = None):
    """E log X for X ~ noncentral chi2_k(nc): log 2 + sum_j Pois(j; nc/2) digamma(k/2 + j)
    (a Poisson mixture of central chi2_{k+2j}); numpy broadcasting."""
    from scipy.stats import poisson

    k, nc = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(nc, dtype=float))
    half = nc / 2.0
    if terms is None:
        top = float(np.nanmax(half)) if half.size else 0.0
        terms = int(top + 12.0 * np.sqrt(top) + 60)
    j = np.arange(terms)
    weights = poisson.pmf(j, half[..., None])
    return np.log(2.0) + np.sum(weights * digamma(k[..., None] / 2.0 + j), axis=-1)


def exit_time_fixed_start(m0_norm2, d, p, gamma, noise=0.0, threshold=0.01):
    """Mean SGD exit time from one given start |M(0)|^2 (e.g. the annealed p/d), linear regime.

    The SGD noise adds N(0, s_p/d) to each m_j (s_p as in sgd_noise_shift), so
    d |M_eff|^2 / s_p ~ noncentral chi2_p(d |M0|^2 / s_p) and
    <t_ex> = [log(T (p+1)/2) - log(s_p/d) - E log chi'2_p] / (2 lambda_p).
    Averaged over Gaussian starts it is exit_time_corrected (quenched); from a start that is
    typical (|M0|^2 = p/d) it lies *above* the noiseless ODE time at small p: the noise
    spreads log|M_eff|^2 downwards (Jensen) more than it raises |M_eff|^2. numpy only.
    """
    s = _noise_variance(p, gamma, noise)
    mean_log = mean_log_noncentral_chi2(p, d * np.asarray(m0_norm2, dtype=float) / s)
    lam = growth_rate(p, gamma, noise)
    return (np.log(threshold * (p + 1) / 2.0) - np.log(s / d) - mean_log) / (2.0 * lam)
