"""WLS fits of <t_ex> vs log d on exit times drawn as a + b log d + noise with known b."""

import re

import numpy as np
import pytest
import xarray as xr

from mediocrity.studies.escape import fit
from mediocrity import theory

D_VALUES = [100, 1000, 10_000, 100_000, 1_000_000]


def synthetic_exit_times(slope, intercept=-1.0, sigma=0.3, seeds=100, replicates=1,
                         d=D_VALUES, rng_seed=0, p=1, gamma=0.1):
    """exit_time = intercept + slope log d + sigma N(0, 1), i.i.d. over seeds; independent
    replicate datasets side by side along `noise` (0, 1e-9, 2e-9, ...: theory unchanged)."""
    rng = np.random.default_rng(rng_seed)
    shape = (1, len(d), 1, 1, replicates, seeds)
    values = (intercept + slope * np.log(np.asarray(d, float))[None, :, None, None, None, None]
              + sigma * rng.standard_normal(shape))
    coords = dict(engine=["sgd"], d=list(d), p=[p], gamma=[gamma],
                  noise=1e-9 * np.arange(replicates), seed=np.arange(seeds))
    return xr.Dataset({"exit_time": (tuple(coords), values)}, coords=coords,
                      attrs={"threshold": 0.01, "init": "random"})


def test_weighted_line_matches_numpy_polyfit_and_its_covariance():
    rng = np.random.default_rng(3)
    x = np.log(np.asarray(D_VALUES, float))
    sigma = rng.uniform(0.01, 0.1, x.size)
    y = 0.5 + 0.3 * x + sigma * rng.standard_normal(x.size)
    a, b, a_se, b_se, chi2, n = fit.weighted_line(x, y, 1.0 / sigma**2)
    (b_np, a_np), cov = np.polyfit(x, y, 1, w=1.0 / sigma, cov="unscaled")
    assert (a, b) == pytest.approx((a_np, b_np), rel=1e-10)
    assert (b_se, a_se) == pytest.approx(tuple(np.sqrt(np.diag(cov))), rel=1e-8)
    assert chi2 == pytest.approx(np.sum(((y - a - b * x) / sigma) ** 2), rel=1e-10)
    assert n == x.size


def test_weighted_line_drops_nan_and_needs_two_points():
    x = np.array([1.0, 2.0, 3.0])
    _, b, *_ = fit.weighted_line(x, np.array([1.0, np.nan, 3.0]), np.ones(3))
    assert b == pytest.approx(1.0)
    _, b, *_, n = fit.weighted_line(x, np.array([1.0, np.nan, np.nan]), np.ones(3))
    assert np.isnan(b) and n == 1


def test_wls_recovers_the_slope_within_its_bootstrap_interval():
    fits = fit.fit_exit_times(synthetic_exit_times(0.3125), n_boot=400).squeeze()
    assert float(fits.slope_lo) <= 0.3125 <= float(fits.slope_hi)
    assert abs(float(fits.slope) - 0.3125) < 3 * float(fits.slope_se)
    assert float(fits.intercept_lo) <= -1.0 <= float(fits.intercept_hi)
    assert int(fits.n_d) == len(D_VALUES)
    assert 0.3 < float(fits.chi2_dof) < 3.0  # 3 degrees of freedom: a loose, fixed-seed band


def test_bootstrap_interval_covers_the_true_slope_at_about_95_percent():
    """60 independent datasets (30 seeds each): coverage 0.95 +- 0.03 expected; the
    percentile bootstrap under-covers a little at small samples, hence the floor 0.8.
    The interval width must match the WLS standard error (2 x 1.96 se) within 30%."""
    data = synthetic_exit_times(0.2, seeds=30, replicates=60, rng_seed=11)
    fits = fit.fit_exit_times(data, n_boot=300).squeeze()
    covered = ((fits.slope_lo <= 0.2) & (0.2 <= fits.slope_hi)).mean()
    assert 0.8 <= float(covered) <= 1.0
    width = (fits.slope_hi - fits.slope_lo) / (2 * 1.96 * fits.slope_se)
    assert 0.7 < float(width.median()) < 1.3


def test_slope_agrees_only_when_theory_is_inside_the_interval():
    theory_slope = float(1 / (2 * theory.growth_rate(1, 0.1)))
    right = fit.fit_exit_times(synthetic_exit_times(theory_slope, sigma=0.05), n_boot=200)
    wrong = fit.fit_exit_times(synthetic_exit_times(0.5, sigma=0.05), n_boot=200)
    assert float(right.slope_theory.squeeze()) == pytest.approx(0.3125)
    assert bool(right.slope_agrees.squeeze()) and not bool(wrong.slope_agrees.squeeze())


def test_theory_columns_use_the_quenched_constant_and_the_sgd_shift():
    fits = fit.fit_exit_times(synthetic_exit_times(0.3, p=2), n_boot=10).squeeze()
    rate = theory.growth_rate(2, 0.1)
    c_p = theory.exit_time_constant(2, 0.01, "quenched")
    assert float(fits.intercept_theory) == pytest.approx(c_p / (2 * rate))
    assert float(fits.intercept_theory_corrected) == pytest.approx(
        c_p / (2 * rate) + theory.sgd_noise_shift(2, 0.1))
    assert fits.attrs["theory_initial"] == "quenched"


def test_single_d_or_no_data_gives_nan_fit_not_an_error():
    single = fit.fit_exit_times(synthetic_exit_times(0.3, d=[1000]), n_boot=10).squeeze()
    assert np.isnan(float(single.slope)) and int(single.n_d) == 1
    assert not bool(single.slope_agrees)
    empty = synthetic_exit_times(0.3)
    empty = empty.assign(exit_time=empty.exit_time * np.nan)
    assert int(fit.fit_exit_times(empty, n_boot=10).n_d.squeeze()) == 0


def test_bootstrap_is_reproducible_from_its_seed():
    data = synthetic_exit_times(0.3, seeds=20)
    first = fit.fit_exit_times(data, n_boot=50, bootstrap_seed=1)
    again = fit.fit_exit_times(data, n_boot=50, bootstrap_seed=1)
    other = fit.fit_exit_times(data, n_boot=50, bootstrap_seed=2)
    xr.testing.assert_identical(first, again)
    assert float(first.slope_lo.squeeze()) != float(other.slope_lo.squeeze())


@pytest.fixture(scope="module")
def two_cell_fits():
    data = xr.concat([synthetic_exit_times(0.3, p=1), synthetic_exit_times(0.15, p=2)], "p")
    data = data.assign_coords(engine=["gram"])
    return fit.fit_exit_times(data, n_boot=50)


def test_csv_and_netcdf_round_trip(two_cell_fits, tmp_path):
    fit.write_fits_csv(two_cell_fits, tmp_path / "fits.csv")
    fit.write_fits_netcdf(two_cell_fits, tmp_path / "fits.nc")
    from_csv = fit.read_fits_csv(tmp_path / "fits.csv")
    with xr.open_dataset(tmp_path / "fits.nc") as from_nc:
        from_nc = from_nc.load()
    for name in two_cell_fits.data_vars:
        np.testing.assert_allclose(from_csv[name].values.astype(float),
                                   two_cell_fits[name].values.astype(float), rtol=1e-15)
        np.testing.assert_array_equal(from_nc[name].values, two_cell_fits[name].values)
    assert from_nc.slope_agrees.dtype == bool
    assert from_nc.attrs["n_boot"] == 50


def test_latex_macros_have_letter_only_unique_names_and_the_fitted_values(two_cell_fits):
    text = fit.latex_macros(two_cell_fits)
    macros = re.findall(r"^\\newcommand\{\\([^}]*)\}\{(.*)\}$", text, flags=re.M)
    assert len(macros) == 2 * len(fit.LATEX_QUANTITIES)
    names = [name for name, _ in macros]
    assert all(re.fullmatch(r"[A-Za-z]+", name) for name in names)
    assert len(set(names)) == len(names)
    values = dict(macros)
    slope = float(two_cell_fits.slope.sel(engine="gram", p=1).squeeze())
    assert float(values["slopeGramPOneGammaZeroPointOneNoiseZero"]) == pytest.approx(
        slope, rel=5e-3)
    assert "slopeTheoryGramPTwoGammaZeroPointOneNoiseZero" in values


def test_latex_words_spell_numbers_without_ambiguity():
    assert fit.latex_word(0.1) == "ZeroPointOne"
    assert fit.latex_word(1e-4) == "ZeroPointZeroZeroZeroOne"
    assert fit.latex_word(11) != fit.latex_word(1.1)
    assert fit.latex_word("sgd") == "Sgd"
    assert fit.latex_number(float("nan")) == r"\textrm{n/a}"
    assert fit.latex_number(2.5e-5) == r"\ensuremath{2.50\times 10^{-5}}"


def test_d_min_drops_the_pre_asymptotic_small_d_points():
    """A bend at d = 100 (exit times +1 there) biases the all-d slope; fitting d >= 1000
    recovers the true slope within 4 standard errors, and records d_min."""
    data = synthetic_exit_times(0.3125, sigma=0.1, rng_seed=5)
    data["exit_time"] = data.exit_time + xr.where(data.d < 1000, 1.0, 0.0)
    biased = fit.fit_exit_times(data, n_boot=50).squeeze()
    clean = fit.fit_exit_times(data, n_boot=50, d_min=1000).squeeze()
    assert abs(float(biased.slope) - 0.3125) > 10 * float(biased.slope_se)
    assert abs(float(clean.slope) - 0.3125) < 4 * float(clean.slope_se)
    assert int(clean.n_d) == len(D_VALUES) - 1 and clean.attrs["d_min"] == 1000.0


# -- fits per engine and d range; the exact-vs-sde two-sample table ---------------------
def two_engine_store(sde_shift=0.0):
    """'auto' (exact) with the true slope 0.3 at d >= 1000 but +0.5 at d = 100 (a
    pre-asymptotic bend), 'sde' with slope 0.3125 over 1e4 .. 1e12, 400 seeds."""
    exact = synthetic_exit_times(0.3, sigma=0.2, d=[100, 1000, 10_000, 100_000, 1_000_000])
    exact["exit_time"] = exact.exit_time + xr.where(exact.d < 1000, 0.5, 0.0)
    sde = synthetic_exit_times(0.3125, intercept=-1.0 + sde_shift, sigma=0.2, seeds=400,
                               d=[10_000, 100_000, 1_000_000, 10**8, 10**10, 10**12],
                               rng_seed=1)
    sde["exit_time"] = sde.exit_time - 0.0125 * np.log(np.minimum(sde.d, 10**6))  # 0.3 below 1e6
    return xr.concat([exact.assign_coords(engine=["auto"]), sde.assign_coords(engine=["sde"])],
                     "engine", join="outer")


def test_ranges_fit_each_engine_over_its_own_d_and_both_over_the_overlap():
    store = two_engine_store()
    ranges = fit.fit_ranges(store, d_min=1000, d_min_sde=1e6)
    assert ranges == {"own": {"auto": [1000, None], "sde": [1e6, None]},
                      "overlap": {"auto": [10_000, 1_000_000], "sde": [10_000, 1_000_000]}}
    fits = fit.fit_by_range(store, ranges, n_boot=200).squeeze(["p", "gamma", "noise"])
    own, overlap = fits.sel(d_range="own"), fits.sel(d_range="overlap")
    for cell, slope in ((own.sel(engine="auto"), 0.3), (own.sel(engine="sde"), 0.3125),
                        (overlap.sel(engine="auto"), 0.3), (overlap.sel(engine="sde"), 0.3)):
        assert float(cell.slope_lo) <= slope <= float(cell.slope_hi)
        assert abs(float(cell.slope) - slope) < 4 * float(cell.slope_se)
    assert (float(own.sel(engine="sde").d_lo), float(own.sel(engine="sde").d_hi)) == (1e6, 1e12)
    assert int(own.sel(engine="sde").n_d) == 4 and int(own.sel(engine="auto").n_d) == 4
    assert int(overlap.sel(engine="auto").n_d) == 3
    assert "overlap" in fits.d_range.long_name and "own" in fits.attrs["d_ranges"]
    # without sde there is no overlap range; a single engine is fitted as before
    alone = fit.fit_ranges(store.sel(engine=["auto"]), d_min=1000, d_min_sde=1e6)
    assert list(alone) == ["own"]


def test_range_fits_round_trip_through_csv_and_name_their_macros(tmp_path):
    store = two_engine_store()
    fits = fit.fit_by_range(store, fit.fit_ranges(store, 1000, 1e6), n_boot=20)
    fit.write_fits_csv(fits, tmp_path / "fits.csv")
    back = fit.read_fits_csv(tmp_path / "fits.csv")
    assert back.slope.dims == ("d_range", *fit.FIT_DIMS)
    np.testing.assert_allclose(back.slope.sel(d_range="own", engine="sde").values,
                               fits.slope.sel(d_range="own", engine="sde").values, rtol=1e-15)
    names = re.findall(r"\\newcommand\{\\([A-Za-z]+)\}", fit.latex_macros(fits))
    assert len(names) == len(set(names)) == 4 * len(fit.LATEX_QUANTITIES)
    assert "slopeSdePOneGammaZeroPointOneNoiseZero" in names  # own range: the old names
    assert "slopeAutoPOneGammaZeroPointOneNoiseZeroOverlap" in names


def test_two_sample_table_agrees_for_one_law_and_flags_a_shift():
    from scipy import stats

    same = fit.engine_agreement(two_engine_store())
    assert sorted(same.d) == [10_000, 100_000, 1_000_000]
    assert (same.n_reference == 100).all() and (same.n_engine == 400).all()
    assert (same.z.abs() < 4).all() and (same.ks_p > 1e-3).all()
    row = same.iloc[0]
    a, b = (two_engine_store().exit_time.sel(engine=e, d=row.d).values.ravel()
            for e in ("auto", "sde"))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]  # 100 exact seeds, 400 sde seeds
    assert row.difference == pytest.approx(b.mean() - a.mean())
    assert row.welch_p == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert row.ks_p == pytest.approx(stats.ks_2samp(b, a).pvalue)
    shifted = fit.engine_agreement(two_engine_store(sde_shift=0.15))  # ~7 standard errors
    assert (shifted.z > 4).all() and (shifted.welch_p < 1e-4).all()
    summary = fit.agreement_summary(shifted)
    assert int(summary.n_d.iloc[0]) == 3 and float(summary.chi2_p.iloc[0]) < 1e-6
    text = fit.agreement_macros(same)
    assert r"\newcommand{\agreeZAutoVsSdePOneGammaZeroPointOneNoiseZeroDOneZeroZeroZeroZero}" \
        in text and r"\agreeChiTwoPAutoVsSdePOneGammaZeroPointOneNoiseZero}" in text
    assert fit.engine_agreement(two_engine_store().sel(engine=["auto"])).empty


@pytest.mark.parametrize("value, words", [(1, "minimum of 2"), ("big", "not of type"),
                                          (True, "")])
def test_fit_range_config_keys_are_validated(value, words):
    from pathlib import Path

    from mediocrity.pipeline.config import ConfigError, resolve_config

    workflow = Path(__file__).resolve().parents[1] / "workflow"
    cfg = {"experiments": {"T": {"d": [100], "p": [1], "gamma": [0.1], "seeds": 1}},
           "paper": {"fit_d_min_sde": value}}
    with pytest.raises(ConfigError, match=r"config key 'paper\.fit_d_min_sde'.*" + words):
        resolve_config(cfg, workflow)
    cfg["paper"] = {"fit_d_min_sd": 1.0e6}
    with pytest.raises(ConfigError, match="did you mean 'fit_d_min_sde'"):
        resolve_config(cfg, workflow)
    cfg["paper"] = {"fit_d_min_sde": 1.0e6}
    assert resolve_config(cfg, workflow)["paper"]["fit_d_min_sde"] == 1.0e6
