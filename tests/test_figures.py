"""Every paper figure renders from small synthetic stores of the data contract shape
(with NaN cells, a single d, no ODE exit time), and the paper glue writes every target."""

import io
import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mediocrity.studies.escape import measure, paper
from mediocrity import theory
from mediocrity.exit_time import exit_time
from mediocrity.studies.escape.figures import (figure_f1, figure_f2, figure_f3, figure_f4, figure_f5,
                                figure_f6, save_figure)
from mediocrity.studies.escape.fit import fit_exit_times

THRESHOLD = 0.01
ENGINES = ["sgd", "gram", "sde"]


def contract_stores(d=(300, 3000), p=(1, 2), gamma=(0.05, 0.1), noise=(1e-4, 1e-2),
                    seeds=6, engines=ENGINES, rng_seed=0, gamma_per_p=False):
    """(sweep, ode, exit_times) shaped like results/<exp>/*.zarr. R(t) falls from 1 + 1/p
    to the p = 1 plateau as a logistic in t that crosses (1 - T) R(0) at the exit time:
    the quenched theory for the ODE, times a 5% log-normal jitter around it plus the SGD
    shift for the runs. Where several d (p and gamma) are given, the sde engine has no run
    in the last d (and the last gamma is missing for the last p). gamma_per_p: the k-th p
    runs at the k-th gamma only (grids gamma = c p or gamma*(p)), ODE included."""
    rng = np.random.default_rng(rng_seed)
    t = np.concatenate([[0.0], 10.0 ** (np.arange(-20, 16) / 10)])
    coords = dict(engine=list(engines), d=list(d), p=list(p), gamma=list(gamma),
                  noise=list(noise), seed=np.arange(seeds), t=t)
    grid = xr.Dataset(coords=coords)
    cell = dict(d=grid.d, p=grid.p, gamma=grid.gamma, noise=grid.noise)
    rate = theory.growth_rate(grid.p, grid.gamma, grid.noise)
    run_dims = list(coords)[:-1]
    jitter = np.exp(0.05 * rng.standard_normal([len(coords[k]) for k in run_dims]))
    with np.errstate(invalid="ignore"):  # beyond gamma_c off a gamma-per-p diagonal
        t_run = (theory.exit_time_corrected(**cell, threshold=THRESHOLD)
                 * xr.DataArray(jitter, coords={k: coords[k] for k in run_dims}))
        t_ode = theory.exit_time_quenched(**cell, threshold=THRESHOLD)
    start = 1 + 1 / grid.p
    floor = theory.plateau_risk_p1(grid.gamma, grid.noise)

    def risk_at(t_ex):
        growth = THRESHOLD / (1 - THRESHOLD) * np.exp(2 * rate * (grid.t - t_ex))
        return floor + (start - floor) / (1 + growth)

    def m2_at(t_ex):
        return np.minimum(grid.p, THRESHOLD * (grid.p + 1) / 2
                          * np.exp(2 * rate * (grid.t - t_ex)))

    missing = (grid.engine == "sde") & (grid.d == grid.d[-1]) & (len(d) > 1)
    off_grid = (grid.p == grid.p[-1]) & (grid.gamma == grid.gamma[-1]) & (len(p) > 1)
    if gamma_per_p:
        off_grid = grid.gamma != xr.DataArray(list(gamma), coords={"p": list(p)})
        t_ode = t_ode.where(~off_grid)
    missing = missing | off_grid
    risk = risk_at(t_run).where(~missing).transpose(*coords)
    m2 = m2_at(t_run).where(~missing).transpose(*coords)
    attrs = dict(experiment="FX", threshold=THRESHOLD, init="fixed", init_seed=0,
                 root_seed=0, config_hash="0", mediocrity_version="test")
    sweep = xr.Dataset({"risk": risk, "m2": m2,
                        "diverged": xr.zeros_like(risk.isel(t=0), dtype=bool)}, attrs=attrs)
    ode_dims = ("d", "p", "gamma", "noise", "t")
    ode = xr.Dataset({"risk": risk_at(t_ode).transpose(*ode_dims),
                      "m2": m2_at(t_ode).transpose(*ode_dims)}, attrs=attrs)
    with np.errstate(invalid="ignore"):
        exit_times = xr.Dataset({
            "exit_time": exit_time(sweep.risk, THRESHOLD),
            "exit_time_ode": exit_time(ode.risk, THRESHOLD),
            "theory_annealed": theory.exit_time_annealed(**cell, threshold=THRESHOLD),
            "theory_quenched": theory.exit_time_quenched(**cell, threshold=THRESHOLD),
            "theory_corrected": theory.exit_time_corrected(**cell, threshold=THRESHOLD),
            "growth_rate": theory.growth_rate(grid.p, grid.gamma, grid.noise),
        }, attrs=attrs)
    return sweep, ode, exit_times


@pytest.fixture(scope="module")
def stores():
    return contract_stores()


@pytest.fixture(scope="module")
def single_d_stores():
    """The `quick` shape: one d, one p, three seeds, Delta = 0 among the noises, the ODE
    exit time all NaN."""
    sweep, ode, exit_times = contract_stores(d=(500,), p=(1,), gamma=(0.1,), noise=(0.0, 0.1),
                                             seeds=3, engines=["sgd", "sde"])
    return sweep, ode, exit_times.assign(exit_time_ode=exit_times.exit_time_ode * np.nan)


def test_f2_and_f4_follow_p_when_gamma_depends_on_p():
    """gamma = 0.1 p and gamma = gamma*(p) grids: one gamma per p, the series run over p."""
    p = (1, 2, 4)
    for gamma, figure in (([0.1, 0.2, 0.4], figure_f2),
                          ([float(theory.optimal_gamma(k, 1e-4)) for k in p], figure_f4)):
        _, _, exit_times = contract_stores(p=p, gamma=gamma, noise=(1e-4,), seeds=4,
                                           engines=["sgd"], gamma_per_p=True)
        ax = figure(exit_times).axes[0]
        assert len(p) in {len(line.get_xdata()) for line in ax.lines}


def axes_with_data(fig):
    return [ax for ax in fig.axes if ax.lines or ax.collections]


@pytest.mark.parametrize("case", ["stores", "single_d_stores"])
def test_every_figure_renders_and_saves_pdf_and_png(case, request, tmp_path):
    sweep, ode, exit_times = request.getfixturevalue(case)
    present = measure.runs_present(sweep)
    fits = fit_exit_times(exit_times, n_boot=20)
    made = {
        "F1": figure_f1(sweep, ode),
        "F2": figure_f2(exit_times, present),
        "F3": figure_f3(exit_times, fits, present),
        "F4": figure_f4(exit_times, present),
        "F5": figure_f5(exit_times, present),
        "F6": figure_f6(sweep, ode),
    }
    for name, fig in made.items():
        assert fig._suptitle.get_text().startswith(name)
        assert axes_with_data(fig), name
        for path in save_figure(fig, tmp_path / "figures" / name):
            assert path.exists() and path.stat().st_size > 1000, path


def test_figures_render_without_ode_and_with_all_nan_cells(stores):
    sweep, _, exit_times = stores
    nan_times = exit_times.assign(exit_time=exit_times.exit_time * np.nan)
    fits = fit_exit_times(nan_times, n_boot=5)
    for fig in (figure_f1(sweep), figure_f2(nan_times), figure_f3(nan_times, fits),
                figure_f4(nan_times), figure_f5(nan_times), figure_f6(sweep)):
        fig.savefig(io.BytesIO(), format="png", dpi=50)  # drawing must not raise


def test_f1_title_names_the_cell_and_the_run_counts(stores):
    sweep, ode, _ = stores
    title = figure_f1(sweep, ode)._suptitle.get_text()
    title = title.replace("\n", " ").replace("\u00a0", " ")  # wrapped, non-breaking spaces
    assert "d = 300" in title and "p = 1" in title
    assert "sgd 6, gram 6, sde 6 seeds/cell" in title


CONFIG = {"results": "results",
          "experiments": {exp: {"ode": exp != "F3"} for exp in paper.EXPERIMENTS}}


def write_results(root, stores):
    """The stores as <root>/<exp>/*.zarr (Zarr 2, consolidated, like mediocrity.store) for
    every experiment of CONFIG (no ode.zarr for F3)."""
    sweep, ode, exit_times = stores
    for exp, flags in CONFIG["experiments"].items():
        written = {"sweep": sweep, "exit_times": exit_times, "ode": ode}
        for name, data in list(written.items())[:3 if flags["ode"] else 2]:
            data.to_zarr(paper.store_path(root, exp, name), mode="w", zarr_format=2,
                         consolidated=True)


def test_paper_targets_and_store_inputs_follow_the_config():
    config = {**CONFIG, "experiments": {"F1": {"ode": True}, "F3": {}, "extra": {}}}
    assert paper.targets(config) == [
        "results/paper/figures/F1.pdf", "results/paper/figures/F1.png",
        "results/paper/figures/F3.pdf", "results/paper/figures/F3.png",
        "results/paper/fits.csv", "results/paper/fits.nc", "results/paper/numbers.tex",
        "results/paper/engine_agreement.csv", "results/paper/summary.nc"]
    assert paper.store_inputs(config, "F1") == [
        "results/F1/sweep.zarr", "results/F1/exit_times.zarr", "results/F1/ode.zarr"]
    assert paper.store_inputs(config, "F3") == [
        "results/F3/sweep.zarr", "results/F3/exit_times.zarr"]
    assert set(paper.group_stores(paper.store_inputs(config, "F1"))["F1"]) == {
        "sweep", "exit_times", "ode"}
    assert paper.options({"paper": {"n_boot": 7}})["n_boot"] == 7


def test_paper_cli_writes_every_target_from_contract_stores(tmp_path):
    small = contract_stores(d=(300, 3000), p=(1,), gamma=(0.1,), noise=(1e-4, 1e-2), seeds=4,
                            engines=["sgd", "sde"])
    root = tmp_path / "results"
    write_results(root, small)
    config = {**CONFIG, "results": str(root)}
    out = root / "paper"
    assert paper.main_paper(["fits", "--exit-times", str(root / "F3/exit_times.zarr"),
                             "--csv", str(out / "fits.csv"), "--netcdf", str(out / "fits.nc"),
                             "--tex", str(out / "numbers.tex"), "--n-boot", "20",
                             "--agreement", str(out / "engine_agreement.csv")]) == 0
    for exp in paper.figure_experiments(config):
        paper.main_paper(["figure", exp, "--stem", str(out / "figures" / exp), "--fits",
                          str(out / "fits.nc"), "--stores", *paper.store_inputs(config, exp)])
    every_store = [path for exp in config["experiments"]
                   for path in paper.store_inputs(config, exp)]
    paper.main_paper(["summary", "--out", str(out / "summary.nc"), "--stores", *every_store])
    for path in paper.targets(config):
        assert os.path.getsize(path) > 0, path
    with xr.open_dataset(out / "summary.nc") as summary:
        table = summary.load().set_index(cell=list(paper.SUMMARY_CELL))
    # per experiment: 2 engines x 2 d x 2 noise cells, less sde at d = 3000
    assert table.sizes["cell"] == 6 * (2 * 2 * 2 - 2)
    one = table.sel(experiment="F3", engine="sgd", d=300, p=1, gamma=0.1, noise=1e-4)
    assert int(one.n_seeds) == 4 and float(one.fraction_escaped) == 1.0


def test_f3_with_the_sde_experiment_fits_both_engines_and_compares_them(tmp_path):
    """F3 (exact chain, 'auto') and F3sde (engine sde, larger d) combined: fits per engine
    and d range, the two-sample table at the common d, F3 drawn from both stores."""
    exact = contract_stores(d=(300, 3000, 30000), p=(1, 2), gamma=(0.1, 0.05),
                            noise=(0.0,), seeds=6, engines=["auto"])  # no p = 2 at 0.05
    sde = contract_stores(d=(3000, 30000, 10**6, 10**10, 10**12), p=(1, 2),
                          gamma=(0.1, 0.05), noise=(0.0,), seeds=6, engines=["sde"],
                          rng_seed=1)
    root = tmp_path / "results"
    config = {"results": str(root), "experiments": {"F3": {}, "F3sde": {}}}
    for exp, stores in (("F3", exact), ("F3sde", sde)):
        for name, data in zip(("sweep", "exit_times"), (stores[0], stores[2])):
            data.to_zarr(paper.store_path(root, exp, name), mode="w", zarr_format=2,
                         consolidated=True)
    assert paper.fit_inputs(config) == [str(root / "F3/exit_times.zarr"),
                                        str(root / "F3sde/exit_times.zarr")]
    assert paper.figure_inputs(config, "F3")[2:] == [str(root / "F3sde/sweep.zarr"),
                                                     str(root / "F3sde/exit_times.zarr")]
    out = root / "paper"
    paper.main_paper(["fits", "--exit-times", *paper.fit_inputs(config), "--csv",
                      str(out / "fits.csv"), "--netcdf", str(out / "fits.nc"), "--tex",
                      str(out / "numbers.tex"), "--n-boot", "20", "--d-min", "1000",
                      "--d-min-sde", "1e6", "--agreement", str(out / "agree.csv")])
    table = pd.read_csv(out / "fits.csv")
    table = table[table.gamma == 0.1]
    own = table[table.d_range == "own"].set_index(["engine", "p"])
    assert own.loc[("auto", 1), "d_lo"] == 3000 and own.loc[("auto", 1), "d_hi"] == 30000
    assert own.loc[("sde", 2), "d_lo"] == 1e6 and own.loc[("sde", 2), "d_hi"] == 1e10
    overlap = table[table.d_range == "overlap"]  # d = 3000, 30000 (no sde at 1e12)
    assert set(overlap.engine) == {"auto", "sde"} and set(overlap.d_hi) == {30000}
    agree = pd.read_csv(out / "agree.csv")
    assert sorted(agree.d.unique()) == [3000, 30000] and set(agree.reference) == {"auto"}
    assert len(agree) == 2 * 3  # d = 3000, 30000 at (p, gamma) = (1, 0.1), (2, 0.1), (1, 0.05)
    assert agree.n_engine.min() == 6 and agree.ks_p.between(0, 1).all()
    tex = (out / "numbers.tex").read_text()
    assert r"\newcommand{\slopeSdePTwoGammaZeroPointOneNoiseZero}" in tex
    assert r"\newcommand{\slopeAutoPOneGammaZeroPointOneNoiseZeroOverlap}" in tex
    assert r"\agreeZAutoVsSdePOneGammaZeroPointOneNoiseZeroDThreeZeroZeroZero}" in tex
    fig = paper.make_figure("F3", paper.figure_inputs(config, "F3"), out / "fits.nc")
    right = fig.axes[2]
    colors = {tuple(line.get_color()) if not isinstance(line.get_color(), str)
              else line.get_color() for line in right.lines}
    assert {"tab:purple", "tab:orange"} <= colors  # auto and sde slopes
    fig.savefig(io.BytesIO(), format="png", dpi=50)
    every = [path for exp in ("F3", "F3sde") for path in paper.store_inputs(config, exp)]
    paper.main_paper(["summary", "--out", str(out / "summary.nc"), "--stores", *every])
    with xr.open_dataset(out / "summary.nc") as summary:  # netCDF3: d = 1e12 as a float
        assert float(summary.d.max()) == 1e10 and summary.sizes["cell"] == 3 * 3 + 4 * 3
