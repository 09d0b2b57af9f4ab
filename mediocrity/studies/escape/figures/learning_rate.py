"""F5: exit time (left) and samples to escape (right) vs the learning rate gamma for
several p, with the optimal gamma* = gamma_c/2 (dotted) and the critical gamma_c (dashed),
beyond which M = 0 is stable and no escape happens."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .... import theory
from ..measure import exit_time_summary, samples
from .common import (ENGINE_MARKERS, EXIT_LABEL, SAMPLES_LABEL, SYMBOLS, error_points,
                     finish_axes, iter_series, key_handles, line_styles, new_figure, palette,
                     seed_counts, set_title, value_range, varying)

THEORY_POINTS = 120
GAMMA_C_MARGIN = 0.995  # the theory curves stop just below gamma_c, where they diverge


def figure_f5(exit_times: xr.Dataset, present: xr.DataArray | None = None) -> Figure:
    """Markers: mean +- sem over seeds per (engine, d, p, noise); open squares: the ODE
    from the same start; lines: (log d + C_p)/(2 lambda_p) (quenched C_p; the first-order
    SGD-noise shift is left out: it diverges at gamma_c) and n = t p d/gamma; vertical
    lines gamma* (dotted) and gamma_c (dashed) of each p."""
    threshold = float(exit_times.attrs.get("threshold", 0.01))
    summary = exit_time_summary(exit_times, present)
    fig, (left, right) = new_figure(ncols=2, height=4.6)
    colors = palette(summary.p.values)
    extra_dim = (varying(summary, ("d", "noise")) or ["d"])[0]
    styles = line_styles(summary[extra_dim].values)
    plotted = [False, False]
    for coords, mean in iter_series(summary.exit_time_mean, "gamma"):
        style = dict(color=colors[coords["p"]], ls="",
                     marker=ENGINE_MARKERS.get(coords["engine"], "o"))
        plotted[0] |= error_points(left, mean.gamma, mean, summary.exit_time_sem.sel(coords),
                                   **style)
        plotted[1] |= error_points(right, mean.gamma, summary.samples_mean.sel(coords),
                                   summary.samples_sem.sel(coords), **style)
    for coords, t_ode in iter_series(summary.exit_time_ode, "gamma"):
        style = dict(color=colors[coords["p"]], ls="", marker="s", mfc="none")
        plotted[0] |= error_points(left, t_ode.gamma, t_ode, **style)
        plotted[1] |= error_points(
            right, t_ode.gamma, samples(t_ode, coords["p"], coords["d"], t_ode.gamma), **style)
    has_data = summary.exit_time_mean.notnull().any(["engine", "gamma"])
    gamma_low = float(summary.gamma.min()) / 2.0
    for p in summary.p.values:
        for noise in summary.noise.values:
            gamma_c = float(theory.critical_gamma(p, noise))
            for ax in (left, right):
                ax.axvline(gamma_c / 2.0, color=colors[p], ls=":", lw=0.8)
                ax.axvline(gamma_c, color=colors[p], ls="--", lw=0.8)
            gamma = np.geomspace(min(gamma_low, gamma_c / 4.0), GAMMA_C_MARGIN * gamma_c,
                                 THEORY_POINTS)
            for d in summary.d.values:
                if not has_data.sel(d=d, p=p, noise=noise):
                    continue
                t_theory = theory.exit_time_quenched(d, p, gamma, noise, threshold)
                t_theory = np.where(t_theory > 0, t_theory, np.nan)
                ls = styles[{"d": d, "noise": noise}[extra_dim]]
                left.plot(gamma, t_theory, color=colors[p], lw=0.9, ls=ls)
                right.plot(gamma, samples(t_theory, p, d, gamma), color=colors[p], lw=0.9,
                           ls=ls)
    handles = key_handles(
        colors, "p", summary.engine.values, styles if len(styles) > 1 else None, extra_dim,
        extra=[("ODE, same start", dict(color="0.3", ls="", marker="s", mfc="none")),
               (r"theory $(\log d + C_p)/(2\lambda_p)$, quenched", dict(color="0.3", lw=0.9)),
               (r"$\gamma^* = \gamma_c/2$", dict(color="0.3", ls=":", lw=0.8)),
               (r"$\gamma_c$", dict(color="0.3", ls="--", lw=0.8))])
    finish_axes(left, plotted[0], r"learning rate $\gamma$", EXIT_LABEL, handles=handles,
                outside=True)
    finish_axes(right, plotted[1], r"learning rate $\gamma$", SAMPLES_LABEL, handles=[])
    counts = (seed_counts(present) if present is not None
              else f"{exit_times.sizes['seed']} seed slots/cell")
    cell = ", ".join(f"{SYMBOLS[dim]} = {value_range(summary[dim])}"
                     for dim in ("d", "p", "noise"))
    set_title(fig, "F5", "exit time and samples vs learning rate", cell,
              f"T = {threshold:g}; {counts}")
    return fig
