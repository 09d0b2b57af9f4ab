"""Exit time vs log d: <t_ex>(d) = a + b log d, per (engine, p, gamma, noise), and per d
range (`fit_ranges`: each engine over its own range, and every engine over the d values
where the exact chain and the SDE overlap); the two-sample comparison of the exact and
SDE exit times at each common d (`engine_agreement`).

Weighted least squares with weights 1/sem^2 of each d's mean over seeds; 95% bootstrap
intervals by resampling seeds within each d and refitting. Theory (docs/science.md §3):
b = 1/(2 lambda_p), a = C_p/(2 lambda_p) + the SGD-noise shift, with the quenched C_p
(d |M(0)|^2 ~ chi^2_p: exact for init 'random', the expectation over the shared draw for
init 'fixed'). Times in units of steps gamma/(p d).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from ... import theory
from ...engines import registry
from ...pipeline.stats import CONFIDENCE, percentiles, weighted_line
from ...pipeline.tex import latex_number, latex_word

FIT_DIMS = ("engine", "p", "gamma", "noise")
RANGE_DIM = "d_range"  # fits over several d ranges: dims (d_range, *FIT_DIMS)
OWN_RANGE, OVERLAP_RANGE = "own", "overlap"
EXACT_ENGINES = registry.exact_names()  # the same law at every d
# the diffusion approximation (O(1/d) off the exact law): the stochastic inexact engine
DIFFUSION = next(e.name for e in registry.ENGINES if e.stochastic and not e.exact)
BOOT_BLOCK_VALUES = 2_000_000  # bootstrap draws held in memory at once (per cell)
LATEX_QUANTITIES = ("slope", "slope_lo", "slope_hi", "slope_theory", "intercept",
                    "intercept_lo", "intercept_hi", "intercept_theory_corrected", "d_lo",
                    "d_hi")
AGREEMENT_KEYS = ("reference", "engine", "p", "gamma", "noise", "d")
AGREEMENT_LATEX = ("difference", "difference_se", "z", "welch_p", "ks_p")


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


def _fit_cell(values: np.ndarray, d: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Fit and bootstrap of one cell: values (n_d, n_seed) -> the FIT_VARS vector."""
    x = np.log(d)
    mean, weight = _mean_and_weight(values)
    a, b, a_se, b_se, chi2, n_points = weighted_line(x, mean, weight)
    used = np.isfinite(mean) & (weight > 0)
    d_lo, d_hi = (d[used].min(), d[used].max()) if used.any() else (np.nan, np.nan)
    chi2_dof = chi2 / (n_points - 2) if n_points > 2 else np.nan
    lo = hi = np.full(2, np.nan)
    if np.isfinite(b):
        boot = _bootstrap(values, x, n_boot, seed)
        finite = boot[:, np.isfinite(boot).all(0)]
        if finite.shape[1] >= 2:
            lo, hi = np.percentile(finite, percentiles(), axis=1)
    return np.array([a, b, a_se, b_se, chi2_dof, n_points, lo[0], hi[0], lo[1], hi[1],
                     d_lo, d_hi])


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
    "d_lo": "smallest d in the fit",
    "d_hi": "largest d in the fit",
}


def fit_exit_times(exit_times: xr.Dataset, n_boot: int = 1000, bootstrap_seed: int = 0,
                   threshold: float | None = None, d_min: float | None = None) -> xr.Dataset:
    """Fit <t_ex> = a + b log d per (engine, p, gamma, noise) and set the theory beside.

    exit_times: a store with `exit_time` (engine, d, p, gamma, noise, seed). n_boot:
    bootstrap replicates; bootstrap_seed: seed of the bootstrap generator. threshold: T of
    the exit time (default: the store's attrs). d_min: fit only d >= d_min (the log-d law
    is asymptotic: at d ~ 10^2 finite-d corrections bend <t_ex> up). Returns the
    FIT_VARS and slope_theory = 1/(2 lambda_p), intercept_theory = C_p/(2 lambda_p)
    (quenched C_p), sgd_noise_shift, intercept_theory_corrected = their sum, slope_agrees
    (theory inside the interval)."""
    if n_boot < 1:
        raise ValueError(f"n_boot = {n_boot}: need at least 1 bootstrap replicate")
    threshold = float(exit_times.attrs["threshold"] if threshold is None else threshold)
    t_ex = exit_times.exit_time.astype(float)
    if d_min is not None:
        t_ex = t_ex.sel(d=t_ex.d >= d_min)
    fitted = xr.apply_ufunc(
        _fit_cell, t_ex, kwargs={"d": t_ex.d.values.astype(float),
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


def engine_kind(engine: str) -> str:
    """'exact' for the engines that sample the exact law (auto, gram, sgd), else the name."""
    return "exact" if engine in EXACT_ENGINES else str(engine)


def _has_data(exit_times: xr.Dataset, engines) -> np.ndarray:
    """d values where one of `engines` has a finite exit time (any p, gamma, noise)."""
    engines = [e for e in exit_times.engine.values if e in engines]
    if not engines:
        return np.array([])
    finite = exit_times.exit_time.sel(engine=engines).notnull()
    return exit_times.d.values[finite.any([dim for dim in finite.dims if dim != "d"]).values]


def fit_ranges(exit_times: xr.Dataset, d_min: float | None = None,
               d_min_sde: float | None = None) -> dict[str, dict[str, list]]:
    """The d ranges of the fits, {range: {engine: [d_lo, d_hi]}} (None: open end).

    'own': every exact engine (auto, gram, sgd) over d >= d_min, the sde over
    d >= d_min_sde (None: every d). 'overlap' (when the store has an exact engine and the
    sde): every engine over the d values where both have exit times, d >= d_min: the
    same points for both, so their slopes compare like for like."""
    engines = [str(e) for e in exit_times.engine.values]
    ranges = {OWN_RANGE: {e: [d_min_sde if e == DIFFUSION else d_min, None] for e in engines}}
    common = np.intersect1d(_has_data(exit_times, EXACT_ENGINES), _has_data(exit_times, [DIFFUSION]))
    common = common[common >= (d_min or 0)]
    if common.size >= 2:
        ranges[OVERLAP_RANGE] = {e: [int(common.min()), int(common.max())] for e in engines}
    return ranges


def fit_by_range(exit_times: xr.Dataset, ranges: dict, n_boot: int = 1000,
                 bootstrap_seed: int = 0, threshold: float | None = None) -> xr.Dataset:
    """`fit_exit_times` over each named d range ({range: {engine: [d_lo, d_hi]}}, None =
    open end; an engine not named is not fitted), stacked along RANGE_DIM. d_lo and d_hi
    of each cell are the d values its fit used; attrs['d_ranges'] the ranges as JSON."""
    parts = []
    for name, bounds in ranges.items():
        lo = [bounds.get(str(e), [np.inf])[0] for e in exit_times.engine.values]
        hi = [bounds.get(str(e), [None, None])[1] for e in exit_times.engine.values]
        lo = xr.DataArray([-np.inf if v is None else float(v) for v in lo], dims="engine")
        hi = xr.DataArray([np.inf if v is None else float(v) for v in hi], dims="engine")
        inside = (exit_times.d >= lo) & (exit_times.d <= hi)
        masked = exit_times.assign(exit_time=exit_times.exit_time.where(inside))
        part = fit_exit_times(masked, n_boot, bootstrap_seed, threshold)
        parts.append(part.expand_dims({RANGE_DIM: [name]}))
    fits = xr.concat(parts, RANGE_DIM, combine_attrs="override")
    fits[RANGE_DIM].attrs["long_name"] = (
        f"d range of the fit: {OWN_RANGE} = each engine over its configured range, "
        f"{OVERLAP_RANGE} = every engine over the d values where exact and sde overlap")
    fits.attrs.pop("d_min", None)
    fits.attrs["d_ranges"] = json.dumps(ranges, sort_keys=True)
    return fits


def engine_agreement(exit_times: xr.Dataset, engine: str = DIFFUSION) -> pd.DataFrame:
    """Two-sample comparison of `engine`'s exit times with each exact engine's at every
    (p, gamma, noise, d) where both have at least 2 (escaped runs only).

    One row per comparison (AGREEMENT_KEYS, reference = the exact engine): the counts,
    means and standard errors, difference = mean(engine) - mean(reference), its standard
    error sqrt(sem_ref^2 + sem^2) and z = difference / difference_se; Welch's t test
    (welch_t, welch_dof, welch_p; scipy.stats.ttest_ind, equal_var=False) and the
    two-sample Kolmogorov-Smirnov test of the whole distributions (ks_statistic, ks_p;
    scipy.stats.ks_2samp). Sorted by reference, p, gamma, noise, d."""
    from scipy import stats

    columns = [*AGREEMENT_KEYS, "n_reference", "n_engine", "mean_reference", "sem_reference",
               "mean_engine", "sem_engine", "difference", "difference_se", "z", "welch_t",
               "welch_dof", "welch_p", "ks_statistic", "ks_p"]
    rows = []
    names = [str(e) for e in exit_times.engine.values]
    if engine not in names:
        return pd.DataFrame(columns=columns)
    t_ex = exit_times.exit_time.astype(float)
    for reference in [e for e in names if e in EXACT_ENGINES]:
        for p in t_ex.p.values:
            for gamma in t_ex.gamma.values:
                for noise in t_ex.noise.values:
                    for d in t_ex.d.values:
                        cell = t_ex.sel(p=p, gamma=gamma, noise=noise, d=d)
                        a = cell.sel(engine=reference).values
                        b = cell.sel(engine=engine).values
                        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
                        if a.size < 2 or b.size < 2:
                            continue
                        sem_a, sem_b = (np.std(v, ddof=1) / np.sqrt(v.size) for v in (a, b))
                        diff, diff_se = b.mean() - a.mean(), np.hypot(sem_a, sem_b)
                        welch = stats.ttest_ind(b, a, equal_var=False)
                        ks = stats.ks_2samp(b, a)
                        rows.append([reference, engine, int(p), float(gamma), float(noise),
                                     int(d), a.size, b.size, a.mean(), sem_a, b.mean(), sem_b,
                                     diff, diff_se, diff / diff_se, welch.statistic,
                                     welch.df, welch.pvalue, ks.statistic, ks.pvalue])
    return pd.DataFrame(rows, columns=columns)


def agreement_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (reference, engine, p, gamma, noise): the d values compared, chi^2 = sum of z^2
    over them, its p-value (chi^2 with as many degrees of freedom as d values), the
    largest |z| and the smallest KS p-value."""
    from scipy import stats

    keys = list(AGREEMENT_KEYS[:-1])
    if table.empty:
        return pd.DataFrame(columns=[*keys, "n_d", "chi2", "chi2_p", "max_abs_z", "min_ks_p"])
    grouped = table.groupby(keys, sort=True)
    out = grouped.agg(n_d=("d", "size"), chi2=("z", lambda z: float(np.sum(z**2))),
                      max_abs_z=("z", lambda z: float(np.max(np.abs(z)))),
                      min_ks_p=("ks_p", "min")).reset_index()
    out["chi2_p"] = stats.chi2.sf(out.chi2, out.n_d)
    return out[[*keys, "n_d", "chi2", "chi2_p", "max_abs_z", "min_ks_p"]]


def write_agreement_csv(table: pd.DataFrame, path) -> None:
    """The `engine_agreement` table as CSV, full float precision."""
    table.to_csv(path, index=False, float_format="%.17g")


def agreement_macros(table: pd.DataFrame, digits: int = 3) -> str:
    """\\newcommand lines: AGREEMENT_LATEX per compared d, named like
    agreeZAutoVsSdePThreeGammaZeroPointOneNoiseZeroDOneZeroZeroZeroZero, and per
    (reference, p, gamma, noise) the chi^2 over d (agreeChiTwoP..., agreeChiTwoDof...)."""
    lines = ["% exact vs sde exit times at common d: difference of means (sde - exact), "
             "its standard error, z, Welch p, KS p; chi^2 = sum z^2 over d"]

    def stem(row, quantity):
        head = "".join(part.capitalize() for part in quantity.split("_"))
        return (f"agree{head}{latex_word(row['reference'])}Vs{latex_word(row['engine'])}"
                f"P{latex_word(row['p'])}Gamma{latex_word(row['gamma'])}"
                f"Noise{latex_word(row['noise'])}")

    for row in table.to_dict("records"):
        for quantity in AGREEMENT_LATEX:
            name = stem(row, quantity) + "D" + latex_word(row["d"])
            lines.append(rf"\newcommand{{\{name}}}{{{latex_number(row[quantity], digits)}}}")
    for row in agreement_summary(table).to_dict("records"):
        for quantity, value in (("chi_two", latex_number(row["chi2"], digits)),
                                ("chi_two_p", latex_number(row["chi2_p"], digits)),
                                ("n_d", str(int(row["n_d"])))):
            lines.append(rf"\newcommand{{\{stem(row, quantity)}}}{{{value}}}")
    return "\n".join(lines) + "\n"


def fits_table(fits: xr.Dataset) -> pd.DataFrame:
    """One row per fitted (d_range, engine, p, gamma, noise) cell (cells without data
    dropped)."""
    table = fits.to_dataframe().reset_index()
    return table[table.n_d > 0].reset_index(drop=True)


def write_fits_csv(fits: xr.Dataset, path) -> None:
    """The `fits_table` as CSV, full float precision."""
    fits_table(fits).to_csv(path, index=False, float_format="%.17g")


def read_fits_csv(path) -> xr.Dataset:
    """Inverse of `write_fits_csv`: a Dataset over FIT_DIMS (and RANGE_DIM first, when
    the table has a d_range column)."""
    table = pd.read_csv(path)
    dims = [RANGE_DIM] * (RANGE_DIM in table) + list(FIT_DIMS)
    return table.set_index(dims).to_xarray()


def write_fits_netcdf(fits: xr.Dataset, path) -> None:
    """The fits Dataset as netCDF (bool slope_agrees is stored as a flagged byte)."""
    fits.to_netcdf(path)


def latex_name(quantity: str, cell: dict) -> str:
    """Macro name: slope_lo at engine=sgd, p=1, gamma=0.1, noise=0 ->
    slopeLoSgdPOneGammaZeroPointOneNoiseZero (letters only, valid in LaTeX); a d_range
    other than 'own' is appended (...NoiseZeroOverlap)."""
    head, *rest = quantity.split("_")
    name = head + "".join(part.capitalize() for part in rest) + latex_word(cell["engine"])
    for dim in FIT_DIMS[1:]:
        name += dim.capitalize() + latex_word(cell[dim])
    if cell.get(RANGE_DIM, OWN_RANGE) != OWN_RANGE:
        name += latex_word(cell[RANGE_DIM])
    return name


def latex_macros(fits: xr.Dataset, digits: int = 3) -> str:
    """\\newcommand lines for the LATEX_QUANTITIES of every fitted cell."""
    lines = [f"% exit time vs log d, <t_ex> = a + b log d; {fits.attrs.get('method', '')}",
             f"% d ranges: {fits.attrs.get('d_ranges', fits.attrs.get('d_min', 'all d'))}",
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
