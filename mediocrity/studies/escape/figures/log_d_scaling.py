"""F3: mean exit time vs log d for several p and engines (left), its deviation from the
theory (middle), and the fitted slopes relative to the theory 1/(2 lambda_p) (right)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .... import theory
from ..fit import OVERLAP_RANGE, OWN_RANGE, RANGE_DIM
from ..measure import exit_time_summary
from .common import (ENGINE_COLORS, ENGINE_MARKERS, EXIT_LABEL, error_points,
                     finish_axes, iter_series, key_handles, line_styles, new_figure, palette,
                     seed_counts, set_title, value_range, varying)

RANGE_FILL = {OWN_RANGE: "full", OVERLAP_RANGE: "none"}


def _by_range(fits: xr.Dataset) -> xr.Dataset:
    """fits with a d_range dim (a single-range `fit_exit_times` result becomes 'own') and
    the fitted d interval per cell (d_lo, d_hi; older fits: attrs d_min to the largest d)."""
    if RANGE_DIM not in fits.dims:
        fits = fits.expand_dims({RANGE_DIM: [OWN_RANGE]})
    if "d_lo" not in fits:
        fits["d_lo"] = xr.full_like(fits.slope, np.nan_to_num(fits.attrs.get("d_min", 0.0)))
        fits["d_hi"] = xr.full_like(fits.slope, np.inf)
    return fits


def figure_f3(exit_times: xr.Dataset, fits: xr.Dataset,
              present: xr.DataArray | None = None) -> Figure:
    """Left: <t_ex> +- sem vs d (log axis) per p (colour) and engine (marker), the WLS fit
    a + b log d over each engine's own d range (thin) and the theory (log d + C_p)/(2
    lambda_p) + SGD-noise shift, quenched C_p (thick, light). Middle: <t_ex> minus that
    theory, where the finite-d (pre-asymptotic) corrections show. Right: fitted slope b
    times 2 lambda_p with its 95% bootstrap interval vs p, per engine, over its own range
    (filled) and over the d values where exact chain and SDE overlap (open); 1 is the
    theory 1/(2 lambda_p). fits: `fit.fit_by_range` (or `fit_exit_times`) of
    the same exit times."""
    summary = exit_time_summary(exit_times, present)
    fits = _by_range(fits)
    threshold = float(exit_times.attrs.get("threshold", fits.attrs.get("threshold", 0.01)))
    fig, (left, middle, right) = new_figure(ncols=3, width=4.4)
    colors = palette(summary.p.values)
    extra_dim = (varying(summary, ("gamma", "noise")) or ["gamma"])[0]
    styles = line_styles(summary[extra_dim].values)
    d_grid = np.geomspace(float(summary.d.min()), float(summary.d.max()), 80)
    plotted_left = plotted_middle = False
    for coords, mean in iter_series(summary.exit_time_mean, "d"):
        color = colors[coords["p"]]
        marker = ENGINE_MARKERS.get(coords["engine"], "o")
        sem = summary.exit_time_sem.sel(coords)
        plotted_left |= error_points(left, mean.d, mean, sem, log_y=False, color=color,
                                     ls="", marker=marker)
        cell = {k: coords[k] for k in ("p", "gamma", "noise")}
        with np.errstate(invalid="ignore"):
            expected = theory.exit_time_corrected(mean.d.astype(float), threshold=threshold,
                                                  initial="quenched", **cell)
        plotted_middle |= error_points(middle, mean.d, mean - expected, sem, log_y=False,
                                       color=color, ls="", marker=marker)
        line = fits.sel(coords).sel({RANGE_DIM: OWN_RANGE})
        intercept, slope = float(line.intercept), float(line.slope)
        if np.isfinite(slope):
            grid = d_grid[(d_grid >= float(line.d_lo) * 0.999)
                          & (d_grid <= float(line.d_hi) * 1.001)]
            left.plot(grid, intercept + slope * np.log(grid), color=color, lw=0.9,
                      ls=styles[coords[extra_dim]])
    has_data = summary.exit_time_mean.notnull().any(["engine", "d"])
    for p in summary.p.values:
        for gamma in summary.gamma.values:
            for noise in summary.noise.values:
                if has_data.sel(p=p, gamma=gamma, noise=noise):
                    left.plot(d_grid, theory.exit_time_corrected(
                        d_grid, p, gamma, noise, threshold, "quenched"),
                        color=colors[p], lw=1.6, alpha=0.35)
    engines = summary.engine.values
    handles = key_handles(colors, "p", engines, styles if len(styles) > 1 else None,
                          extra_dim, extra=[("WLS fit", dict(color="0.3", lw=0.9)),
                                            (r"theory, quenched $C_p$ + shift",
                                             dict(color="0.3", lw=1.6, alpha=0.35))])
    finish_axes(left, plotted_left, r"dimension $d$ (log scale)", EXIT_LABEL, log_y=False,
                handles=handles)
    if plotted_middle:
        middle.axhline(0.0, color="black", lw=1.6, alpha=0.35)
    finish_axes(middle, plotted_middle, r"dimension $d$ (log scale)",
                r"$\langle t_{\rm ex}\rangle$ $-$ theory (quenched $C_p$ + shift)",
                log_y=False, handles=[])

    plotted_right = False
    ratio = fits.slope * 2.0 * theory.growth_rate(fits.p, fits.gamma, fits.noise)
    scale = ratio / fits.slope
    series = list(iter_series(ratio, "p"))
    offsets = {key: k for k, key in enumerate(sorted({(c["engine"], c[RANGE_DIM])
                                                      for c, _ in series}))}
    for coords, values in series:
        cell = fits.sel(coords)
        factor = scale.sel(coords)
        error = np.abs(np.stack([values - cell.slope_lo * factor,
                                 cell.slope_hi * factor - values]))
        shift = 1.0 + 0.05 * (offsets[(coords["engine"], coords[RANGE_DIM])]
                              - (len(offsets) - 1) / 2)
        color = ENGINE_COLORS.get(coords["engine"], "tab:gray")
        plotted_right |= error_points(
            right, values.p * shift, values, error, log_y=False, elinewidth=0.8, ls="",
            color=color, mfc=None
            if RANGE_FILL.get(coords[RANGE_DIM], "full") == "full" else "white",
            marker=ENGINE_MARKERS.get(coords["engine"], "o"))
    if plotted_right:
        right.axhline(1.0, color="black", lw=1.6, alpha=0.35)
    handles = [Line2D([], [], color=ENGINE_COLORS.get(e, "tab:gray"), ls="",
                      marker=ENGINE_MARKERS.get(e, "o"), label=f"{e}, own d range")
               for e in fits.engine.values]
    if OVERLAP_RANGE in fits[RANGE_DIM].values:
        handles.append(Line2D([], [], color="0.3", ls="", marker="o", mfc="white",
                              label="open: d where exact and sde overlap"))
    handles += key_handles({}, "p", (), styles if len(styles) > 1 else None, extra_dim,
                           extra=[(r"theory $1/(2\lambda_p)$",
                                   dict(color="black", lw=1.6, alpha=0.35))])
    finish_axes(right, plotted_right, r"hidden neurons $p$",
                r"fitted slope $b \times 2\lambda_p$ (95% CI)", log_y=False, handles=handles)
    counts = (seed_counts(present) if present is not None
              else f"{exit_times.sizes['seed']} seed slots/cell")
    set_title(fig, "F3", f"exit time vs log d, d = {value_range(summary.d)}",
              f"T = {threshold:g}; slopes with 95% bootstrap intervals "
              f"({fits.attrs.get('n_boot', '?')} replicates); {counts}")
    return fig
