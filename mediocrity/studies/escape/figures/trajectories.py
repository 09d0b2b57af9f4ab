"""F1: excess risk R(t) of every run (thin lines), their mean, and the d -> infinity ODE
from the same start (bold), log-log; time in steps gamma/(p d)."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from .... import theory
from ..measure import runs_present
from .common import (ENGINE_COLORS, TIME_LABEL, describe, finish_axes, new_figure,
                     seed_counts, set_title)

CELL = ("d", "p", "gamma", "noise")


def first_cell(present: xr.DataArray) -> dict:
    """Coordinates (d, p, gamma, noise) of the first cell with at least one run."""
    has_runs = present.any(["engine", "seed"]).transpose(*CELL)
    flat = int(np.argmax(has_runs.values.ravel()))
    index = np.unravel_index(flat, has_runs.shape)
    return {dim: has_runs[dim].values[i].item() for dim, i in zip(CELL, index)}


def _positive_path(t: np.ndarray, risk: np.ndarray) -> np.ndarray:
    keep = np.isfinite(risk) & (risk > 0) & (t > 0)
    return np.column_stack([t[keep], risk[keep]])


def figure_f1(sweep: xr.Dataset, ode: xr.Dataset | None = None) -> Figure:
    """R(t) of every run of each engine (thin), the mean over seeds (dashed), the ODE
    (bold black); the p = 1 plateau gamma Delta/(1 - 6 gamma) and the linear-regime exit
    time from the runs' |M(0)|^2 as references. Uses the first cell of the sweep."""
    present = runs_present(sweep)
    cell = first_cell(present)
    runs = sweep.sel(cell)
    t = runs.t.values
    fig, (ax,) = new_figure(width=6.0, height=4.4)
    plotted = False
    for engine in runs.engine.values:
        risk = runs.risk.sel(engine=engine).where(present.sel(cell).sel(engine=engine))
        paths = [_positive_path(t, row) for row in risk.transpose("seed", "t").values]
        paths = [path for path in paths if len(path) > 1]
        if not paths:
            continue
        color = ENGINE_COLORS.get(str(engine), "tab:gray")
        ax.add_collection(LineCollection(paths, colors=[color], linewidths=0.4,
                                         alpha=max(0.05, min(0.5, 8.0 / len(paths)))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # saves after every run stopped
            mean = _positive_path(t, risk.mean("seed").values)
        ax.plot(mean[:, 0], mean[:, 1], color=color, lw=1.2, ls="--")
        ax.plot([], [], color=color, lw=1.0, label=f"{engine}: {len(paths)} runs, mean dashed")
        plotted = True
    if ode is not None and all(ode[dim].isin([cell[dim]]).any() for dim in CELL):
        line = _positive_path(ode.t.values, ode.risk.sel(cell).values)
        if len(line):
            ax.plot(line[:, 0], line[:, 1], color="black", lw=2.4, label="ODE (same start)")
            plotted = True
    p, gamma, noise = cell["p"], cell["gamma"], cell["noise"]
    if p == 1 and 0 < noise and gamma < 1 / 6:
        ax.axhline(theory.plateau_risk_p1(gamma, noise), color="0.3", ls=":", lw=1,
                   label=r"$R_\infty = \gamma\Delta/(1-6\gamma)$")
    threshold = float(sweep.attrs.get("threshold", 0.01))
    if "m2" in runs:
        m2_start = float(runs.m2.isel(t=0).where(present.sel(cell)).mean())
        if np.isfinite(m2_start) and m2_start > 0:
            t_lin = theory.exit_time_linear(m2_start, p, gamma, noise, threshold)
            ax.axvline(t_lin, color="0.3", ls="-.", lw=1,
                       label=r"linear theory $t_{\rm ex}$ from $|M(0)|^2$")
    if plotted:
        ax.autoscale_view()
    finish_axes(ax, plotted, TIME_LABEL, r"excess risk $R(t)$")
    set_title(fig, "F1", "risk of every run", describe(cell),
              f"init {sweep.attrs.get('init', '?')}, T = {threshold:g}; "
              f"{seed_counts(present.sel(cell))}")
    return fig
