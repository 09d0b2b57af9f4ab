"""Drawing of the margins figures M1..M5 from the measurements of paper.py (Agg figures,
no pyplot; the house style of mediocrity.pipeline.figures).
Every panel states the measured number next to the claim it tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from ...pipeline.figures import describe, finish_axes, new_figure, palette, set_title
from .engines import styles as engine_styles
from .paper import MIN_SPAN, fixed_text, present

# engine styles from the engine registry (family "margins"), line styles in its order
_STYLES = engine_styles()
ENGINE_COLORS = {name: style[0] for name, style in _STYLES.items()}
ENGINE_MARKERS = {name: style[1] for name, style in _STYLES.items()}
ENGINE_LINES = dict(zip(_STYLES, ("-", "--", "-.", ":")))
EPS_STYLE = dict(color="0.5", ls=":", lw=0.8)
AXIS_LABELS = {"d": "input dimension d", "k": "number of groups k"}


def _note(ax, text: str, y: float = 0.03) -> None:
    ax.text(0.02, y, text, transform=ax.transAxes, fontsize=6.5, color="0.35", va="bottom",
            wrap=True)


def _ci(text_value: float, lo: float, hi: float) -> str:
    return f"{text_value:.3g} [{lo:.3g}, {hi:.3g}]"


def _entry(label: str, **style) -> Line2D:
    return Line2D([], [], label=label, **({"ls": "", "marker": ""} | style))


def _seeds(ds: xr.Dataset) -> str:
    counts = present(ds).sum("seed").values.ravel()
    counts = counts[counts > 0]
    if not counts.size:
        return "no runs"
    lo, hi = int(counts.min()), int(counts.max())
    return f"{lo} seeds/cell" if lo == hi else f"{lo}-{hi} seeds/cell"


def _fit_line(ax, x, y, slope, **style) -> None:
    """The fitted power law through the geometric mean of the finite points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() >= 2 and np.isfinite(slope):
        lx, ly = np.log(x[ok]), np.log(y[ok])
        grid = np.exp(np.linspace(lx.min(), lx.max(), 20))
        ax.plot(grid, np.exp(ly.mean() + slope * (np.log(grid) - lx.mean())), lw=0.9, **style)


def _errorbar(ax, x, y, lo=None, hi=None, log_y=True, **style) -> bool:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & ((y > 0) if log_y else True)
    if not ok.any():
        return False
    err = None
    if lo is not None:
        err = np.nan_to_num(np.abs(np.vstack([y - np.asarray(lo, float),
                                               np.asarray(hi, float) - y])))[:, ok]
    ax.errorbar(x[ok], y[ok], yerr=err, capsize=2, markersize=4, **style)
    return True


def _ratio_axes(ax, plotted: bool, handles: list, claim: str, ylabel: str,
                missing: str | None) -> None:
    """A margin-ratio-vs-width panel: the claim's line at 1, axes, and a note when the
    reference `missing` was not computed."""
    ax.axhline(1.0, color="k", ls=":", lw=0.9)
    handles.append(Line2D([], [], color="k", ls=":", label=claim))
    finish_axes(ax, plotted, "width m", ylabel, log_y=False, handles=handles)
    if missing:
        _note(ax, f"no gamma_{missing} in the store (reference {missing} not computed)", 0.4)


def _short_log_ticks(ax) -> None:
    """Plain ticks at round linear steps on a log x axis spanning under a decade: its
    2..9 x 10^k ticks leave 10^k..2 x 10^k bare (M5's m and 1/γ axes of the quick grid had
    no tick past 100)."""
    lo, hi = ax.get_xlim()
    if ax.get_xscale() == "log" and 0 < lo < hi < 10 * lo:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_locator(NullLocator())


def _mean_sem(da: xr.DataArray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = da.notnull().sum("seed")
        return da.mean("seed"), da.std("seed", ddof=1) / np.sqrt(n.where(n > 1))


def draw_samples(name: str, r: dict):
    """M1 (axis d) and M4 (axis k): test error vs n per axis value and series; n_eps vs
    the axis log-log with the fitted exponent and the claimed rate as a dotted guide."""
    fig, (left, right) = new_figure(2)
    axis, eps, te = r["axis"], r["eps"], r["test_error"]
    colors = palette(te[axis].values)
    series_dims = [d for d in r["series_dims"] if d in te.dims]
    cells = [dict(zip(series_dims, v)) for v in r["fits"]]
    styles = {tuple(c.values()): ["-", "--", "-.", ":"][k % 4] for k, c in enumerate(cells)}
    plotted = False
    mean, sem = _mean_sem(te)
    for cell in cells:
        key = tuple(cell.values())
        for value in te[axis].values:
            sel = {**cell, axis: value}
            line = mean.sel(sel)
            plotted |= _errorbar(left, line.n, line, line - sem.sel(sel), line + sem.sel(sel),
                                 log_y=False, color=colors[value], ls=styles[key],
                                 marker=ENGINE_MARKERS.get(cell.get("engine"), "o"))
    handles = [Line2D([], [], color=c, lw=2, label=describe({axis: v}))
               for v, c in colors.items()]
    handles += [Line2D([], [], color="0.3", ls=styles[tuple(c.values())], label=describe(c))
                for c in cells]
    handles.append(Line2D([], [], label=f"ε = {eps:g}", **EPS_STYLE))
    n_drop = int(r["dropped"].sum())
    if n_drop:
        handles.append(_entry(f"{n_drop} runs dropped (NaN test error)"))
    left.axhline(eps, **EPS_STYLE)
    finish_axes(left, plotted, "training samples n", "test error (mean ± sem over seeds)",
                log_y=False, handles=handles)
    left.set_title(f"test error vs n per {axis}", fontsize=8)
    # right: n_eps vs the axis
    plotted, handles = False, []
    for cell in cells:
        key = tuple(cell.values())
        est = r["n_eps"].sel(cell)
        fit = r["fits"][key]
        color = ENGINE_COLORS.get(cell.get("engine"), "0.3")
        style = dict(color=color, ls="", marker=ENGINE_MARKERS.get(cell.get("engine"), "o"))
        ok = _errorbar(right, est[axis], est, r["lo"].sel(cell), r["hi"].sel(cell), **style)
        plotted |= ok
        _fit_line(right, est[axis], est, fit["slope"], color=color, ls=styles[key])
        text = (f"b = {_ci(fit['slope'], fit['slope_lo'], fit['slope_hi'])}"
                if np.isfinite(fit["slope"]) else
                f"no fit: {fit['n_points']} {axis} value(s) reach ε (need 2)")
        handles.append(Line2D([], [], label=f"{describe(cell)}: {text}", **style))
    first = next((r["n_eps"].sel(c) for c in cells
                  if np.isfinite(r["n_eps"].sel(c)).any()), None)
    if first is not None:
        x = first[axis].values.astype(float)
        i = int(np.flatnonzero(np.isfinite(first.values))[0])
        right.plot(x, float(first[i]) * (x / x[i]) ** r["slope_theory"], color="k", ls=":",
                   lw=0.9)
    guide = (f"~ d^{r['slope_theory']:g}/ε, methods near initialisation (NTK)" if axis == "d"
             else f"~ {axis}^{r['slope_theory']:g} (claim)")
    handles.append(Line2D([], [], color="k", ls=":", lw=0.9, label=guide))
    finish_axes(right, plotted, AXIS_LABELS.get(axis, axis),
                f"samples n_ε to test error ε = {eps:g}", handles=handles)
    if not plotted:
        _note(right, f"the seed-mean test error never reaches ε = {eps:g} on this grid", 0.4)
    right.set_title(f"n_ε vs {axis}: fitted exponent b (claim: {r['slope_theory']:g})",
                    fontsize=8)
    what = {"M1": "2-sparse parity, samples to test error ε vs d (gf and sgd)",
            "M4": "neural collapse, samples to test error ε vs the number of groups k"}[name]
    set_title(fig, name, what, fixed_text(r["fixed"]), _seeds(r["summary"]))
    return fig


def _ffill_t(values: np.ndarray) -> np.ndarray:
    """Runs that stopped early keep their last saved state (last axis: t)."""
    idx = np.where(np.isfinite(values), np.arange(values.shape[-1]), 0)
    return np.take_along_axis(values, np.maximum.accumulate(idx, -1), -1)


def draw_m2(r: dict):
    fig, (left, right) = new_figure(2)
    ds, sw = r["summary"], r["sweep"]
    colors = palette(ds.m.values)
    plotted, handles = False, []
    for m in ds.m.values:
        color = colors[m]
        label = describe({"m": m})
        if sw is not None and m in sw.m.values:
            margin = sw["margin"].sel(m=m).transpose("seed", "t")
            t = margin.t.values
            filled = _ffill_t(margin.values.astype(float))[:, t > 0]
            if np.isfinite(filled).any():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    q = np.nanquantile(filled, [0.25, 0.5, 0.75], axis=0)
                left.plot(t[t > 0], q[1], color=color)
                left.fill_between(t[t > 0], q[0], q[2], color=color, alpha=0.2, lw=0)
                plotted = True
        gamma = float(ds["gamma_ntk"].sel(m=m).mean()) if r["have_ntk"] else np.nan
        if np.isfinite(gamma):
            left.axhline(gamma, color=color, ls="--", lw=0.9)
            label += f": γ_ntk = {gamma:.3g} (dashed)"
        handles.append(Line2D([], [], color=color, lw=2, label=label))
    if "gamma_ntk_infinite" in ds and ds["gamma_ntk_infinite"].notnull().any():
        g_inf = float(ds["gamma_ntk_infinite"].mean())
        left.axhline(g_inf, color="k", ls=":", lw=0.9)
        handles.append(Line2D([], [], color="k", ls=":", label=f"γ_ntk, m = ∞: {g_inf:.3g}"))
    finish_axes(left, plotted, "gradient-flow time t", "normalized margin (median, quartiles)",
                log_y=False, handles=handles)
    left.set_title("margin vs t per m; dashed: seed-mean NTK margin at init", fontsize=8)
    # right: final margin / gamma_ntk vs m
    handles, plotted = [], False
    for m in ds.m.values:
        per_seed = r["ratio"].sel(m=m).values
        ok = np.isfinite(per_seed)
        if ok.any():
            right.plot(np.full(ok.sum(), float(m)), per_seed[ok], ls="", marker=".",
                       color="0.6", ms=3)
        above = r["above"].sel(m=m)
        n_ok, n_up = int(above.notnull().sum()), int((above == 1).sum())
        mean, lo, hi = (float(r[k].sel(m=m)) for k in ("ratio_mean", "ratio_lo", "ratio_hi"))
        plotted |= _errorbar(right, [m], [mean], [lo], [hi], log_y=False, color=colors[m],
                             marker="o", ls="")
        drop = int((present(ds).sel(m=m) & ~r["valid"].sel(m=m)).sum())
        handles.append(Line2D([], [], color=colors[m], marker="o", ls="", label=(
            f"m = {m:g}: {n_up}/{n_ok} runs ≥ γ_ntk; ratio {_ci(mean, lo, hi)}"
            + (f" ({drop} dropped)" if drop else ""))))
    _ratio_axes(right, plotted, handles, "claim: ratio ≥ 1",
                "final margin / γ_ntk (points: seeds)", None if r["have_ntk"] else "ntk")
    right.set_title("gf attains at least the NTK margin?", fontsize=8)
    set_title(fig, "M2", "normalized margin of gf against the NTK margin",
              fixed_text(r["fixed"]), _seeds(ds))
    return fig


M3_LABELS = {"motion_over_sqrt_m": "motion / sqrt(m)", "rotation_max": "rotation max",
             "rotation_mean": "rotation mean"}


def draw_m3(r: dict):
    fig, axes = new_figure(2)
    ds = r["summary"]
    for ax, names, claim in ((axes[0], ("motion_over_sqrt_m",), "bounded (slope ≤ 0)"),
                             (axes[1], ("rotation_max", "rotation_mean"), "shrinks (slope < 0)")):
        plotted, handles = False, []
        for name in names:
            if name not in r["mean"]:
                continue
            ls = "--" if name == "rotation_mean" else "-"
            mean = r["mean"][name]
            engines = mean.engine.values if "engine" in mean.dims else [None]
            for engine in engines:
                cell = {"engine": engine} if engine is not None else {}
                est = mean.sel(cell)
                fit = r["fits"][(name, *cell.values())]
                style = dict(color=ENGINE_COLORS.get(engine, "0.3"),
                             marker=ENGINE_MARKERS.get(engine, "o"))
                plotted |= _errorbar(ax, est.m, est, r["lo"][name].sel(cell),
                                     r["hi"][name].sel(cell), ls="", **style)
                _fit_line(ax, est.m, est, fit["slope"], ls=ls, color=style["color"])
                text = (f"slope {_ci(fit['slope'], fit['slope_lo'], fit['slope_hi'])}"
                        if np.isfinite(fit["slope"]) else
                        f"no fit ({fit['n_points']} m with data, need 2)")
                drop = int(ds[name].isnull().where(present(ds)).sum()) if name in ds else 0
                handles.append(Line2D([], [], ls=ls, **style, label=(
                    f"{M3_LABELS[name]}, {engine}: {text}" + (f" ({drop} NaN dropped)"
                                                               if drop else ""))))
        finish_axes(ax, plotted, "width m", " and ".join(M3_LABELS[n] for n in names)
                    + (" (radians)" if "rotation" in names[0] else ""), handles=handles)
        ax.set_title(f"{names[0].split('_')[0]} at the end vs m: claim {claim}", fontsize=8)
    set_title(fig, "M3", "weight motion may be O(sqrt m) while units rotate less at large m",
              fixed_text(r["fixed"]), _seeds(ds))
    return fig


def draw_m5_limit(ax, r: dict) -> None:
    """Seed-mean margin / gamma_norm_only vs 1/|W| at the largest d and m, per n, over the
    saves of the fit, with the fitted lines c0 + c1/|W| carried to 1/|W| = 0."""
    late, rows = r["late"], [row for row in r["rows"]
                             if row["quantity"] == "margin_over_norm_only_limit"]
    plotted, handles = False, []
    if late is not None:
        colors = palette(late.n.values)
        for row in rows:
            cell = dict(engine=row["engine"], n=row["n"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                means = late.sel(cell).mean("seed")
            mean, x = means.isel(what=0), 1.0 / means.isel(what=1).values
            style = dict(color=colors[row["n"]], ls=ENGINE_LINES.get(row["engine"], "-"))
            plotted |= _errorbar(ax, x, mean.values, log_y=False,
                                 marker=ENGINE_MARKERS.get(row["engine"], "o"), **style)
            if np.isfinite(row["value"]) and np.isfinite(mean.values).any():
                i = int(np.nanargmin(x))
                ax.plot([0.0, x[i]], [row["value"], mean.values[i]], lw=0.8, alpha=0.7,
                        **{**style, "ls": ":"})
            handles.append(Line2D([], [], label=(
                f"{row['engine']}, n = {row['n']:g}: t → ∞ "
                f"{_ci(row['value'], row['value_lo'], row['value_hi'])}"), **style))
        ax.axhline(1.0, color="k", ls=":", lw=0.9)
    finish_axes(ax, plotted, "1 / ‖W‖_F (t → ∞ at 0)", "margin / γ_norm_only (seed mean)",
                log_x=False, log_y=False, handles=handles)
    if plotted:
        ax.set_xlim(left=0.0)
    if late is None:
        _note(ax, "no margin series or gamma_norm_only: no t → ∞ extrapolation", 0.4)
    top = f"d = {r['summary'].d.values.max():g}, m = {r['summary'].m.values.max():g}"
    ax.set_title(f"last decades of t ({top}): fit c0 + c1/‖W‖, c0 = the t → ∞ value",
                 fontsize=8)


def draw_m5(r: dict):
    fig, (left, middle, right) = new_figure(3)
    draw_m5_limit(middle, r)
    ds = r["summary"]
    d_top = ds.d.values.max()
    colors = palette(ds.n.values)
    plotted, handles = False, []
    for engine in ds.engine.values:
        for n in ds.n.values:
            cell = dict(engine=engine, n=n, d=d_top)
            mean = r["mean"].sel(cell)
            plotted |= _errorbar(left, mean.m, mean, r["lo"].sel(cell), r["hi"].sel(cell),
                                 log_y=False, color=colors[n], ls=ENGINE_LINES.get(engine, "-"),
                                 marker=ENGINE_MARKERS.get(engine, "o"))
    for row in r["rows"]:
        if row["quantity"] == "margin_over_norm_only":
            handles.append(Line2D([], [], color=colors[row["n"]],
                                  ls=ENGINE_LINES.get(row["engine"], "-"),
                                  marker=ENGINE_MARKERS.get(row["engine"], "o"), label=(
                f"{row['engine']}, n = {row['n']:g}: at m = {row['m']:g} "
                f"{_ci(row['value'], row['value_lo'], row['value_hi'])}"
                + (f" ({row['n_dropped']} dropped)" if row["n_dropped"] else ""))))
    _ratio_axes(left, plotted, handles, "claim: ratio → 1 at large m",
                "final margin / γ_norm_only (mean, 95% CI)", None if r["have"] else "norm_only")
    _short_log_ticks(left)
    left.set_title(f"margin vs the largest norm-only margin (d = {d_top:g})", fontsize=8)
    # right: n_eps vs 1/gamma_norm_only per (d, m) cell, log-log, with the fitted slope
    samples = r["samples"]  # (what: 1/gamma, n_eps) per (engine, d, m)
    colors = palette(ds.d.values)
    marks = dict(zip(ds.m.values, ("v", "s", "D", "o", "^", "P")))
    plotted, handles = False, []
    for engine in samples.engine.values:
        for d in samples.d.values:
            for m in samples.m.values:
                x, y = (float(samples.sel(engine=engine, d=d, m=m).isel(what=k)) for k in (0, 1))
                plotted |= _errorbar(right, [x], [y], color=colors[d], ls="",
                                     marker=marks.get(m, "o"))
        fit = r["fits"].get((engine,))
        if fit:
            xs = np.array([fit["x_lo"], fit["x_hi"]])
            est = samples.sel(engine=engine)
            ok = np.isfinite(est.isel(what=0)) & np.isfinite(est.isel(what=1))
            x0 = float(np.exp(np.log(est.isel(what=0).where(ok)).mean()))
            y0 = float(np.exp(np.log(est.isel(what=1).where(ok)).mean()))
            right.plot(xs, y0 * (xs / x0) ** fit["slope"], color="0.3",
                       ls=ENGINE_LINES.get(engine, "-"), lw=0.9)
            right.plot(xs, y0 * (xs / x0) ** 2.0, color="k", ls=":", lw=0.9)
    handles += [Line2D([], [], color=c, lw=2, label=f"d = {d:g}") for d, c in colors.items()]
    handles += [Line2D([], [], color="0.3", ls="", marker=mk, label=f"m = {m:g}")
                for m, mk in marks.items()]
    for engine, fit in r["fits"].items():
        label = (f"{engine[0]}: slope {_ci(fit['slope'], fit['slope_lo'], fit['slope_hi'])}"
                 if fit else f"{engine[0]}: no n_ε vs 1/γ fit on this grid")
        handles.append(Line2D([], [], color="0.3", ls=ENGINE_LINES.get(engine[0], "-"),
                              label=label))
    handles.append(Line2D([], [], color="k", ls=":", lw=0.9, label="~ 1/γ² (the bound's rate)"))
    finish_axes(right, plotted, "1 / γ_norm_only (seed mean at the largest n)",
                f"samples n_ε to test error ε = {r['eps']:g}", handles=handles)
    _short_log_ticks(right)
    missing = [engine[0] for engine, fit in r["fits"].items() if fit is None]
    if missing:
        _note(right, f"no fit of log n_ε on log 1/γ for {', '.join(missing)}: fewer than 2 "
                     f"(d, m) cells reach ε = {r['eps']:g}, or 1/γ spans < {MIN_SPAN:g}x",
              0.35)
    right.set_title("n_ε vs 1/γ_norm_only per (d, m): the bound n ~ 1/γ²", fontsize=8)
    set_title(fig, "M5", "directions frozen (norm_only): margin and samples vs the largest "
              "norm-only margin", fixed_text(r["fixed"]), _seeds(ds))
    return fig


def draw(experiment: str, result: dict):
    """The Figure of one contract experiment from its measurements."""
    if experiment in ("M1", "M4"):
        return draw_samples(experiment, result)
    return {"M2": draw_m2, "M3": draw_m3, "M5": draw_m5}[experiment](result)


def figure_with_fits(experiment, summary_path, sweep_path, stem, csv_path, tex_path,
                     n_boot: int = 1000, bootstrap_seed: int = 0) -> pd.DataFrame:
    """Figure `experiment` (M1..M5) at stem.pdf/.png, its fit rows (csv_path) and LaTeX
    macros (tex_path), from the experiment's summary and sweep stores."""
    from ...pipeline.figures import save_figure
    from .paper import fit_table, latex_macros, measure

    with xr.open_zarr(summary_path) as summary, xr.open_zarr(sweep_path) as sweep:
        summary = summary.load()
        sweep = ({"M2": sweep[["margin"]], "M5": sweep[["margin", "norm"]]}[experiment].load()
                 if experiment in ("M2", "M5") else None)
    result = measure(experiment, summary, sweep, int(n_boot), int(bootstrap_seed))
    table = fit_table(result["rows"])
    for path in (csv_path, tex_path, f"{stem}.pdf"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv_path, index=False, float_format="%.17g")
    Path(tex_path).write_text(latex_macros(experiment, table))
    save_figure(draw(experiment, result), stem)
    print(f"{experiment}: {len(table)} fit rows; wrote {stem}.pdf/.png, {csv_path}, {tex_path}")
    return table
