"""F4: overparameterisation gain. Samples to escape at the optimal learning rate,
n*(p)/(d log d) vs p (left), and the gain n*(1)/n*(p) (right), which saturates near
(12 + Delta)/(2 + Delta) (d -> infinity, then p -> infinity)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .... import theory
from ..measure import exit_time_summary, samples
from .common import (ENGINE_MARKERS, error_points, finish_axes, iter_series, key_handles,
                     line_styles, new_figure, palette, pick_gamma, seed_counts, set_title)


def at_optimal_gamma(summary: xr.Dataset) -> xr.Dataset:
    """The summary at, for each (p, noise), the gamma with data nearest (in log) to
    gamma*(p, noise) = gamma_c/2; the gamma used stays as a coordinate over (p, noise)."""
    distance = np.abs(np.log(summary.gamma / theory.optimal_gamma(summary.p, summary.noise)))
    return pick_gamma(summary, summary.samples_mean.notnull().any(["engine", "d"]), distance)


def positive(values):
    """NaN where the finite-d theory is not positive (log d + C_p <= 0: d too small)."""
    return np.where(np.asarray(values) > 0, values, np.nan)


def figure_f4(exit_times: xr.Dataset, present: xr.DataArray | None = None) -> Figure:
    """Markers: simulations (mean +- sem over seeds), open squares: the ODE from the same
    start, dashed: n* = [(p^2+p+4)/(2p^2) + Delta/4] d (log d + C_p) with the quenched C_p,
    per d; dotted: its d -> infinity constant, grey: the p -> infinity limits."""
    threshold = float(exit_times.attrs.get("threshold", 0.01))
    summary = at_optimal_gamma(exit_time_summary(exit_times, present))
    scale = summary.d * np.log(summary.d)
    fig, (left, right) = new_figure(ncols=2, height=4.6)
    colors = palette(summary.d.values)
    styles = line_styles(summary.noise.values)
    p_grid = np.geomspace(1.0, max(float(summary.p.max()), 2.0), 100)
    plotted = [False, False]
    n_sim, n_sem = summary.samples_mean, summary.samples_sem
    for coords, n in iter_series(n_sim / scale, "p"):
        style = dict(color=colors[coords["d"]], ls=styles[coords["noise"]], lw=0.8,
                     marker=ENGINE_MARKERS.get(coords["engine"], "o"))
        plotted[0] |= error_points(left, n.p, n, n_sem.sel(coords) / scale.sel(d=coords["d"]),
                                   **style)
        if 1 in n_sim.p.values:
            many, many_sem = n_sim.sel(coords), n_sem.sel(coords)
            one, one_sem = many.sel(p=1), many_sem.sel(p=1)
            gain = one / many
            gain_sem = gain * np.sqrt((one_sem / one) ** 2 + (many_sem / many) ** 2)
            plotted[1] |= error_points(right, gain.p, gain, gain_sem, log_y=False, **style)
    n_ode = samples(summary.exit_time_ode, summary.p, summary.d, summary.gamma)
    for coords, n in iter_series(n_ode / scale, "p"):
        plotted[0] |= error_points(left, n.p, n, color=colors[coords["d"]], ls="",
                                   marker="s", mfc="none")
    for noise in summary.noise.values:
        for d in summary.d.values:
            optimal = positive(theory.optimal_samples(d, p_grid, noise, threshold,
                                                      "quenched"))
            left.plot(p_grid, optimal / (d * np.log(d)), color=colors[d], lw=1.6, alpha=0.35)
            right.plot(p_grid, positive(theory.optimal_samples(d, 1, noise, threshold,
                                                               "quenched")) / optimal,
                       color=colors[d], lw=1.6, alpha=0.35)
        left.plot(p_grid, (p_grid**2 + p_grid + 4) / (2 * p_grid**2) + noise / 4,
                  color="black", ls=styles[noise], lw=1.0)
        left.axhline(0.5 + noise / 4, color="0.5", lw=0.8, ls=styles[noise])
        right.axhline(theory.overparameterization_gain(noise), color="0.5", lw=0.8,
                      ls=styles[noise])
    handles = key_handles(
        colors, "d", summary.engine.values, styles if len(styles) > 1 else None, "noise",
        extra=[("ODE, same start", dict(color="0.3", ls="", marker="s", mfc="none")),
               (r"theory at finite $d$, quenched $C_p$", dict(color="0.3", lw=1.6, alpha=0.35)),
               (r"$d\to\infty$: $(p^2+p+4)/(2p^2) + \Delta/4$", dict(color="black", lw=1.0)),
               (r"$d, p\to\infty$: $1/2 + \Delta/4$; gain $(12+\Delta)/(2+\Delta)$",
                dict(color="0.5", lw=0.8))])
    finish_axes(left, plotted[0], r"hidden neurons $p$",
                r"$n^*(p)/(d\log d)$ (samples at $\gamma^*$)", handles=handles, outside=True)
    finish_axes(right, plotted[1], r"hidden neurons $p$", r"gain $n^*(1)/n^*(p)$",
                log_y=False, handles=[])
    gammas = ", ".join(f"{g:.3g}" for g in np.unique(summary.gamma.values))
    counts = (seed_counts(present) if present is not None
              else f"{exit_times.sizes['seed']} seed slots/cell")
    set_title(fig, "F4", r"samples to escape at the $\gamma$ nearest $\gamma^*$ = $\gamma_c$/2 "
              f"(used: {gammas})", f"T = {threshold:g}; {counts}")
    return fig
