"""WLS fits of <t_ex> vs log d on exit times drawn as a + b log d + noise with known b."""

import re

import numpy as np
import pytest
import xarray as xr

from mediocrity import fit, theory

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
