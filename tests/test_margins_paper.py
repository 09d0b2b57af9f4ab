"""Margins figures M1..M5 (mediocrity/studies/margins/paper.py, figures.py): the measurements on
synthetic arrays with known answers, and every figure drawn from tiny synthetic stores of
the contract's dims (no training), including NaN runs and single-value grids."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mediocrity.studies.margins import figures, paper
from mediocrity.pipeline.stores import ZARR_FORMAT

T = np.concatenate([[0.0], 10.0 ** (np.arange(-2, 4) / 1.0)])


def stores(engines=("gf", "sgd"), d=(8, 16, 32), m=(20,), n=(50, 200, 800, 3200),
           k=None, separation=None, seeds=5, rng_seed=0, nan_runs=True, norm_only=False):
    """(summary, sweep) shaped like results/<M>/{summary,sweep}.zarr. Test error falls as
    a power law reaching 0.1 at n = 0.5 d^2 (or 20 k for collapse, 0.5 / gamma^2 for the
    norm-only reference); margins above the NTK margin; motion / sqrt m ~ 1, rotation ~
    m^-1/2. With nan_runs, one run is missing (a hole) and a few values are NaN."""
    rng = np.random.default_rng(rng_seed)
    coords = {"engine": list(engines), "d": list(d), "m": list(m), "n": list(n)}
    if k is not None:
        coords.update(k=list(k), separation=list(separation))
    coords["seed"] = np.arange(seeds)
    base = xr.Dataset(coords=coords)
    shape = tuple(len(v) for v in coords.values())
    dims = tuple(coords)
    zero = xr.DataArray(np.zeros(shape), dims=dims, coords=base.coords)
    noise = zero + 0.1 * rng.standard_normal(shape)
    gamma_no = (0.3 / np.sqrt(base.d) * (1 + 1 / base.m)) * np.exp(noise)
    scale = (20 * base.k if k is not None else 0.5 / gamma_no**2 if norm_only
             else 0.5 * base.d ** 2)
    te = (0.1 * scale / base.n * np.exp(noise)).clip(max=0.5)
    gamma_ntk = 0.1 / base.d * np.exp(noise)
    s = xr.Dataset({
        "test_error": te, "train_error": zero, "loss": zero + 0.01,
        "margin": (gamma_no * (1 - 1 / np.sqrt(base.m)) if norm_only
                   else gamma_ntk * (1.5 + noise)), "gamma_ntk": gamma_ntk,
        "gamma_ntk_infinite": (0.09 / base.d + zero), "gamma_norm_only": gamma_no,
        "motion_over_sqrt_m": 1.0 + noise, "rotation_max": 1 / np.sqrt(base.m) * np.exp(noise),
        "rotation_mean": 0.3 / np.sqrt(base.m) * np.exp(noise), "norm": zero + 3,
        "t_saved": zero + 1000.0, "steps": zero + 100, "stop": zero})
    s["motion"] = s.motion_over_sqrt_m * np.sqrt(base.m)
    s["margin_max"] = s.margin
    t = xr.DataArray(T, dims="t", coords={"t": T})
    norm = 3.0 + 10.0 * np.log1p(t) + 0 * s.margin  # |W|(t), as GD on the logistic loss
    # norm-only: margin / gamma_no = 1 - 2/|W| exactly (the law limit_in_norm extrapolates)
    margin = gamma_no * (1 - 2.0 / norm) if norm_only else s.margin * (1 - np.exp(-t))
    if nan_runs:
        s = s.where(~((s.seed == 0) & (s.engine == engines[0])))  # a hole: no run
        s["test_error"] = s.test_error.where(~((s.seed == 1) & (s.n == n[-1])))
        s["motion_over_sqrt_m"] = s.motion_over_sqrt_m.where(s.seed != 2)
        margin = margin.where(~((margin.seed == 3) & (margin.t > 10)))  # stopped early
    s = s.transpose(*dims)
    sweep = xr.Dataset({"margin": margin.transpose(*dims, "t"), "norm": norm.where(margin.notnull()),
                        "t_saved": margin.t + 0 * margin}).transpose(*dims, "t")
    return s, sweep


def write(tmp_path, summary, sweep):
    for ds, name in ((summary, "summary"), (sweep, "sweep")):  # as mediocrity.store writes
        ds.to_zarr(tmp_path / f"{name}.zarr", zarr_format=ZARR_FORMAT, consolidated=True)
    return tmp_path / "summary.zarr", tmp_path / "sweep.zarr"


def run(tmp_path, name, summary, sweep, n_boot=50):
    s, w = write(tmp_path, summary, sweep)
    stem = tmp_path / "paper" / "figures" / name
    csv, tex = tmp_path / "paper" / f"fits_{name}.csv", tmp_path / "paper" / f"numbers_{name}.tex"
    table = figures.figure_with_fits(name, s, w, stem, csv, tex, n_boot, 0)
    for ext in (".pdf", ".png"):
        assert (stem.parent / (name + ext)).stat().st_size > 1000
    assert list(pd.read_csv(csv).columns) == list(paper.FIT_COLUMNS)
    text = tex.read_text()
    names = [line.split("{")[1].split("}")[0] for line in text.splitlines()
             if line.startswith(r"\newcommand")]
    assert all(nm[1:].isalpha() for nm in names) and len(set(names)) == len(names)
    return table, text


def test_samples_needed_known_answer():
    n = np.array([10, 100, 1000, 10000])
    # linear in log10 n: 0.4, 0.3, 0.2, 0.1 -> 0.25 is half way in log n from 100 to 1000
    err = xr.DataArray(np.tile(0.5 - 0.1 * np.log10(n), (3, 1)).T, dims=("n", "seed"),
                       coords={"n": n})
    assert float(paper.samples_needed(err, 0.25)) == pytest.approx(10 ** 2.5)
    # already at n_min: censored (only a bound), NaN so that no fit runs through it
    assert np.isnan(float(paper.samples_needed(err, 0.45)))
    assert np.isnan(float(paper.samples_needed(err, 0.05)))  # never reached
    # unsorted n, a NaN cell skipped, seeds averaged (NaN seed dropped)
    shuffled = err.isel(n=[2, 0, 3, 1]).copy()
    shuffled[0, 0] = np.nan  # n = 1000 in seed 0: the others still give 0.2
    assert float(paper.samples_needed(shuffled, 0.25)) == pytest.approx(10 ** 2.5)
    gap = err.where(err.n != 1000)
    assert float(paper.samples_needed(gap, 0.15)) == pytest.approx(10 ** 3.5)


def test_bootstrap_interval_contains_power_law():
    rng = np.random.default_rng(1)
    x = np.array([4.0, 8, 16, 32, 64])
    y = 3 * x ** 1.5 * np.exp(0.2 * rng.standard_normal((12, x.size)))  # seeds x points
    da = xr.DataArray(y.T, dims=("x", "seed"), coords={"x": x})
    boot = paper.bootstrap(da, paper.seed_mean, 400, 0)
    fit = paper.fit_power(x, paper.seed_mean(da).values, boot.values)
    assert fit["slope_lo"] < 1.5 < fit["slope_hi"] and fit["n_points"] == 5
    # n_eps of a power law of test error: exponent 2 in d
    summary, _ = stores(engines=("gf",), d=(8, 16, 32, 64), n=np.unique(
        np.round(np.geomspace(10, 10000, 60)).astype(int)), seeds=8, nan_runs=False)
    r = paper.measure("M1", summary, None, 200, 0)
    row = r["rows"][0]
    assert row["slope_lo"] < 2.0 < row["slope_hi"] and abs(row["slope"] - 2) < 0.1
    assert np.allclose(r["n_eps"].sel(engine="gf"), 0.5 * summary.d ** 2, rtol=0.15)
    est, lo, hi, boot = paper.samples_needed_ci(summary.test_error, 0.1, 100, 0)
    assert boot.sizes["boot"] == 100 and ((lo <= est) & (est <= hi)).all()
    assert ((lo < 0.5 * summary.d ** 2) & (0.5 * summary.d ** 2 < hi)).mean() >= 0.75


def in_memory(name, summary, sweep, n_boot=10):
    """measure, draw (rendered once, no files) and the macros, from Datasets."""
    result = paper.measure(name, summary, sweep, n_boot, 0)
    figures.draw(name, result).canvas.draw()
    table = paper.fit_table(result["rows"])
    return table, paper.latex_macros(name, table)


@pytest.mark.parametrize("name", paper.CONTRACT)
def test_figure_of_each_experiment(tmp_path, name):
    kw = {"M1": {}, "M2": dict(engines=("gf",), d=(16,), m=(10, 20, 40), n=(100,)),
          "M3": dict(m=(10, 20, 40, 80), n=(100,), d=(16,)),
          "M4": dict(d=(32,), k=(2, 4, 8), separation=(4.0,), n=(20, 80, 320, 1280)),
          "M5": dict(d=(8, 16, 32), m=(10, 40), n=(20, 80, 320, 1280), norm_only=True)}[name]
    table, text = run(tmp_path, name, *stores(**kw))
    assert len(table) and (table.experiment == name).all()
    head = {"M1": r"\mOneSamplesExponentSlopeGf", "M2": r"\mTwoFractionAboveNtkValueGfMOneZero",
            "M3": r"\mThreeRotationMaxExponentSlopeSgd",
            "M4": r"\mFourSamplesExponentSlopeLoGfSeparationFour",
            "M5": r"\mFiveMarginOverNormOnlyValueGfMFourZeroNEightZero"}[name]
    assert head + "}" in text
    if name == "M2":  # 5 seeds, seed 0 a hole: margin 1.5 gamma_ntk (+-10%) is above
        rows = table[table.quantity == "fraction_above_ntk"]
        assert (rows.value == 1).all() and (rows.n_runs == 4).all()
    if name == "M3":
        rot = table[table.quantity == "rotation_max_exponent"]
        assert ((rot.slope_lo < -0.5) & (rot.slope_hi > -0.5)).all()
    if name == "M4":
        assert table.slope.between(0.8, 1.2).all()
    if name == "M5":
        row = table[table.quantity == "samples_exponent_inverse_margin"].iloc[0]
        assert row.n_points == 6 and abs(row.slope - 2) < 0.3
        ratio = table[table.quantity == "margin_over_norm_only"]
        assert np.allclose(ratio.value, 1 - 1 / np.sqrt(40))
        limit = table[table.quantity == "margin_over_norm_only_limit"]  # one per engine, n
        assert len(limit) == 8 and np.allclose(limit.value, 1.0, atol=1e-9)  # 2 engines x 4 n
        assert (limit.value_lo <= limit.value + 1e-9).all() and (limit.m == 40).all()


@pytest.mark.parametrize("name", paper.CONTRACT)
def test_single_values_and_nan_do_not_crash(name):
    one = dict(engines=("sgd",), d=(16,), m=(20,), n=(100,), seeds=2)
    if name == "M4":
        one.update(d=(16,), k=(4,), separation=(2.0,))
    summary, sweep = stores(**one)
    summary["test_error"] = summary.test_error * np.nan  # never measured
    summary["margin"] = summary.margin * np.nan
    table, _ = in_memory(name, summary, sweep)
    slopes = table[table.law == "power"]
    assert slopes.slope.isna().all()
    if name == "M5":  # no n_eps vs 1/gamma fit possible: the row is omitted
        assert "samples_exponent_inverse_margin" not in set(table.quantity)


def test_missing_references_and_targets(tmp_path):
    summary, sweep = stores(engines=("gf",), d=(16,), m=(10, 20), n=(100,))
    table, _ = in_memory("M2", summary.drop_vars(["gamma_ntk", "gamma_ntk_infinite"]), sweep)
    assert table.value.isna().all()
    summary, sweep = stores(engines=("gf",), d=(16,), m=(10, 20), n=(100,), k=(2, 4),
                            separation=(1.0, 4.0))  # collapse dims, M3 drawn over them
    assert len(in_memory("M3", summary, sweep)[0]) == 3
    cfg = {"results": "res", "margins": {"M5": {}, "other": {}, "M1": {}}}
    assert paper.figure_experiments(cfg) == ["M1", "M5"]
    assert paper.targets(cfg)[:4] == ["res/paper/figures/M1.pdf", "res/paper/figures/M1.png",
                                      "res/paper/fits_M1.csv", "res/paper/numbers_M1.tex"]
    assert paper.figure_experiments({}) == [] and paper.targets({"results": "r", "margins": {}}) == []
    with pytest.raises(ValueError, match="M1"):
        paper.measure("M9", summary, sweep, 10, 0)
