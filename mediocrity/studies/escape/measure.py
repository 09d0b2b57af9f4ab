"""Per-cell measurements over seeds: exit-time statistics, plateau risk, samples.

Pure functions, Dataset in, Dataset out, on the stores of the data contract:
sweep (engine, d, p, gamma, noise, seed, t), ode (d, p, gamma, noise, t) and
exit_times (exit_time over (engine, d, p, gamma, noise, seed), theory over
(d, p, gamma, noise)). Time t is in units of steps gamma/(p d); samples n = t p d / gamma.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ... import theory

CELL_DIMS = ("engine", "d", "p", "gamma", "noise")
THEORY_VARS = ("exit_time_ode", "theory_annealed", "theory_quenched", "theory_corrected",
               "growth_rate")
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)


def samples(t, p, d, gamma):
    """n = t p d / gamma: samples (= SGD steps) used up to time t (t in steps gamma/(p d))."""
    return t * p * d / gamma


def runs_present(sweep: xr.Dataset) -> xr.DataArray:
    """True for the (engine, d, p, gamma, noise, seed) runs that exist in a sweep store:
    R at the first save (t = 0) is finite."""
    return sweep.risk.isel(t=0, drop=True).notnull().rename("present")


def _over_seeds(values: xr.DataArray, count: xr.DataArray):
    """nan-mean, nan-sem = std(ddof=1)/sqrt(count), nan-median over seed; all-NaN -> NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells give NaN, silently
        mean = values.mean("seed")
        sem = values.std("seed", ddof=1) / np.sqrt(count.where(count > 0))
        median = values.median("seed")
    return mean, sem, median


def exit_time_summary(exit_times: xr.Dataset, present: xr.DataArray | None = None,
                      quantiles=DEFAULT_QUANTILES) -> xr.Dataset:
    """Exit-time statistics per (engine, d, p, gamma, noise) over seeds.

    Statistics are over the seeds that escaped (exit_time not NaN): a conditional mean
    when fraction_escaped < 1. present: runs that exist (see `runs_present`); default
    every seed slot. With the store's per-run `escaped` flag: n_real_escapes and
    n_fluctuations (crossings that were plateau fluctuations, e.g. above gamma_c). The
    theory variables and the ODE exit time of the store are carried beside, with
    ratio_to_ode = <t_ex>/t_ex^ODE and samples n = t p d/gamma.
    """
    t_ex = exit_times.exit_time
    present = xr.ones_like(t_ex, dtype=bool) if present is None else present
    n_seeds = present.sum("seed")
    n_escaped = t_ex.notnull().sum("seed")
    mean, sem, median = _over_seeds(t_ex, n_escaped)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = t_ex.quantile(list(quantiles), dim="seed")
    out = xr.Dataset({
        "exit_time_mean": mean.assign_attrs(long_name="mean exit time over escaped seeds",
                                            units="1"),
        "exit_time_sem": sem.assign_attrs(long_name="standard error of the mean exit time",
                                          units="1"),
        "exit_time_median": median.assign_attrs(long_name="median exit time", units="1"),
        "exit_time_quantile": spread.assign_attrs(long_name="quantiles of the exit time",
                                                  units="1"),
        "n_seeds": n_seeds.assign_attrs(long_name="runs in the cell"),
        "n_escaped": n_escaped.assign_attrs(long_name="runs that crossed the threshold"),
        "fraction_escaped": (n_escaped / n_seeds.where(n_seeds > 0)).assign_attrs(
            long_name="fraction of runs that escaped mediocrity"),
    })
    if "escaped" in exit_times:  # exit_time_table's per-run flag (exit_time.escaped)
        real = (exit_times.escaped.astype(bool) & t_ex.notnull()).sum("seed")
        out["n_real_escapes"] = real.assign_attrs(
            long_name="runs that crossed and escaped for real (exit_time.escaped)")
        out["n_fluctuations"] = (n_escaped - real).assign_attrs(
            long_name="runs whose crossing was a plateau fluctuation (not escaped)")
    out["samples_mean"] = samples(mean, out.p, out.d, out.gamma).assign_attrs(
        long_name="mean samples to escape, n = t_ex p d / gamma", units="samples")
    out["samples_sem"] = samples(sem, out.p, out.d, out.gamma).assign_attrs(
        long_name="standard error of the samples to escape", units="samples")
    for name in THEORY_VARS:
        if name in exit_times:
            out[name] = exit_times[name]
    if "exit_time_ode" in exit_times:
        ode = exit_times.exit_time_ode
        out["ratio_to_ode"] = (mean / ode).assign_attrs(long_name="<t_ex> / t_ex^ODE")
        out["ratio_to_ode_sem"] = (sem / ode).assign_attrs(
            long_name="standard error of <t_ex> / t_ex^ODE")
    return out.assign_attrs(exit_times.attrs)


def plateau_risk(risk: xr.DataArray, t_from: float | None = None) -> xr.DataArray:
    """Asymptotic risk of each run: mean of R(t) over the saves with t >= t_from (time units);
    t_from None: t >= t_max/2, the last factor 2 of the run (the plateau is reached late
    for small gamma or p > 1). NaN saves (early stop) are skipped."""
    t_from = float(risk.t.max()) / 2.0 if t_from is None else float(t_from)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = risk.where(risk.t >= t_from).mean("t")
    return out.rename("plateau_risk").assign_attrs(
        long_name=f"mean excess risk over t >= {t_from:g}", units="1", t_from=t_from)


def plateau_summary(sweep: xr.Dataset, ode: xr.Dataset | None = None,
                    t_from: float | None = None) -> xr.Dataset:
    """Plateau risk per (engine, d, p, gamma, noise): mean and sem over seeds, the ODE's
    plateau over the same window, and the p = 1 fixed point gamma Delta/(1 - 6 gamma)."""
    per_run = plateau_risk(sweep.risk, t_from)
    n = per_run.notnull().sum("seed")
    mean, sem, _ = _over_seeds(per_run, n)
    out = xr.Dataset({
        "plateau_mean": mean.assign_attrs(per_run.attrs, long_name="mean plateau risk"),
        "plateau_sem": sem.assign_attrs(long_name="standard error of the plateau risk",
                                        units="1"),
        "n_plateau": n.assign_attrs(long_name="runs with a plateau value"),
        "n_diverged": sweep.diverged.sum("seed").assign_attrs(long_name="diverged runs"),
    })
    if ode is not None:
        out["plateau_ode"] = plateau_risk(ode.risk, per_run.attrs["t_from"]).assign_attrs(
            long_name="ODE risk averaged over the same window")
    gamma, noise, p = out.gamma, out.noise, out.p
    closed = theory.plateau_risk_p1(gamma, noise).where((p == 1) & (gamma < 1.0 / 6.0))
    out["plateau_theory_p1"] = closed.assign_attrs(
        long_name="p = 1 ODE fixed point gamma Delta/(1 - 6 gamma)", units="1")
    return out


def cell_summary(exit_times: xr.Dataset, sweep: xr.Dataset, ode: xr.Dataset | None = None,
                 t_from: float | None = None, quantiles=DEFAULT_QUANTILES) -> xr.Dataset:
    """Every per-cell measurement of one experiment: `exit_time_summary` (runs present from
    the sweep) merged with `plateau_summary`."""
    times = exit_time_summary(exit_times, runs_present(sweep), quantiles)
    return xr.merge([times, plateau_summary(sweep, ode, t_from)],
                    combine_attrs="override", join="outer", compat="override")
