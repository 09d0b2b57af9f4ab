"""Exit time vs log d: <t_ex>(d) = a + b log d, per (engine, p, gamma, noise).

Weighted least squares with weights 1/sem^2 of each d's mean over seeds; 95% bootstrap
intervals by resampling seeds within each d and refitting. Theory (docs/science.md §3):
b = 1/(2 lambda_p), a = C_p/(2 lambda_p) + the SGD-noise shift, with the quenched C_p
(d |M(0)|^2 ~ chi^2_p: exact for init 'random', the expectation over the shared draw for
init 'fixed'). Times in units of steps gamma/(p d).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import xarray as xr

from . import theory

FIT_DIMS = ("engine", "p", "gamma", "noise")
CONFIDENCE = 0.95
BOOT_BLOCK_VALUES = 2_000_000  # bootstrap draws held in memory at once (per cell)
LATEX_QUANTITIES = ("slope", "slope_lo", "slope_hi", "slope_theory", "intercept",
                    "intercept_lo", "intercept_hi", "intercept_theory_corrected")


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


def _mean_and_weight(values: np.ndarray):
    """nan-mean over the last axis and its weight 1/sem^2 (0 where < 2 finite values)."""
    n = np.isfinite(values).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, -1) / n
        var = np.nansum((values - mean[..., None]) ** 2, -1) / (n - 1)
        weight = np.where(n >= 2, n / var, 0.0)
    return mean, np.where(np.isfinite(weight), weight, 0.0)


def _bootstrap(values: np.ndarray, x: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(intercept, slope) of n_boot refits, shape (2, n_boot): in each replicate the finite
    exit times of every d (values: (n_d, n_seed)) are redrawn with replacement, as many as
    there are. The generator restarts from `seed` for every cell (common random numbers)."""
    n_d, n_seed = values.shape
    ordered = np.sort(values, axis=-1)  # NaN last: the escaped seeds come first
    count = np.isfinite(ordered).sum(-1)
    keep = np.arange(n_seed) < count[:, None]
    rows = np.arange(n_d)[:, None]
    rng = np.random.default_rng(seed)
    block = max(1, BOOT_BLOCK_VALUES // max(1, n_d * n_seed))
    out = np.empty((2, n_boot))
    for start in range(0, n_boot, block):
        size = min(block, n_boot - start)
        pick = (rng.random((size, n_d, n_seed)) * count[:, None]).astype(np.int64)
        draws = np.where(keep, ordered[rows, np.minimum(pick, n_seed - 1)], np.nan)
        mean, weight = _mean_and_weight(draws)
        a, b, *_ = weighted_line(x, mean, weight)
        out[:, start:start + size] = a, b
    return out


def _fit_cell(values: np.ndarray, x: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Fit and bootstrap of one cell: values (n_d, n_seed) -> the FIT_VARS vector."""
    mean, weight = _mean_and_weight(values)
    a, b, a_se, b_se, chi2, n_points = weighted_line(x, mean, weight)
    chi2_dof = chi2 / (n_points - 2) if n_points > 2 else np.nan
    lo = hi = np.full(2, np.nan)
    if np.isfinite(b):
        boot = _bootstrap(values, x, n_boot, seed)
        finite = boot[:, np.isfinite(boot).all(0)]
        if finite.shape[1] >= 2:
            tail = 50.0 * (1.0 - CONFIDENCE)
            lo, hi = np.percentile(finite, [tail, 100.0 - tail], axis=1)
    return np.array([a, b, a_se, b_se, chi2_dof, n_points, lo[0], hi[0], lo[1], hi[1]])


FIT_VARS = {
    "intercept": "fitted a of <t_ex> = a + b log d (time units)",
    "slope": "fitted b of <t_ex> = a + b log d (time units per e-fold of d)",
    "intercept_se": "standard error of a (WLS, weights 1/sem^2)",
    "slope_se": "standard error of b (WLS, weights 1/sem^2)",
    "chi2_dof": "chi^2 per degree of freedom of the WLS fit",
    "n_d": "number of d values in the fit",
    "intercept_lo": "lower end of the 95% bootstrap interval of a",
    "intercept_hi": "upper end of the 95% bootstrap interval of a",
    "slope_lo": "lower end of the 95% bootstrap interval of b",
    "slope_hi": "upper end of the 95% bootstrap interval of b",
}


def fit_exit_times(exit_times: xr.Dataset, n_boot: int = 1000, bootstrap_seed: int = 0,
                   threshold: float | None = None, d_min: float | None = None) -> xr.Dataset:
    """Fit <t_ex> = a + b log d per (engine, p, gamma, noise) and set the theory beside.

    exit_times: a store with `exit_time` (engine, d, p, gamma, noise, seed). n_boot:
    bootstrap replicates; bootstrap_seed: seed of the bootstrap generator. threshold: T of
    the exit time (default: the store's attrs). d_min: fit only d >= d_min (the log-d law
    is asymptotic: at d ~ 10^2 finite-d corrections bend <t_ex> up). Returns the FIT_VARS and slope_theory =
    1/(2 lambda_p), intercept_theory = C_p/(2 lambda_p) (quenched C_p), sgd_noise_shift,
    intercept_theory_corrected = their sum, slope_agrees (theory inside the interval).
    """
    if n_boot < 1:
        raise ValueError(f"n_boot = {n_boot}: need at least 1 bootstrap replicate")
    threshold = float(exit_times.attrs["threshold"] if threshold is None else threshold)
    t_ex = exit_times.exit_time.astype(float)
    if d_min is not None:
        t_ex = t_ex.sel(d=t_ex.d >= d_min)
    fitted = xr.apply_ufunc(
        _fit_cell, t_ex, kwargs={"x": np.log(t_ex.d.values.astype(float)),
                                 "n_boot": int(n_boot), "seed": int(bootstrap_seed)},
        input_core_dims=[["d", "seed"]], output_core_dims=[["quantity"]],
        vectorize=True, dask="parallelized", output_dtypes=[float],
        dask_gufunc_kwargs={"output_sizes": {"quantity": len(FIT_VARS)}})
    fits = xr.Dataset({name: fitted.isel(quantity=k).drop_vars("quantity", errors="ignore")
                       .assign_attrs(long_name=text)
                       for k, (name, text) in enumerate(FIT_VARS.items())})
    fits["n_d"] = fits.n_d.fillna(0).astype(int)
    p, gamma, noise = fits.p, fits.gamma, fits.noise
    rate = theory.growth_rate(p, gamma, noise)
    fits["slope_theory"] = (1.0 / (2.0 * rate)).assign_attrs(long_name="1/(2 lambda_p)")
    fits["intercept_theory"] = (theory.exit_time_constant(p, threshold, "quenched")
                                / (2.0 * rate)).assign_attrs(
        long_name="C_p/(2 lambda_p), quenched C_p = log(T(p+1)/4) - digamma(p/2)")
    fits["sgd_noise_shift"] = theory.sgd_noise_shift(p, gamma, noise).assign_attrs(
        long_name="first-order SGD-noise shift -log(1 + s_p)/(2 lambda_p)")
    fits["intercept_theory_corrected"] = (fits.intercept_theory + fits.sgd_noise_shift
                                          ).assign_attrs(long_name="C_p/(2 lambda_p) + shift")
    fits["slope_agrees"] = ((fits.slope_lo <= fits.slope_theory)
                            & (fits.slope_theory <= fits.slope_hi)).assign_attrs(
        long_name="1/(2 lambda_p) inside the 95% bootstrap interval of the slope")
    fits = xr.Dataset({name: var.broadcast_like(fits.slope) for name, var in fits.items()})
    return fits.transpose(*FIT_DIMS).assign_attrs(
        {k: v for k, v in exit_times.attrs.items() if k != "threshold"},
        threshold=threshold, n_boot=int(n_boot), bootstrap_seed=int(bootstrap_seed),
        d_min=float(t_ex.d.min()) if t_ex.d.size else float("nan"),
        confidence=CONFIDENCE, theory_initial="quenched",
        method="WLS of the seed-mean exit time on log d, weights 1/sem^2; percentile "
               "bootstrap over seeds resampled within each d")


def fits_table(fits: xr.Dataset) -> pd.DataFrame:
    """One row per fitted (engine, p, gamma, noise) cell (cells without data dropped)."""
    table = fits.to_dataframe().reset_index()
    return table[table.n_d > 0].reset_index(drop=True)


def write_fits_csv(fits: xr.Dataset, path) -> None:
    """The `fits_table` as CSV, full float precision."""
    fits_table(fits).to_csv(path, index=False, float_format="%.17g")


def read_fits_csv(path) -> xr.Dataset:
    """Inverse of `write_fits_csv`: a Dataset over FIT_DIMS."""
    return pd.read_csv(path).set_index(list(FIT_DIMS)).to_xarray()


def write_fits_netcdf(fits: xr.Dataset, path) -> None:
    """The fits Dataset as netCDF (bool slope_agrees is stored as a flagged byte)."""
    fits.to_netcdf(path)


DIGIT_WORDS = dict(zip("0123456789", ("Zero", "One", "Two", "Three", "Four", "Five", "Six",
                                      "Seven", "Eight", "Nine")))


def latex_word(value) -> str:
    """A number or a name as letters only: 0.1 -> ZeroPointOne, 1e-4 ->
    ZeroPointZeroZeroZeroOne, -2 -> MinusTwo, 'sgd' -> Sgd."""
    if isinstance(value, str):
        return "".join(part.capitalize() for part in re.split(r"[^A-Za-z]+", value))
    text = np.format_float_positional(float(value), trim="-")
    words = {".": "Point", "-": "Minus", **DIGIT_WORDS}
    return "".join(words[c] for c in text)


def latex_name(quantity: str, cell: dict) -> str:
    """Macro name: slope_lo at engine=sgd, p=1, gamma=0.1, noise=0 ->
    slopeLoSgdPOneGammaZeroPointOneNoiseZero (letters only, valid in LaTeX)."""
    head, *rest = quantity.split("_")
    name = head + "".join(part.capitalize() for part in rest) + latex_word(cell["engine"])
    for dim in FIT_DIMS[1:]:
        name += dim.capitalize() + latex_word(cell[dim])
    return name


def latex_number(value: float, digits: int = 3) -> str:
    """value to `digits` significant digits (trailing zeros kept); powers of ten as
    a \\times 10^{e} (math-safe through \\ensuremath); NaN as \\textrm{n/a}."""
    if not np.isfinite(value):
        return r"\textrm{n/a}"
    text = f"{value:#.{digits}g}".rstrip(".")  # '#' keeps trailing zeros: 0.310
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"\ensuremath{{{mantissa}\times 10^{{{int(exponent)}}}}}"
    return text


def latex_macros(fits: xr.Dataset, digits: int = 3) -> str:
    """\\newcommand lines for the LATEX_QUANTITIES of every fitted cell."""
    lines = [f"% exit time vs log d, <t_ex> = a + b log d; {fits.attrs.get('method', '')}",
             f"% {int(fits.attrs.get('n_boot', 0))} bootstrap replicates, "
             f"confidence {fits.attrs.get('confidence', CONFIDENCE)}, "
             f"theory C_p: {fits.attrs.get('theory_initial', 'quenched')}"]
    for row in fits_table(fits).itertuples(index=False):
        cell = row._asdict()
        for quantity in LATEX_QUANTITIES:
            name = latex_name(quantity, cell)
            lines.append(rf"\newcommand{{\{name}}}{{{latex_number(cell[quantity], digits)}}}")
    return "\n".join(lines) + "\n"


def write_latex_macros(fits: xr.Dataset, path, digits: int = 3) -> None:
    """`latex_macros` to a .tex file to \\input from the paper."""
    with open(path, "w") as stream:
        stream.write(latex_macros(fits, digits))
