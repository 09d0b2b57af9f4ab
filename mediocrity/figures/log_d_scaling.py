"""F3: mean exit time vs log d for several p (left) and the fitted slopes against the
theory 1/(2 lambda_p) (right)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import theory
from ..measure import exit_time_summary
from .common import (ENGINE_COLORS, ENGINE_MARKERS, EXIT_LABEL, error_points,
                     finish_axes, iter_series, key_handles, line_styles, new_figure, palette,
                     seed_counts, set_title, value_range, varying)


def figure_f3(exit_times: xr.Dataset, fits: xr.Dataset,
              present: xr.DataArray | None = None) -> Figure:
    """Left: <t_ex> +- sem vs d (log axis), the WLS fit a + b log d (solid) and the theory
    (log d + C_p)/(2 lambda_p) + SGD-noise shift, quenched C_p (dashed). Right: fitted
    slope b with its 95% bootstrap interval vs p, and 1/(2 lambda_p) (line).
    fits: `mediocrity.fit.fit_exit_times` of the same store."""
    summary = exit_time_summary(exit_times, present)
    threshold = float(exit_times.attrs.get("threshold", fits.attrs.get("threshold", 0.01)))
    fig, (left, right) = new_figure(ncols=2)
    colors = palette(summary.p.values)
    extra_dim = (varying(summary, ("gamma", "noise")) or ["gamma"])[0]
    styles = line_styles(summary[extra_dim].values)
    d_grid = np.geomspace(float(summary.d.min()), float(summary.d.max()), 50)
    fit_grid = d_grid[d_grid >= np.nan_to_num(fits.attrs.get("d_min", 0.0))]  # fitted range
    plotted_left = False
    for coords, mean in iter_series(summary.exit_time_mean, "d"):
        color = colors[coords["p"]]
        plotted_left |= error_points(
            left, mean.d, mean, summary.exit_time_sem.sel(coords), log_y=False, color=color,
            ls="", marker=ENGINE_MARKERS.get(coords["engine"], "o"))
        line = fits.sel(coords)
        intercept, slope = float(line.intercept), float(line.slope)
        if np.isfinite(slope):
            left.plot(fit_grid, intercept + slope * np.log(fit_grid), color=color, lw=0.9,
                      ls=styles[coords[extra_dim]])
    has_data = summary.exit_time_mean.notnull().any(["engine", "d"])
    for p in summary.p.values:
        for gamma in summary.gamma.values:
            for noise in summary.noise.values:
                if has_data.sel(p=p, gamma=gamma, noise=noise):
                    left.plot(d_grid, theory.exit_time_corrected(
                        d_grid, p, gamma, noise, threshold, "quenched"),
                        color=colors[p], lw=1.6, alpha=0.35)
    handles = key_handles(colors, "p", summary.engine.values,
                          styles if len(styles) > 1 else None, extra_dim,
                          extra=[("WLS fit", dict(color="0.3", lw=0.9)),
                                 (r"theory, quenched $C_p$ + shift",
                                  dict(color="0.3", lw=1.6, alpha=0.35))])
    finish_axes(left, plotted_left, r"dimension $d$ (log scale)", EXIT_LABEL, log_y=False,
                handles=handles)

    plotted_right = False
    for coords, slope in iter_series(fits.slope, "p"):
        cell = fits.sel(coords)
        error = np.abs(np.stack([slope - cell.slope_lo, cell.slope_hi - slope]))
        plotted_right |= error_points(
            right, slope.p, slope, error, log_y=False, lw=0.6, ls=styles[coords[extra_dim]],
            color=ENGINE_COLORS.get(coords["engine"], "tab:gray"),
            marker=ENGINE_MARKERS.get(coords["engine"], "o"))
    p_grid = np.geomspace(float(fits.p.min()), max(float(fits.p.max()), 2.0), 100)
    for gamma in fits.gamma.values:
        for noise in fits.noise.values:
            right.plot(p_grid, 1.0 / (2.0 * theory.growth_rate(p_grid, gamma, noise)),
                       color="black", lw=1.6, alpha=0.35,
                       ls=styles[{"gamma": gamma, "noise": noise}[extra_dim]])
    engines = fits.engine.values
    handles = [Line2D([], [], color=ENGINE_COLORS.get(e, "tab:gray"), ls="",
                      marker=ENGINE_MARKERS.get(e, "o"), label=f"fit, {e}") for e in engines]
    handles += key_handles({}, "p", (), styles if len(styles) > 1 else None, extra_dim,
                           extra=[(r"theory $1/(2\lambda_p)$",
                                   dict(color="black", lw=1.6, alpha=0.35))])
    finish_axes(right, plotted_right, r"hidden neurons $p$",
                r"slope $b$ of $t_{\rm ex} = a + b\log d$ (95% CI)", log_y=False,
                handles=handles)
    counts = (seed_counts(present) if present is not None
              else f"{exit_times.sizes['seed']} seed slots/cell")
    set_title(fig, "F3", f"exit time vs log d, d = {value_range(summary.d)}",
              f"T = {threshold:g}; slopes with 95% bootstrap intervals "
              f"({fits.attrs.get('n_boot', '?')} replicates); {counts}")
    return fig
