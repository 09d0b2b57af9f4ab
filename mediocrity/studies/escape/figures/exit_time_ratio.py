"""F2: ratio <t_ex>_SGD / t_ex^ODE (ODE from the same start) vs p, one series per d, with
error bars (sem of the mean over seeds, divided by t_ex^ODE)."""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .... import theory
from ..measure import exit_time_summary
from .common import (ENGINE_MARKERS, describe, error_points, finish_axes, fixed_values,
                     gamma_text, iter_series, key_handles, line_styles, new_figure, palette,
                     pick_gamma, seed_counts, set_title, varying)


def figure_f2(exit_times: xr.Dataset, present: xr.DataArray | None = None) -> Figure:
    """Markers: measured ratio per (engine, d); dashed (typical start, init 'annealed'):
    the linear-regime prediction theory.exit_time_fixed_start(p/d) / exit_time_annealed,
    i.e. the SGD noise added to that one start; dotted: ratio 1. When gamma
    depends on p (one gamma with data per p, e.g. gamma = 0.1 p) the series run over p
    at that gamma. present: the runs that exist (measure.runs_present), for the counts."""
    summary = exit_time_summary(exit_times, present)
    has_data = summary.ratio_to_ode.notnull().any(["engine", "d"])
    if int(has_data.sum("gamma").max()) <= 1:
        summary = pick_gamma(summary, has_data)
    fig, (ax,) = new_figure(width=5.6, height=4.2)
    colors = palette(summary.d.values)
    extra_dim = (varying(summary, ("gamma", "noise")) or [None])[0]
    styles = line_styles(summary[extra_dim].values) if extra_dim else {}
    plotted = False
    for coords, ratio in iter_series(summary.ratio_to_ode, "p"):
        plotted |= error_points(
            ax, ratio.p, ratio, summary.ratio_to_ode_sem.sel(coords), log_y=False,
            color=colors[coords["d"]], marker=ENGINE_MARKERS.get(coords["engine"], "o"),
            ls=styles.get(coords.get(extra_dim), "-"), lw=0.8)
    typical_start = exit_times.attrs.get("init") == "annealed"
    threshold = float(exit_times.attrs.get("threshold", 0.01))
    for coords, t_ode in iter_series(summary.exit_time_ode, "p") if typical_start else ():
        gamma = coords["gamma"] if "gamma" in coords else t_ode.gamma  # over p once picked
        p, d, noise = t_ode.p, coords["d"], coords["noise"]
        predicted = (theory.exit_time_fixed_start(p / d, d, p, gamma, noise, threshold)
                     / theory.exit_time_annealed(d, p, gamma, noise, threshold))
        error_points(ax, p, predicted.where(t_ode.notnull()), log_y=False,
                     color=colors[d], ls="--", lw=0.8, marker="", alpha=0.7)
    ax.axhline(1.0, color="0.5", ls=":", lw=0.8)
    handles = key_handles(
        colors, "d", summary.engine.values, styles if len(styles) > 1 else None, extra_dim,
        extra=[("linear theory: SGD noise on that start", dict(color="0.3", ls="--"))]
        if typical_start else ())
    finish_axes(ax, plotted, r"hidden neurons $p$",
                r"$\langle t_{\rm ex}\rangle_{\rm SGD} / t_{\rm ex}^{\rm ODE}$", log_y=False,
                handles=handles)
    counts = (seed_counts(present) if present is not None
              else f"{exit_times.sizes['seed']} seed slots/cell")
    used = summary.gamma.where(summary.ratio_to_ode.notnull().any(["engine", "d"]))
    set_title(fig, "F2", "mean SGD exit time over the ODE's from the same start",
              gamma_text(used) if used.notnull().any() else "",
              describe(fixed_values(summary, ("noise",))),
              f"T = {exit_times.attrs.get('threshold', '?')}; {counts}")
    return fig
