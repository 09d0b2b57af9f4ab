"""Figures of every study: Agg-backed figures (no pyplot, no global figure state), labels,
error bars that tolerate NaN, log ticks, and `save_figure` (PDF + PNG)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

SYMBOLS = {"engine": "", "d": "d", "p": "p", "gamma": r"$\gamma$", "noise": r"$\Delta$"}
LINESTYLES = ("-", "--", "-.", ":")
EMPTY_NOTE = "no finite data in this panel"


def new_figure(ncols: int = 1, width: float = 4.8, height: float = 3.9):
    """A constrained-layout Figure on the Agg canvas and its row of ncols axes."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, ncols, squeeze=False)[0])


def save_figure(fig: Figure, stem) -> list[Path]:
    """Write stem.pdf and stem.png (200 dpi), creating the folder; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ext) for ext in (".pdf", ".png")]
    for path in paths:
        fig.savefig(path, dpi=200)
    return paths


def value_text(value) -> str:
    """Compact number or name: 0.0001 -> 0.0001, 3000 -> 3000, 'sgd' -> sgd."""
    return value if isinstance(value, str) else f"{float(value):g}"


def describe(coords: dict) -> str:
    """'d = 3000, p = 1, $\\gamma$ = 0.1' from a dict of coordinate values (engine bare)."""
    return ", ".join(value_text(v) if SYMBOLS.get(k, k) == ""
                     else f"{SYMBOLS.get(k, k)} = {value_text(v)}" for k, v in coords.items())


def fixed_values(ds: xr.Dataset, dims) -> dict:
    """{dim: value} of the dims among `dims` that have a single value."""
    return {dim: ds[dim].item() for dim in dims if dim in ds.dims and ds.sizes[dim] == 1}


def value_range(coord: xr.DataArray) -> str:
    """'100..1e+06' (or the single value) of a numeric coordinate."""
    lo, hi = float(coord.min()), float(coord.max())
    return f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"


def set_title(fig: Figure, name: str, *parts: str) -> None:
    """Figure title '<name>: part, part; ...' (empty parts dropped), wrapped to the width
    (never inside 'name = value')."""
    text = ", ".join(part for part in parts if part).replace(" = ", "\u00a0=\u00a0")
    fig.suptitle(textwrap.fill(f"{name}: {text}", int(fig.get_figwidth() * 16)), fontsize=9)


def seed_counts(present: xr.DataArray) -> str:
    """'sgd 100, sde 20-100 seeds/cell' from a boolean (engine, ..., seed) mask of runs."""
    per_cell = present.sum("seed")
    parts = []
    for engine in present.engine.values:
        counts = per_cell.sel(engine=engine).values.ravel()
        counts = counts[counts > 0]
        if counts.size:
            lo, hi = int(counts.min()), int(counts.max())
            parts.append(f"{engine} {lo}" if lo == hi else f"{engine} {lo}-{hi}")
    return (", ".join(parts) + " seeds/cell") if parts else "no runs"


def iter_series(da: xr.DataArray, x_dim: str) -> Iterator[tuple[dict, xr.DataArray]]:
    """Every 1-d slice of da along x_dim that has a finite value, with the coordinates
    of the other dims as a dict (the order of da.dims)."""
    other = [dim for dim in da.dims if dim != x_dim]
    stacked = da.expand_dims("series_") if not other else da.stack(series_=other)
    stacked = stacked.transpose("series_", x_dim)
    finite = np.isfinite(stacked.values).any(axis=1)
    for k in np.flatnonzero(finite):
        line = stacked.isel(series_=k)
        yield {dim: line[dim].item() for dim in other}, line.drop_vars(
            ["series_", *other], errors="ignore")


def pick_gamma(summary: xr.Dataset, has_data: xr.DataArray,
               distance: xr.DataArray | None = None) -> xr.Dataset:
    """The summary at one gamma per (p, noise): among the gammas with data (has_data over
    p, gamma, noise), the one of smallest distance (default: the first). For grids where
    gamma depends on p (gamma = c p, gamma*(p)); gamma stays as a coordinate."""
    distance = xr.zeros_like(summary.gamma, dtype=float) if distance is None else distance
    return summary.isel(gamma=distance.where(has_data, np.inf).argmin("gamma"))


def gamma_text(gamma: xr.DataArray) -> str:
    """'$\\gamma$ = 0.1 p' when gamma/p is one constant over several p, else the values
    of gamma (NaN entries, cells without data, ignored)."""
    ratio, p = xr.broadcast(gamma / gamma.p, gamma.p)
    finite = np.isfinite(ratio.values)
    ratios = np.unique(np.round(ratio.values[finite], 12))
    if ratios.size == 1 and np.unique(p.values[finite]).size > 1:
        return f"{SYMBOLS['gamma']} = {ratios[0]:g} p"
    values = np.unique(gamma.values[np.isfinite(gamma.values)])
    return f"{SYMBOLS['gamma']} = " + ", ".join(f"{g:.3g}" for g in values)


def varying(ds: xr.Dataset | xr.DataArray, dims) -> list[str]:
    """The dims among `dims` with more than one value (the ones a legend must name)."""
    return [dim for dim in dims if dim in ds.dims and ds.sizes[dim] > 1]


def palette(values) -> dict:
    """A viridis colour per value, in the given order."""
    values = list(values)
    cmap = colormaps["viridis"]
    return {v: cmap(0.85 * k / max(len(values) - 1, 1)) for k, v in enumerate(values)}


def line_styles(values) -> dict:
    """A line style per value (cycling through LINESTYLES)."""
    return {v: LINESTYLES[k % len(LINESTYLES)] for k, v in enumerate(values)}


def error_points(ax, x, y, err=None, log_x=True, log_y=True, **style) -> bool:
    """Error bars of the finite points (positive ones on log axes); err of shape (n,) or
    (2, n) (below, above); False if nothing was drawn."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    err = np.zeros_like(y) if err is None else np.nan_to_num(np.asarray(err, float))
    keep = np.isfinite(x) & np.isfinite(y)
    if log_x:
        keep &= x > 0
    if log_y:
        keep &= y > 0
    if not keep.any():
        return False
    ax.errorbar(x[keep], y[keep], yerr=err[..., keep], capsize=2, markersize=4, **style)
    return True


def finish_axes(ax, plotted: bool, xlabel: str, ylabel: str, log_x=True, log_y=True,
                handles=None, outside=False) -> None:
    """Labels, log scales, legend (the given handles, else the labelled artists; outside:
    below the figure); a note in the middle when nothing was plotted."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if not plotted:
        ax.text(0.5, 0.5, EMPTY_NOTE, transform=ax.transAxes, ha="center", va="center",
                color="0.4")
        return
    ax.set_xscale("log" if log_x else "linear")
    ax.set_yscale("log" if log_y else "linear")
    for axis, limits, log in ((ax.xaxis, ax.get_xlim(), log_x),
                              (ax.yaxis, ax.get_ylim(), log_y)):
        if log:
            readable_log_ticks(axis, *limits)
    handles = handles if handles is not None else ax.get_legend_handles_labels()[0]
    if handles and outside:
        ax.figure.legend(handles=handles, fontsize=6.5, frameon=False, ncols=4,
                         loc="outside lower center")
    elif handles:
        ax.legend(handles=handles, fontsize=6.5, frameon=False)


def readable_log_ticks(axis, lo: float, hi: float) -> None:
    """Log-axis tick labels that never crowd: plain numbers (0.02, 0.05) at 1, 2, 5 x 10^k
    on axes spanning under 3 decades (every minor tick labelled under 0.8 decades), the
    default decades beyond; minor ticks otherwise unlabelled."""
    decades = np.log10(hi / lo) if lo > 0 and hi > lo else np.inf
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    if decades < 0.8:
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)
        return
    if decades < 3:
        axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(plain)
    axis.set_minor_formatter(NullFormatter())
