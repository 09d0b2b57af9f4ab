"""F6: asymptotic risk plateau vs the label noise Delta (left) and the learning rate gamma
(right): simulations, the ODE over the same late-time window, and the p = 1 fixed point
R_inf = gamma Delta/(1 - 6 gamma)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .... import theory
from ..measure import plateau_summary, runs_present
from .common import (ENGINE_MARKERS, describe, error_points, finish_axes, fixed_values,
                     iter_series, key_handles, line_styles, new_figure, palette, seed_counts,
                     set_title, varying)

THEORY_POINTS = 120
P1_GAMMA_MARGIN = 0.98  # the p = 1 curve vs gamma stops just below 1/6, where it diverges
EXTRA_KEYS = [("ODE, same window", dict(color="0.3", lw=0.6, marker="s", mfc="none")),
              (r"$p=1$ fixed point $\gamma\Delta/(1-6\gamma)$",
               dict(color="0.3", lw=1.6, alpha=0.4))]


def _panel(ax, summary: xr.Dataset, x_dim: str, color_dim: str) -> tuple[bool, list]:
    """Simulations (markers), ODE (open squares, thin line) and, if p = 1 is present, the
    closed form (dashed), vs x_dim, coloured by color_dim, the ODE's line style by the
    first of (d, p) that varies; returns (plotted, legend handles)."""
    colors = palette(summary[color_dim].values)
    style_dim = (varying(summary, ("d", "p")) or ["d"])[0]
    styles = line_styles(summary[style_dim].values)
    plotted = False
    for coords, mean in iter_series(summary.plateau_mean, x_dim):
        plotted |= error_points(
            ax, mean[x_dim], mean, summary.plateau_sem.sel(coords), ls="",
            color=colors[coords[color_dim]], marker=ENGINE_MARKERS.get(coords["engine"], "o"))
    if "plateau_ode" in summary:
        for coords, ode in iter_series(summary.plateau_ode, x_dim):
            plotted |= error_points(ax, ode[x_dim], ode, color=colors[coords[color_dim]],
                                    ls=styles[coords[style_dim]], lw=0.6, marker="s",
                                    mfc="none")
    positive = summary[x_dim].values[summary[x_dim].values > 0]
    if 1 in summary.p.values and positive.size:
        lo, hi = positive.min() / 1.5, positive.max() * 1.5
        if x_dim == "gamma":
            hi = min(hi, P1_GAMMA_MARGIN / 6.0)
        grid = np.geomspace(min(lo, hi / 10.0), hi, THEORY_POINTS)
        for value in summary[color_dim].values:
            gamma, noise = (grid, value) if x_dim == "gamma" else (value, grid)
            closed = np.where(np.asarray(gamma) < 1 / 6, theory.plateau_risk_p1(gamma, noise),
                              np.nan)
            ax.plot(grid, closed, color=colors[value], lw=1.6, alpha=0.4)
    return plotted, key_handles(colors, color_dim, summary.engine.values,
                                styles if len(styles) > 1 else None, style_dim,
                                extra=EXTRA_KEYS)


def figure_f6(sweep: xr.Dataset, ode: xr.Dataset | None = None,
              t_from: float | None = None) -> Figure:
    """Plateau = mean of R(t) over t >= t_from (default t >= t_max/2, the last factor 2),
    mean +- sem over seeds; left vs Delta coloured by gamma, right vs gamma coloured by
    Delta. Delta = 0 (plateau 0 in theory) and non-positive values are left out of the
    log axes."""
    summary = plateau_summary(sweep, ode, t_from).compute()
    zero_noise = bool((summary.noise == 0).any())
    summary = summary.sel(noise=summary.noise > 0)
    fig, (left, right) = new_figure(ncols=2)
    label = r"plateau risk $\langle R(t)\rangle_{t \geq t_{\rm from}}$"
    plotted, handles = _panel(left, summary, "noise", "gamma")
    finish_axes(left, plotted, r"label noise $\Delta$", label, handles=handles)
    plotted, handles = _panel(right, summary, "gamma", "noise")
    finish_axes(right, plotted, r"learning rate $\gamma$", label, handles=handles)
    window = summary.plateau_mean.attrs["t_from"]
    set_title(fig, "F6", "asymptotic risk", describe(fixed_values(summary, ("d", "p"))),
              f"averaged over t >= {window:.3g}",
              r"$\Delta$ = 0 left out (log axes)" if zero_noise else "",
              f"{seed_counts(runs_present(sweep))}")
    return fig
