"""Statistics every study's fits use: weighted least squares and the one convention for
confidence intervals (CONFIDENCE, two-sided percentile intervals of bootstrap replicates).

Each study resamples its own way (what is resampled is part of its science: exit times of
the escaped runs per d, seeds paired across n, ...); the interval drawn from the
replicates is always `interval` at CONFIDENCE."""

from __future__ import annotations

import warnings

import numpy as np

CONFIDENCE = 0.95


def percentiles(confidence: float = CONFIDENCE) -> list[float]:
    """[lower, upper] percentile of a two-sided interval: 2.5 and 97.5 at 95 %."""
    tail = 50.0 * (1.0 - confidence)
    return [tail, 100.0 - tail]


def interval(boot, axis=0):
    """(lo, hi) percentile interval at CONFIDENCE over the replicates along `axis`,
    ignoring non-finite replicates (NaN with < 2 finite ones)."""
    values = np.asarray(boot, float)
    finite = np.isfinite(values).sum(axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        lo, hi = np.nanpercentile(values, percentiles(), axis=axis)
    return np.where(finite >= 2, lo, np.nan), np.where(finite >= 2, hi, np.nan)


def weighted_line(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Least squares of y = a + b x with weights w over the last axis (points with a
    non-finite y or w, or w <= 0, are dropped). Returns a, b, se(a), se(b) (weights taken
    as 1/sigma^2), chi^2 and the number of points; NaN where fewer than 2 distinct x."""
    ok = np.isfinite(y) & np.isfinite(w) & (w > 0)
    w = np.where(ok, w, 0.0)
    y = np.where(ok, y, 0.0)
    total = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_mean = (w * x).sum(-1) / total
        dx = x - x_mean[..., None]
        sxx = (w * dx**2).sum(-1)
        fit = (sxx > 0) & (ok.sum(-1) >= 2)
        sxx = np.where(fit, sxx, np.nan)
        slope = (w * dx * y).sum(-1) / sxx
        y_mean = (w * y).sum(-1) / total
        intercept = y_mean - slope * x_mean
        slope_se = np.sqrt(1.0 / sxx)
        intercept_se = np.sqrt(1.0 / total + x_mean**2 / sxx)
        residual = np.where(ok, y - intercept[..., None] - slope[..., None] * x, 0.0)
        chi2 = np.where(fit, (w * residual**2).sum(-1), np.nan)
    return intercept, slope, intercept_se, slope_se, chi2, ok.sum(-1)
