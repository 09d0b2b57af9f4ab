"""F7 fits and figure on synthetic exit times with known laws (no simulation)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mediocrity.studies.escape import exponents


def _store(model, ds, law, gamma0=0.1, exponent=0.0, n_seeds=200, seed=0, ode=True):
    """An exit_times Dataset shaped like the pipeline's: one gamma per d (d-scaled)."""
    rng = np.random.default_rng(seed)
    gammas = sorted({round(gamma0 * d ** -exponent, 15) for d in ds})
    t = np.full((1, len(ds), 1, len(gammas), 1, n_seeds), np.nan)
    t_ode = np.full((len(ds), 1, len(gammas), 1), np.nan)
    for i, d in enumerate(ds):
        g = gammas.index(round(gamma0 * d ** -exponent, 15))
        mean = law(d)
        t[0, i, 0, g, 0] = mean * (1 + 0.1 * rng.standard_normal(n_seeds))
        t_ode[i, 0, g, 0] = mean
    coords = dict(engine=["gram"], d=list(ds), p=[1], gamma=gammas, noise=[0.0],
                  seed=np.arange(n_seeds))
    out = xr.Dataset({"exit_time": (("engine", "d", "p", "gamma", "noise", "seed"), t)},
                     coords=coords, attrs={"model": model,
                                           "gamma_d_exponent": exponent})
    if ode:
        out["exit_time_ode"] = (("d", "p", "gamma", "noise"), t_ode)
    return out


def test_log_and_power_laws_are_recovered_with_intervals():
    ds = [100, 1000, 10000, 100000]
    store = _store("phase_retrieval", ds, lambda d: 0.3 * np.log(d) - 1.0)
    fits = exponents.fit_experiment("F7pr", "phase_retrieval", exponents.cells(store),
                                    n_boot=200)
    row = fits.iloc[0]
    assert row.law == "log" and row.k == 2
    assert row.slope_lo < 0.3 < row.slope_hi and row.slope_ode == pytest.approx(0.3)
    # theory 1/(2 lambda_1) at gamma = 0.1: lambda = 4 - 0.1 * 4 * 6 = 1.6
    assert row.slope_theory == pytest.approx(1 / 3.2)
    he3 = [100, 200, 400, 800]
    store = _store("he3", he3, lambda d: 0.05 * d**0.5, gamma0=0.0026, exponent=0.5)
    fits = exponents.fit_experiment("F7he3", "he3", exponents.cells(store), 0.5, n_boot=200)
    row = fits.iloc[0]
    assert row.law == "power" and row.slope_theory == 0.5
    assert row.slope_lo < 0.5 < row.slope_hi and row.slope_inside_ci
    assert row.sample_exponent == pytest.approx(row.slope + 1.5)
    assert row.sample_exponent_literature == 2.0


def test_linear_rate_of_the_default_is_theory_and_abs_from_the_drift():
    from mediocrity import theory

    assert exponents.linear_rate("phase_retrieval", 2, 0.1) == float(
        theory.growth_rate(2, 0.1))
    # abs at gamma -> 0: dm/dt = (2/pi) m near 0 (2 c_2^2 2! = 2/pi)
    assert exponents.linear_rate("abs", 1, 0.0) == pytest.approx(2 / np.pi, rel=1e-5)


def test_figure_from_tables(tmp_path):
    from mediocrity.studies.escape.figures.common import save_figure
    from mediocrity.studies.escape.figures.information_exponent import figure_f7

    tables, fits = [], []
    for name, model, ds, law, g0, a in (
            ("F7pr", "phase_retrieval", [100, 1000, 10000], lambda d: 0.3 * np.log(d), 0.1, 0),
            ("F7he3", "he3", [100, 400], lambda d: 0.05 * d**0.5, 0.0026, 0.5),
            ("F7noise", "he3", [100, 400], lambda d: 1.0, 2.6e-4, 0)):
        records = exponents.cells(_store(model, ds, law, g0, a, n_seeds=20))
        tables.append(exponents.cell_table(name, model, records))
        fits.append(exponents.fit_experiment(name, model, records, a, n_boot=20))
    import pandas as pd

    fig = figure_f7(pd.concat(tables, ignore_index=True), pd.concat(fits, ignore_index=True))
    paths = save_figure(fig, tmp_path / "F7")
    assert all(p.stat().st_size > 0 for p in paths)
    tex = exponents.latex_rows(pd.concat(fits, ignore_index=True))
    assert r"\fSevenHeThreePOneGramSlope}" in tex
