"""F7: the information-exponent law. Exit time and samples vs d for targets of
information exponent k = 1, 2, 3, 4 (exact chain: markers, ODE from the same typical
start: lines), and he3 at a fixed step size (chain vs ODE)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .common import EXIT_LABEL, SAMPLES_LABEL, readable_log_ticks

COLORS = {"relu": "tab:red", "phase_retrieval": "tab:blue", "abs": "tab:green",
          "he3": "tab:purple", "he4": "tab:brown"}
P_MARKERS = {1: "o", 2: "s", 3: "^"}


def _label(row) -> str:
    return f"{row['model']} (k = {row['k']}), p = {row['p']}"


def _series(table: pd.DataFrame):
    for (experiment, model, p), part in table.groupby(["experiment", "model", "p"],
                                                      sort=False):
        yield experiment, model, int(p), part.sort_values("d")


def _points(ax, part, y, yerr, color, marker, label):
    ok = np.isfinite(part[y].to_numpy())
    if ok.any():
        ax.errorbar(part["d"].to_numpy()[ok], part[y].to_numpy()[ok],
                    yerr=None if yerr is None else part[yerr].to_numpy()[ok], ls="",
                    marker=marker, ms=4, color=color, capsize=2, label=label)


def figure_f7(table: pd.DataFrame, fits: pd.DataFrame, noise_experiment: str = "F7noise"):
    """table: exponents.cell_table rows of every F7 experiment (samples in column
    'samples', the ODE in 'ode'/'samples_ode'); fits: exponents.fit_experiment rows."""
    fig = Figure(figsize=(13.5, 9.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2).ravel()
    main = table[table.experiment != noise_experiment].copy()
    main["sem_samples"] = main["sem"] * main["p"] * main["d"] / main["gamma"]
    # (a) k <= 2: t_ex vs log d; (b) k >= 3: log-log
    for experiment, model, p, part in _series(main):
        k = int(part["k"].iloc[0])
        ax = axes[0] if k <= 2 else axes[1]
        color, marker = COLORS.get(model, "0.3"), P_MARKERS.get(p, "D")
        fit = fits[(fits.experiment == experiment) & (fits.p == p)]
        label = f"{model} (k = {k}), p = {p}"
        if not fit.empty:
            f = fit.iloc[0]
            label += f": slope {f.slope:.3g} [{f.slope_lo:.3g}, {f.slope_hi:.3g}]"
            label += f", ODE {f.slope_ode:.3g}"
        _points(ax, part, "mean", "sem", color, marker, label)
        ode = part["ode"].to_numpy()
        if np.isfinite(ode).any():
            ax.plot(part["d"], ode, color=color, lw=1, ls="--" if p > 1 else "-")
        # (c) samples vs d
        _points(axes[2], part, "samples", "sem_samples", color, marker,
                f"{model}, p = {p}")
        if np.isfinite(part["samples_ode"]).any():
            axes[2].plot(part["d"], part["samples_ode"], color=color, lw=1,
                         ls="--" if p > 1 else "-")
        # literature's online-SGD rate (Ben Arous-Gheissari-Jagannath 2021), anchored at
        # the smallest d of the series
        d = part["d"].to_numpy(dtype=float)
        n0 = part["samples"].to_numpy()
        if p == 1 and np.isfinite(n0[0]):
            guide = {1: d / d[0], 2: d * np.log(d) / (d[0] * np.log(d[0]))}.get(
                k, (d / d[0]) ** (k - 1))
            axes[2].plot(d, n0[0] * guide, color=color, lw=0.8, ls=":")
    for ax in axes[:3]:
        ax.set_xscale("log")
        ax.set_xlabel("input dimension d")
    axes[0].set_ylabel(EXIT_LABEL)
    axes[0].set_title("k = 1, 2: exit time vs log d (points: exact chain, lines: ODE "
                      "from m = d^-1/2)", fontsize=8)
    axes[1].set_yscale("log")
    axes[1].set_ylabel(EXIT_LABEL)
    axes[1].set_title(r"k = 3, 4 at $\gamma \propto d^{-(k-2)/2}$: log-log, theory "
                      r"$t_{\rm ex} \propto d^{(k-2)/2}$ (dotted)", fontsize=8)
    for _, model, _, part in _series(main):
        k = int(part["k"].iloc[0])
        if k >= 3 and np.isfinite(part["mean"]).any():
            d = part["d"].to_numpy(dtype=float)
            axes[1].plot(d, part["mean"].iloc[0] * (d / d[0]) ** ((k - 2) / 2),
                         color=COLORS.get(model, "0.3"), ls=":", lw=0.8)
    axes[2].set_yscale("log")
    axes[2].set_ylabel(SAMPLES_LABEL)
    axes[2].set_title("samples; dotted: online SGD, Ben Arous et al. 2021 "
                      "(d, d log d, d^(k-1)), anchored at the first point", fontsize=8)
    # (d) he3 at fixed gamma: chain vs ODE
    ax = axes[3]
    noise = table[table.experiment == noise_experiment].sort_values("d")
    if not noise.empty:
        ax.errorbar(noise["d"], noise["mean"], yerr=noise["sem"], marker="o", ls="",
                    color="tab:purple", capsize=2, label="exact chain (escaped runs)")
        ode = noise["ode"].to_numpy()
        ax.plot(noise["d"], ode, "k-", marker="x", label="ODE (missing: never escapes)")
        for _, row in noise.iterrows():
            ax.annotate(f"{row['n_escaped']}/{row['n_runs']} escaped",
                        (row["d"], row["mean"] if np.isfinite(row["mean"]) else 0),
                        textcoords="offset points", xytext=(4, 6), fontsize=7)
        for _, row in noise[~np.isfinite(noise["ode"])].iterrows():
            ax.axvline(row["d"], color="k", ls=":", lw=0.8)
        ax.set_title(f"he3 (k = 3) at fixed γ = {noise['gamma'].iloc[0]:.3g}: SGD noise "
                     "vs the deterministic flow", fontsize=8)
        ax.legend(fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("input dimension d")
    ax.set_ylabel(EXIT_LABEL)
    for ax in axes[:3]:
        ax.legend(fontsize=6.5, loc="best")
    for ax in axes:  # 1, 2, 5 x 10^k on short log axes: the default minor labels collide
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() == "log":
                readable_log_ticks(axis, *limits)
    fig.suptitle("F7: the information-exponent law, exit time from the typical start "
                 "m = d^(-1/2) (T = 0.5)", fontsize=9)
    return fig
