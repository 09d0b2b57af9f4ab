"""Figures M1..M5 of the margins study: measurements and fits on the summary store (one row
per run at the end of training) and the sweep store (the saved series), the fit table and
the LaTeX macros (figures.py draws).

Claims tested (Telgarsky, ICLR 2023), one experiment each:
  M1  2-sparse parity: samples to test error eps, n_eps vs d, against the kernel rate
      d^2/eps of methods near initialisation (gf and sgd).
  M2  gf attains at least the NTK margin: final normalized margin / gamma_ntk >= 1.
  M3  weights may move by O(sqrt m) (motion / sqrt m bounded) while units rotate less as
      the width m grows.
  M4  neural collapse: samples scale with the number of groups k (n_eps ~ k).
  M5  directions frozen (norm_only): the margin tends to the largest norm-only margin at
      large width, and samples scale as 1/gamma_norm_only^2.

Uncertainty: percentile bootstrap over seeds (CONFIDENCE), the seeds of a replicate drawn
once for the whole grid, so the runs of one seed stay paired across n, m and the engines
(mediocrity.studies.margins.simulate: one seed's data and initialisation are shared by those).
Seeds where a quantity is NaN are dropped from its means and counted.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import xarray as xr

from ...pipeline import paths
from ...pipeline.stats import CONFIDENCE, interval, weighted_line
from ...pipeline.tex import DIGIT_WORDS, latex_number, latex_word
from .engines import names as engine_names

CONTRACT = ("M1", "M2", "M3", "M4", "M5")
EPS = 0.1  # test error that defines the samples needed, n_eps
MIN_SPAN = 1.25  # M5: fit n_eps vs 1/gamma only where 1/gamma spans at least this factor
LIMIT_DECADES = 4  # M5: the t -> infinity margin from the saves of the last decades of t
BOOT_BLOCK_VALUES = 4_000_000  # resampled values held in memory at once
GRID = ("engine", "d", "m", "n", "k", "separation")
FIT_COLUMNS = ("experiment", "quantity", "engine", "law", "x_name", "x_lo", "x_hi",
               "n_points", "slope", "slope_lo", "slope_hi", "slope_theory", "slope_inside_ci",
               "value", "value_lo", "value_hi", "value_theory", "m", "n", "separation",
               "n_runs", "n_dropped", "eps", "fixed", "claim")
MACRO_KEYS = ("engine", "separation", "m", "n")  # cell of a macro name, after the quantity
MACRO_FIELDS = {"power": ("slope", "slope_lo", "slope_hi", "slope_theory", "n_points"),
                "value": ("value", "value_lo", "value_hi", "value_theory", "n_runs")}


# -- config glue --------------------------------------------------------------------------
def figure_experiments(config: dict) -> list[str]:
    """The contract names M1..M5 among config['margins'], in that order."""
    return [name for name in CONTRACT if name in (config.get("margins") or {})]


def targets(config: dict) -> list[str]:
    """<results>/paper/figures/M?.pdf/.png, fits_M?.csv, numbers_M?.tex."""
    out = paths.paper(config["results"])
    return [path for name in figure_experiments(config)
            for path in (f"{out}/figures/{name}.pdf", f"{out}/figures/{name}.png",
                         f"{out}/fits_{name}.csv", f"{out}/numbers_{name}.tex")]


# -- measurements (pure functions on arrays) ------------------------------------------------
def _crossing(err: np.ndarray, n: np.ndarray, eps: float) -> np.ndarray:
    """First n (ascending, last axis) where err <= eps, linear in log n between that grid
    point and the previous finite one; NaN if never reached, and NaN (censored: only an
    upper bound, below the grid) when no finite point precedes it. NaN errors are
    skipped."""
    err = np.asarray(err, float)
    logn = np.log(np.asarray(n, float))
    finite = np.isfinite(err)
    below = finite & (err <= eps)
    hit = below.any(-1)
    i = np.argmax(below, -1)[..., None]
    idx = np.arange(err.shape[-1])
    last = np.maximum.accumulate(np.where(finite, idx, -1), axis=-1)
    prev = np.concatenate([np.full((*err.shape[:-1], 1), -1), last[..., :-1]], -1)
    j = np.take_along_axis(prev, i, -1)
    e1, e0 = (np.take_along_axis(err, k, -1) for k in (i, np.maximum(j, 0)))
    x1, x0 = logn[i], logn[np.maximum(j, 0)]
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(j >= 0, x0 + (e0 - eps) / (e0 - e1) * (x1 - x0), np.nan)
    return np.where(hit, np.exp(x[..., 0]), np.nan)


def samples_needed(test_error: xr.DataArray, eps: float = EPS, n_dim: str = "n",
                   seed_dim: str = "seed") -> xr.DataArray:
    """n_eps: the smallest n where the seed-mean test error is <= eps, interpolated
    linearly in log n between grid points; NaN if never reached, and NaN if already
    reached at the smallest n (censored: n_eps <= n_min is only a bound, and a fit through
    it would flatten the law). Reduces n_dim and seed_dim."""
    mean = test_error.sortby(n_dim).mean(seed_dim, skipna=True)
    out = xr.apply_ufunc(_crossing, mean, input_core_dims=[[n_dim]],
                         kwargs={"n": mean[n_dim].values, "eps": float(eps)})
    return out.rename("n_eps").assign_attrs(long_name=f"samples to seed-mean test error "
                                                      f"<= {eps:g}", eps=float(eps))


def samples_needed_ci(test_error: xr.DataArray, eps: float = EPS, n_boot: int = 1000,
                      seed: int = 0):
    """(n_eps, lo, hi, replicates): `samples_needed` and its percentile interval over
    n_boot resamples of the seeds (drawn jointly across n: a seed's runs are paired)."""
    est = samples_needed(test_error, eps)
    boot = bootstrap(test_error, lambda s: samples_needed(s, eps), n_boot, seed)
    lo, hi = interval(boot)
    return est, est.copy(data=lo), est.copy(data=hi), boot


def bootstrap(da: xr.DataArray, stat, n_boot: int, seed: int,
              seed_dim: str = "seed") -> xr.DataArray:
    """stat (DataArray -> DataArray without seed_dim) of n_boot resamples of the seeds, with
    a leading 'boot' dim. One draw of seed indices per replicate for the whole array (runs
    of one seed stay paired); the generator starts from `seed` (common random numbers)."""
    n_seed = da.sizes[seed_dim]
    idx = np.random.default_rng(seed).integers(0, n_seed, (int(n_boot), n_seed))
    block = max(1, BOOT_BLOCK_VALUES // max(1, da.size))
    parts = []
    for start in range(0, int(n_boot), block):
        pick = xr.DataArray(idx[start:start + block], dims=("boot", "seed_pick_"))
        sample = da.isel({seed_dim: pick}).rename(seed_pick_=seed_dim)
        parts.append(stat(sample))
    return xr.concat(parts, "boot").transpose("boot", ...)


def power_slope(x, y) -> np.ndarray:
    """Least-squares slope of log y on log x over the last axis (x: (P,) or like y; points
    with x or y <= 0 or non-finite dropped); NaN with fewer than 2 distinct x."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    logx, logy = (np.log(np.where(ok, v, 1.0)) for v in (x, y))
    return weighted_line(logx, np.where(ok, logy, np.nan), ok.astype(float))[1]


def fit_power(x, estimate: np.ndarray, boot: np.ndarray) -> dict:
    """Slope of log estimate on log x (estimate: (P,), boot: (B, P)), its bootstrap
    interval, the number of usable points and their x range."""
    x, estimate = np.asarray(x, float), np.asarray(estimate, float)
    used = np.isfinite(estimate) & (estimate > 0)
    slope = float(power_slope(x, estimate))
    lo, hi = interval(power_slope(x, boot)) if np.isfinite(slope) else (np.nan, np.nan)
    return dict(slope=slope, slope_lo=float(lo), slope_hi=float(hi), n_points=int(used.sum()),
                x_lo=float(x[used].min()) if used.any() else np.nan,
                x_hi=float(x[used].max()) if used.any() else np.nan)


def limit_in_norm(norm, ratio) -> np.ndarray:
    """c0 of the least-squares line ratio = c0 + c1 / |W| over the last axis (NaN points
    dropped): the t -> infinity value of the normalized margin. In the norm-only class f
    is linear in r, and GD on the logistic loss of separable data goes as
    r(t) = r_max ln t + rho(t) with rho bounded (Soudry et al. 2018, projected here onto
    r >= 0): the margin gap is O(|rho| / |r|), linear in 1/|W|. (In 1/ln t the same
    law carries an unknown offset ln t0, and fitting without it overshoots.)"""
    return weighted_line(1.0 / np.asarray(norm, float), np.asarray(ratio, float),
                         np.ones(np.shape(ratio)))[0]


def seed_mean(da: xr.DataArray) -> xr.DataArray:
    return da.mean("seed", skipna=True)


def mean_with_ci(da: xr.DataArray, n_boot: int, seed: int):
    """Seed-mean of da and its bootstrap interval (DataArrays without seed)."""
    lo, hi = interval(bootstrap(da, seed_mean, n_boot, seed))
    mean = seed_mean(da)
    return mean, mean.copy(data=lo), mean.copy(data=hi)


# -- grid handling ----------------------------------------------------------------------------
def fix_grid(obj, keep, prefer: dict | None = None):
    """Select one value of every grid dim not in `keep`: prefer[dim] when present, else the
    largest. Returns (selected, {dim: value} of every fixed dim with its value)."""
    fixed = {}
    for dim in GRID:
        if dim in keep or dim not in obj.dims:
            continue
        values = list(obj[dim].values)
        want = (prefer or {}).get(dim)
        value = want if want in values else (sorted(values)[-1] if values else None)
        obj = obj.sel({dim: value})
        fixed[dim] = value.item() if hasattr(value, "item") else value
    return obj, fixed


def fixed_text(fixed: dict) -> str:
    return ", ".join(f"{k}={v:g}" if not isinstance(v, str) else f"{k}={v}"
                     for k, v in fixed.items())


def series(da: xr.DataArray, dims):
    """(cell dict, slice) for every combination of the values of `dims` present in da."""
    dims = [dim for dim in dims if dim in da.dims]
    for values in itertools.product(*(da[dim].values for dim in dims)):
        cell = {dim: (v.item() if hasattr(v, "item") else v) for dim, v in zip(dims, values)}
        yield cell, da.sel(cell)


def present(summary: xr.Dataset) -> xr.DataArray:
    """Runs that exist (an outer-joined grid has holes where no run was made)."""
    name = "steps" if "steps" in summary else "t_saved"
    return summary[name].notnull()


def dropped(summary: xr.Dataset, name: str) -> xr.DataArray:
    """Runs that exist but whose `name` is NaN (dropped from the means), per cell."""
    return (present(summary) & summary[name].isnull()).sum("seed")


def _row(experiment: str, quantity: str, **fields) -> dict:
    return {"experiment": experiment, "quantity": quantity, **fields}


# -- experiments ---------------------------------------------------------------------------
def measure_samples(experiment: str, summary: xr.Dataset, axis: str, series_dims,
                    n_boot: int, seed: int, slope_theory: float, claim: str,
                    eps: float = EPS) -> dict:
    """M1 (axis d), M4 (axis k): n_eps per (series, axis) with its interval, and the
    exponent b of n_eps ~ axis^b per series."""
    keep = (axis, "n", *series_dims)
    ds, fixed = fix_grid(summary, keep)
    te = ds["test_error"].transpose(*[d for d in (*series_dims, axis, "n") if d in ds.dims],
                                    "seed")
    n_eps, lo, hi, boot = samples_needed_ci(te, eps, n_boot, seed)
    out = dict(summary=ds, test_error=te, n_eps=n_eps, lo=lo, hi=hi, fixed=fixed, eps=eps,
               fits={}, rows=[], dropped=dropped(ds, "test_error"), claim=claim,
               slope_theory=slope_theory, axis=axis, series_dims=series_dims)
    for cell, est in series(n_eps, series_dims):
        fit = fit_power(est[axis].values, est.values,
                        boot.sel(cell).transpose("boot", axis).values)
        out["fits"][tuple(cell.values())] = fit
        inside = bool(fit["slope_lo"] <= slope_theory <= fit["slope_hi"])
        out["rows"].append(_row(experiment, "samples_exponent", law="power", x_name=axis,
                                slope_theory=slope_theory, slope_inside_ci=inside, eps=eps,
                                n_runs=int(present(ds).sel(cell).sum()),
                                n_dropped=int(out["dropped"].sel(cell).sum()),
                                fixed=fixed_text(fixed), claim=claim, **cell, **fit))
    return out


def measure_m2(summary: xr.Dataset, sweep: xr.Dataset, n_boot: int, seed: int) -> dict:
    """Margin trajectories per m (gf) against gamma_ntk; final margin / gamma_ntk per m: its
    mean with interval and the fraction of runs with final margin >= gamma_ntk."""
    # the gradient flow: the first engine of the family's registry records
    ds, fixed = fix_grid(summary, ("m",), prefer={"engine": engine_names()[0]})
    sw = fix_grid(sweep[["margin"]], ("m",), prefer=fixed)[0] if sweep is not None else None
    have = "gamma_ntk" in ds
    gamma = ds["gamma_ntk"] if have else xr.full_like(ds["margin"], np.nan)
    valid = ds["margin"].notnull() & gamma.notnull() & (gamma > 0)
    ratio = (ds["margin"] / gamma).where(valid)
    above = (ds["margin"] >= gamma).astype(float).where(ds["margin"].notnull()
                                                       & gamma.notnull())
    ratio_mean, ratio_lo, ratio_hi = mean_with_ci(ratio, n_boot, seed)
    frac, frac_lo, frac_hi = mean_with_ci(above, n_boot, seed)
    n_runs = present(ds).sum("seed")
    claim = "gf attains at least the NTK margin: final margin / gamma_ntk >= 1"
    rows = []
    for m in ds.m.values:
        common = dict(m=int(m), fixed=fixed_text(fixed), claim=claim, law="value",
                      engine=fixed.get("engine"), n_runs=int(n_runs.sel(m=m)))
        rows.append(_row("M2", "fraction_above_ntk", value=float(frac.sel(m=m)),
                         value_lo=float(frac_lo.sel(m=m)), value_hi=float(frac_hi.sel(m=m)),
                         value_theory=1.0, n_dropped=int((~above.sel(m=m).notnull()
                                                          & present(ds).sel(m=m)).sum()),
                         **common))
        rows.append(_row("M2", "margin_over_ntk", value=float(ratio_mean.sel(m=m)),
                         value_lo=float(ratio_lo.sel(m=m)), value_hi=float(ratio_hi.sel(m=m)),
                         value_theory=1.0, n_dropped=int((~valid.sel(m=m)
                                                          & present(ds).sel(m=m)).sum()),
                         **common))
    return dict(summary=ds, sweep=sw, fixed=fixed, ratio=ratio, ratio_mean=ratio_mean,
                ratio_lo=ratio_lo, ratio_hi=ratio_hi, fraction=frac, above=above,
                valid=valid, rows=rows, have_ntk=have, claim=claim)


M3_QUANTITIES = {"motion_over_sqrt_m": "motion / sqrt(m) bounded: slope <= 0",
                 "rotation_max": "rotation shrinks as m grows: slope < 0",
                 "rotation_mean": "rotation shrinks as m grows: slope < 0"}


def measure_m3(summary: xr.Dataset, n_boot: int, seed: int) -> dict:
    """Seed-means of motion/sqrt(m), rotation_max, rotation_mean at the end vs m per
    engine, and their log-log slopes in m with intervals."""
    ds, fixed = fix_grid(summary, ("m", "engine"))
    out = dict(summary=ds, fixed=fixed, fits={}, rows=[], mean={}, lo={}, hi={})
    for name, claim in M3_QUANTITIES.items():
        if name not in ds:
            continue
        da = ds[name].transpose(*[d for d in ("engine", "m") if d in ds[name].dims], "seed")
        boot = bootstrap(da, seed_mean, n_boot, seed)
        mean = seed_mean(da)
        lo, hi = interval(boot)
        out["mean"][name], out["lo"][name], out["hi"][name] = (
            mean, mean.copy(data=lo), mean.copy(data=hi))
        drops = dropped(ds, name)
        for cell, est in series(mean, ("engine",)):
            fit = fit_power(est.m.values, est.values, boot.sel(cell).transpose("boot", "m"))
            out["fits"][(name, *cell.values())] = fit
            out["rows"].append(_row("M3", f"{name}_exponent", law="power", x_name="m",
                                    fixed=fixed_text(fixed), claim=claim,
                                    n_runs=int(present(ds).sel(cell).sum()),
                                    n_dropped=int(drops.sel(cell).sum()), **cell, **fit))
    return out


def measure_m5(summary: xr.Dataset, sweep: xr.Dataset | None, n_boot: int, seed: int,
               eps: float = EPS) -> dict:
    """Final margin / gamma_norm_only vs m (per engine, n); its t -> infinity value at the
    largest d and m (`limit_in_norm` over the saves of the last LIMIT_DECADES decades);
    test error vs n gamma^2; the slope of log n_eps on log(1/gamma_norm_only) over the
    (d, m) cells that reach eps (gamma: seed-mean at the largest n), when 1/gamma spans a
    factor >= MIN_SPAN."""
    ds, fixed = fix_grid(summary, ("m", "n", "engine", "d"))
    have = "gamma_norm_only" in ds
    gamma = ds["gamma_norm_only"] if have else xr.full_like(ds["margin"], np.nan)
    valid = ds["margin"].notnull() & gamma.notnull() & (gamma > 0)
    ratio = (ds["margin"] / gamma).where(valid)
    mean, lo, hi = mean_with_ci(ratio, n_boot, seed)
    d_top = ds.d.values.max()
    claim = "margin -> the largest norm-only margin at large width: ratio -> 1"
    rows = []
    m_top = ds.m.values.max()
    top = dict(d=d_top, m=m_top)

    def counts(cell):  # runs made, and runs without a usable ratio, at (d_top, m_top, cell)
        return dict(n_runs=int(present(ds).sel(top).sel(cell).sum()),
                    n_dropped=int((present(ds) & ~valid).sel(top).sel(cell).sum()))

    late = None
    if sweep is not None and have:
        sw = fix_grid(sweep[["margin", "norm"]], ("m", "n", "engine", "d"), prefer=fixed)[0]
        t = sw.t.values
        keep = t >= t.max() / 10.0**LIMIT_DECADES
        g_top = gamma.sel(top)
        late = xr.concat([sw["margin"].sel(top) / g_top.where(g_top > 0), sw["norm"].sel(top)],
                         "what").isel(t=keep).transpose("what", ..., "seed", "t")

        def limit(sample):  # seed means of the ratio and of |W| at every save, then the fit
            means = seed_mean(sample)
            ratio_t, norm_t = means.isel(what=0), means.isel(what=1)
            return ratio_t.isel(t=0, drop=True).copy(data=limit_in_norm(norm_t, ratio_t))

        late_limit = limit(late)
        late_lo, late_hi = (late_limit.copy(data=v)
                            for v in interval(bootstrap(late, limit, n_boot, seed)))
        for cell, part in series(late_limit, ("engine", "n")):
            rows.append(_row("M5", "margin_over_norm_only_limit", law="value",
                             value=float(part), value_lo=float(late_lo.sel(cell)),
                             value_hi=float(late_hi.sel(cell)), value_theory=1.0, m=int(m_top),
                             **counts(cell),
                             fixed=fixed_text({**fixed, "d": d_top,
                                               "t": f"{t[keep].min():.3g}-{t[keep].max():.3g}"}),
                             claim=claim + " (t -> infinity: c0 of c0 + c1/|W|)", **cell))
    for cell, part in series(mean.sel(top), ("engine", "n")):
        rows.append(_row("M5", "margin_over_norm_only", law="value", value=float(part),
                         value_lo=float(lo.sel(top).sel(cell)),
                         value_hi=float(hi.sel(top).sel(cell)), value_theory=1.0,
                         m=int(m_top), **counts(cell),
                         fixed=fixed_text({**fixed, "d": d_top}), claim=claim, **cell))
    n_top = ds.n.values.max()
    te = ds["test_error"].transpose("engine", "d", "m", "n", "seed")
    both = xr.concat([te, gamma.broadcast_like(te)], "what")  # one resample for both

    def stat(sample):  # (what: 1/gamma at the largest n, n_eps) per (engine, d, m)
        g = seed_mean(sample.isel(what=1).sel(n=n_top))
        return xr.concat([1.0 / g.where(g > 0), samples_needed(sample.isel(what=0), eps)],
                         "what")

    est, boot = stat(both), bootstrap(both, stat, n_boot, seed)
    fits = {}
    claim_n = "samples scale as 1/gamma_norm_only^2: slope 2"
    for cell, part in series(est, ("engine",)):
        x, y = (part.isel(what=k).values.ravel() for k in (0, 1))
        ok = np.isfinite(x) & np.isfinite(y) & (y > 0) & (x > 0)
        if ok.sum() < 2 or x[ok].max() < MIN_SPAN * x[ok].min():
            fits[tuple(cell.values())] = None  # the grid does not allow the fit: no row
            continue
        b = boot.sel(cell)
        bx, by = (b.isel(what=k).values.reshape(b.sizes["boot"], -1)[:, ok] for k in (0, 1))
        s_lo, s_hi = interval(power_slope(bx, by))
        fit = dict(slope=float(power_slope(x[ok], y[ok])), slope_lo=float(s_lo),
                   slope_hi=float(s_hi), n_points=int(ok.sum()), x_lo=float(x[ok].min()),
                   x_hi=float(x[ok].max()))
        fits[tuple(cell.values())] = fit
        rows.append(_row("M5", "samples_exponent_inverse_margin", law="power",
                         x_name="1/gamma_norm_only", slope_theory=2.0, eps=eps,
                         slope_inside_ci=bool(fit["slope_lo"] <= 2.0 <= fit["slope_hi"]),
                         fixed=fixed_text(fixed), claim=claim_n, **cell, **fit))
    return dict(summary=ds, fixed=fixed, ratio=ratio, mean=mean, lo=lo, hi=hi, valid=valid,
                gamma=gamma, have=have, fits=fits, rows=rows, eps=eps, claim=claim,
                claim_n=claim_n, late=late, samples=est)


# -- output -------------------------------------------------------------------------------------
def _word(name) -> str:
    """'M1' -> 'MOne', 'fraction_above_ntk' -> 'FractionAboveNtk' (letters only)."""
    if not isinstance(name, str):
        return latex_word(name)
    parts = re.findall(r"[A-Za-z]+|[0-9]", name)
    return "".join(DIGIT_WORDS.get(x, x[:1].upper() + x[1:]) for x in parts)


def macro_name(experiment: str, quantity: str, field: str, cell: dict) -> str:
    """mOneSamplesExponentSlopeLoGf, mTwoFractionAboveNtkValueGfMSixtyFour: the experiment,
    the quantity, the field, then the engine and the other cell values like
    the core's tex helpers (letters only)."""
    head = _word(experiment)
    name = head[:1].lower() + head[1:] + _word(quantity) + _word(field)
    for key in MACRO_KEYS:
        value = cell.get(key)
        if value is None or (not isinstance(value, str) and not np.isfinite(value)):
            continue
        name += (latex_word(value) if key == "engine" else key.capitalize() + latex_word(value))
    assert name.isalpha(), name
    return name


def fit_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FIT_COLUMNS))


def latex_macros(experiment: str, table: pd.DataFrame, digits: int = 3) -> str:
    lines = [f"% {experiment}: margins study, measured numbers with {CONFIDENCE:.0%} "
             "bootstrap intervals over seeds (mediocrity/studies/margins/paper.py)"]
    for row in table.to_dict("records"):
        for field in MACRO_FIELDS.get(row["law"], ()):
            value = row[field]
            text = (str(int(value)) if field in ("n_points", "n_runs") and np.isfinite(value)
                    else latex_number(value, digits))
            name = macro_name(experiment, row["quantity"], field, row)
            lines.append(rf"\newcommand{{\{name}}}{{{text}}}")
    return "\n".join(lines) + "\n"


def measure(experiment: str, summary: xr.Dataset, sweep: xr.Dataset | None, n_boot: int,
            seed: int) -> dict:
    """The measurements of one contract experiment (a dict the figure draws)."""
    if experiment == "M1":
        return measure_samples("M1", summary, "d", ("engine",), n_boot, seed, 2.0,
                               "near initialisation n_eps ~ d^2/eps (NTK rate)")
    if experiment == "M2":
        return measure_m2(summary, sweep, n_boot, seed)
    if experiment == "M3":
        return measure_m3(summary, n_boot, seed)
    if experiment == "M4":
        return measure_samples("M4", summary, "k", ("engine", "separation"), n_boot, seed,
                               1.0, "samples scale with the number of groups: n_eps ~ k")
    if experiment == "M5":
        return measure_m5(summary, sweep, n_boot, seed)
    raise ValueError(f"experiment {experiment!r}: the margins figures are {CONTRACT}")
