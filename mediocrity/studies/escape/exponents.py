"""F7: the information-exponent law. Exit time vs d for targets of information exponent
k = 1 (relu), 2 (phase_retrieval, abs), 3 (he3), 4 (he4), measured with the exact chain
from the typical start m_j = d^(-1/2), against the deterministic ODE from the same start
and the literature's online-SGD sample complexity.

Deterministic picture (docs/science.md, "information exponent"): near M = 0 the drift of
m is c_k m^(k-1) (k >= 3), λ m (k = 2) or O(1) (k = 1), minus the noise-induced
contraction γ A m of the sphere (the γ term of the ODE). From m_0 = d^(-1/2):
    k = 1: t_ex = O(1);   k = 2: t_ex = (log d + C)/(2λ);
    k >= 3: t_ex ∝ d^((k-2)/2), provided γ A m_0 < c_k m_0^(k-1), i.e. γ ∝ d^(-(k-2)/2)
            (F7 scales γ so: config key gamma_d_exponent). Samples n = t_ex p d/γ then
            grow as d^(k-1), the online-SGD rate of Ben Arous, Gheissari & Jagannath
            (2021): n ≍ d^(k-1) (k >= 3), d log d (k = 2), d (k = 1).
At fixed γ and k >= 3 the contraction wins once d is large (m = 0 becomes stable for the
ODE); the F7 noise experiment measures the exact chain there.

Fits (per experiment, engine, p): k <= 2, <t_ex> = a + b log d (WLS, weights 1/sem²);
k >= 3, log <t_ex> = a + b log d (weights (mean/sem)²). 95% percentile bootstrap
intervals over seeds resampled within each d (escaped runs only). The same fit of the ODE
exit times over the same d gives the deterministic slope at these finite d.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import xarray as xr

from ... import models, theory
from ...pipeline.stats import percentiles

LITERATURE = {1: "n ≍ d", 2: "n ≍ d log d", 3: "n ≍ d^2", 4: "n ≍ d^3"}
FIT_COLUMNS = ("experiment", "model", "k", "p", "engine", "law", "n_d", "d_lo", "d_hi",
               "gamma_d_exponent", "slope", "slope_lo", "slope_hi", "slope_ode",
               "slope_theory", "slope_inside_ci", "sample_exponent",
               "sample_exponent_literature", "min_fraction_escaped")


def linear_rate(model: str, p: int, gamma: float, noise: float = 0.0) -> float:
    """λ of dm_j/dt = λ m_j near M = 0, Q = I (k = 2 models): the default's closed form,
    else the quadrature drift at m_1 = 1e-6."""
    if model == models.DEFAULT:
        return float(theory.growth_rate(p, gamma, noise))
    from ...engines.ode import model_moments

    m = np.zeros(p)
    m[0] = 1e-6
    mean, _ = model_moments(model, p)(m, np.eye(p), gamma, noise)
    return float(p * mean[0] / m[0])


def slope_theory(model: str, p: int, gamma: float, noise: float = 0.0) -> tuple[str, float]:
    """(law, slope): 'log' with 0 (k = 1) or 1/(2λ) (k = 2); 'power' with (k - 2)/2."""
    k = models.get(model).information_exponent
    if k == 1:
        return "log", 0.0
    if k == 2:
        return "log", 1.0 / (2.0 * linear_rate(model, p, gamma, noise))
    return "power", (k - 2) / 2.0


def cells(exit_times: xr.Dataset, sweep: xr.Dataset | None = None) -> list[dict]:
    """One record per (engine, p, d, gamma, noise) that has runs: the finite exit times
    (escaped runs), the number of runs, the ODE exit time when the store has it."""
    t_ex = exit_times.exit_time
    if sweep is not None:
        present = sweep.risk.isel(t=0, drop=True).notnull()
    else:
        present = t_ex.notnull()
    out = []
    for engine in t_ex.engine.values:
        for p in t_ex.p.values:
            for noise in t_ex.noise.values:
                for d in t_ex.d.values:
                    for gamma in t_ex.gamma.values:
                        sel = dict(engine=engine, p=p, d=d, gamma=gamma, noise=noise)
                        n_runs = int(present.sel(sel).sum())
                        if n_runs == 0:
                            continue
                        values = t_ex.sel(sel).values.astype(float)
                        ode = float("nan")
                        if "exit_time_ode" in exit_times:
                            ode = float(exit_times.exit_time_ode.sel(
                                d=d, p=p, gamma=gamma, noise=noise))
                        out.append(dict(engine=str(engine), p=int(p), d=int(d),
                                        gamma=float(gamma), noise=float(noise),
                                        n_runs=n_runs, values=values[np.isfinite(values)],
                                        ode=ode))
    return out


def cell_table(experiment: str, model: str, records: list[dict]) -> pd.DataFrame:
    """Mean and sem of the exit time per cell, the ODE, samples n = t p d/γ."""
    k = models.get(model).information_exponent
    rows = []
    for r in records:
        v = r["values"]
        mean = float(v.mean()) if v.size else float("nan")
        sem = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
        scale = r["p"] * r["d"] / r["gamma"]
        rows.append(dict(experiment=experiment, model=model, k=k, engine=r["engine"],
                         p=r["p"], d=r["d"], gamma=r["gamma"], noise=r["noise"],
                         n_runs=r["n_runs"], n_escaped=int(v.size),
                         fraction_escaped=v.size / r["n_runs"], mean=mean, sem=sem,
                         ode=r["ode"], samples=mean * scale, samples_ode=r["ode"] * scale))
    return pd.DataFrame(rows)


def _line(x, y, w):
    """WLS a + b x; (a, b), NaN with fewer than 2 usable points."""
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & (w > 0)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return float("nan"), float("nan")
    x, y, w = x[ok], y[ok], w[ok]
    xm = (w * x).sum() / w.sum()
    ym = (w * y).sum() / w.sum()
    b = (w * (x - xm) * (y - ym)).sum() / (w * (x - xm) ** 2).sum()
    return ym - b * xm, b


def _fit(d, groups, law):
    """Slope of the law from per-d samples (groups: list of arrays)."""
    x = np.log(np.asarray(d, dtype=float))
    mean = np.array([g.mean() if g.size else np.nan for g in groups])
    sem = np.array([g.std(ddof=1) / math.sqrt(g.size) if g.size > 1 else np.nan
                    for g in groups])
    if law == "log":
        return _line(x, mean, 1.0 / sem**2)[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return _line(x, np.log(mean), (mean / sem) ** 2)[1]


def fit_cells(records: list[dict], law: str, n_boot: int = 1000, seed: int = 0):
    """(slope, lo, hi, slope_ode) over the records of one (engine, p) series."""
    records = sorted(records, key=lambda r: r["d"])
    d = [r["d"] for r in records]
    groups = [r["values"] for r in records]
    slope = _fit(d, groups, law)
    rng = np.random.default_rng(seed)
    boot = np.array([_fit(d, [g[rng.integers(0, g.size, g.size)] if g.size else g
                              for g in groups], law) for _ in range(n_boot)])
    boot = boot[np.isfinite(boot)]
    lo, hi = (np.percentile(boot, percentiles()) if boot.size >= 2
              else (float("nan"), float("nan")))
    ode = np.array([r["ode"] for r in records])
    x = np.log(np.asarray(d, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        y = ode if law == "log" else np.log(ode)
    slope_ode = _line(x, y, np.ones_like(x))[1]
    return slope, float(lo), float(hi), slope_ode


def fit_experiment(experiment: str, model: str, records: list[dict],
                   gamma_d_exponent: float = 0.0, n_boot: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """One FIT_COLUMNS row per (engine, p) of an experiment (all its d, one γ per d)."""
    k = models.get(model).information_exponent
    rows = []
    for engine in sorted({r["engine"] for r in records}):
        for p in sorted({r["p"] for r in records}):
            series = [r for r in records if r["engine"] == engine and r["p"] == p]
            if len({r["d"] for r in series}) < 2:
                continue
            gamma = series[0]["gamma"] * series[0]["d"] ** gamma_d_exponent
            law, theory_slope = slope_theory(model, p, gamma, series[0]["noise"])
            if law == "power" and gamma_d_exponent != (k - 2) / 2:
                theory_slope = float("nan")  # fixed γ (F7noise): no deterministic law
            slope, lo, hi, slope_ode = fit_cells(series, law, n_boot, seed)
            sample_exp = (slope + 1.0 + gamma_d_exponent if law == "power"
                          else float("nan"))
            fraction = min(r["values"].size / r["n_runs"] for r in series)
            rows.append(dict(
                experiment=experiment, model=model, k=k, p=p, engine=engine, law=law,
                n_d=len(series), d_lo=min(r["d"] for r in series),
                d_hi=max(r["d"] for r in series), gamma_d_exponent=gamma_d_exponent,
                slope=slope, slope_lo=lo, slope_hi=hi, slope_ode=slope_ode,
                slope_theory=theory_slope,
                slope_inside_ci=bool(lo <= theory_slope <= hi),
                sample_exponent=sample_exp,
                sample_exponent_literature=float(k - 1) if k >= 3 else float("nan"),
                min_fraction_escaped=fraction))
    return pd.DataFrame(rows, columns=list(FIT_COLUMNS))


def open_experiment(stores: dict) -> tuple[str, float, list[dict]]:
    """(model, gamma_d_exponent, cells) of one experiment's stores {name: path}."""
    with xr.open_zarr(stores["exit_times"]) as et:
        exit_times = et.load()
    sweep = xr.open_zarr(stores["sweep"]) if "sweep" in stores else None
    attrs = exit_times.attrs
    model = str(attrs.get("model", models.DEFAULT))
    exponent = float(attrs.get("gamma_d_exponent", 0.0) or 0.0)
    return model, exponent, cells(exit_times, sweep)


def latex_rows(fits: pd.DataFrame, digits: int = 3) -> str:
    """\\newcommand lines of the F7 fits: fSevenSlope<Model>P<p><Engine> and its interval,
    ODE slope, theory slope and the sample exponent."""
    import re

    from ...pipeline.tex import DIGIT_WORDS, latex_number, latex_word

    def _word(name: str) -> str:  # he3 -> HeThree (latex_word drops digits in names)
        parts = re.findall(r"[A-Za-z]+|[0-9]", name)
        return "".join(DIGIT_WORDS.get(x, x.capitalize()) for x in parts)

    lines = ["% F7: information-exponent law, fitted slopes (log d for k <= 2, log-log for "
             "k >= 3) with 95% bootstrap intervals, ODE and theory slopes"]
    for row in fits.to_dict("records"):
        stem = f"fSeven{_word(row['model'])}P{latex_word(row['p'])}{_word(row['engine'])}"
        for name in ("slope", "slope_lo", "slope_hi", "slope_ode", "slope_theory",
                     "sample_exponent"):
            head = "".join(part.capitalize() for part in name.split("_"))
            lines.append(rf"\newcommand{{\{stem}{head}}}"
                         rf"{{{latex_number(row[name], digits)}}}")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=4096)
def exit_time_estimate(model: str, d: int, threshold: float) -> float:
    """Rough deterministic exit time from m = d^(-1/2) for planning (the sweep's cost
    model): the p = 1, γ -> 0 flow dm/dt = κ'(m)(1 - m²) (κ the pair kernel; the exact
    ODE at γ = 0, p = 1) until R = κ(1) - κ(m) has dropped by the fraction threshold.
    Ignores γ (and the SGD noise, which slows k >= 3 by up to ~2x at F7's step sizes)."""
    from scipy.integrate import solve_ivp

    pair = models.get(model).pair
    h = 1e-6

    def rhs(_, y):
        m = min(max(y[0], -1 + 2 * h), 1 - 2 * h)
        return [(pair(m + h) - pair(m - h)) / (2 * h) * (1 - m * m)]

    m0 = d ** -0.5
    top = float(pair(1.0))
    level = top - (1 - threshold) * (top - float(pair(m0)))

    def crossed(_, y):
        return float(pair(min(y[0], 1.0))) - level

    crossed.terminal, crossed.direction = True, 1
    sol = solve_ivp(rhs, (0.0, 1e7), [m0], events=crossed, rtol=1e-6, atol=1e-12)
    return float(sol.t_events[0][0]) if sol.t_events[0].size else float("inf")


# -- file-level glue: the F7 rule of rules.smk -----------------------------------------------
def f7_experiments(config: dict) -> list[str]:
    """The configured experiments of F7 (names starting with 'F7')."""
    return [name for name in config.get("experiments", {}) if name.startswith("F7")]


def build(store_paths, n_boot: int = 1000, seed: int = 0):
    """(cell table, fit table) of the F7 experiments from their store paths
    <results>/<experiment>/{sweep,exit_times,ode}.zarr."""
    from pathlib import Path

    grouped: dict[str, dict[str, Path]] = {}
    for path in map(Path, store_paths):
        grouped.setdefault(path.parent.name, {})[path.stem] = path
    tables, fits = [], []
    for experiment in sorted(grouped):
        model, exponent, records = open_experiment(grouped[experiment])
        tables.append(cell_table(experiment, model, records))
        fits.append(fit_experiment(experiment, model, records, exponent, n_boot, seed))
    return pd.concat(tables, ignore_index=True), pd.concat(fits, ignore_index=True)


def write_f7(stem, store_paths, csv, tex, cells_csv=None, n_boot: int = 1000,
             seed: int = 0) -> pd.DataFrame:
    """Figure F7 (stem.pdf, stem.png), its fit table (csv) and LaTeX macros (tex)."""
    from pathlib import Path

    from .figures.common import save_figure
    from .figures.information_exponent import figure_f7

    table, fits = build(store_paths, n_boot, seed)
    for path in (csv, tex, f"{stem}.pdf") + ((cells_csv,) if cells_csv else ()):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    fits.to_csv(csv, index=False, float_format="%.17g")
    Path(tex).write_text(latex_rows(fits))
    if cells_csv:
        table.to_csv(cells_csv, index=False, float_format="%.17g")
    save_figure(figure_f7(table, fits), stem)
    print(f"F7: {len(table)} cells of {table.experiment.nunique()} experiments, "
          f"{len(fits)} fits; wrote {stem}.pdf/.png, {csv}, {tex}")
    return fits


def main(argv=None) -> int:
    """`python -m mediocrity.studies.escape.exponents --stem S --stores P.. --csv C --tex T`."""
    import argparse

    from ...pipeline.cli import add_bootstrap

    ap = argparse.ArgumentParser(prog="python -m mediocrity.studies.escape.exponents",
                                 description="F7: figure, fits and macros")
    ap.add_argument("--stem", required=True, help="output path without .pdf/.png")
    ap.add_argument("--stores", nargs="+", required=True,
                    help="the F7 experiments' <experiment>/{sweep,exit_times,ode}.zarr")
    ap.add_argument("--csv", required=True, help="fit table (one row per experiment, p)")
    ap.add_argument("--tex", required=True, help="LaTeX macros of the fits")
    ap.add_argument("--cells", default=None, help="per-cell table (CSV)")
    add_bootstrap(ap)
    args = ap.parse_args(argv)
    write_f7(args.stem, args.stores, args.csv, args.tex, args.cells, args.n_boot,
             args.bootstrap_seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
