"""Per-cell summaries on hand-made datasets whose mean, sem and fractions are known exactly."""

import numpy as np
import pytest
import xarray as xr

from mediocrity.studies.escape import measure

SQRT3 = np.sqrt(3.0)


@pytest.fixture
def exit_times():
    """One engine, d in {100, 1000}, p in {1, 2}, 4 seed slots. d = 100, p = 1: times
    1, 2, 3 and one run that never escaped; d = 1000, p = 1: 4, 6 and two absent runs;
    p = 2: no run at all."""
    values = np.full((1, 2, 2, 1, 1, 4), np.nan)
    values[0, 0, 0, 0, 0, :3] = [1.0, 2.0, 3.0]
    values[0, 1, 0, 0, 0, :2] = [4.0, 6.0]
    coords = dict(engine=["sgd"], d=[100, 1000], p=[1, 2], gamma=[0.1], noise=[0.0],
                  seed=np.arange(4))
    cell_dims = ("d", "p", "gamma", "noise")
    ode = np.array([2.5, np.nan, 4.0, np.nan]).reshape(2, 2, 1, 1)
    return xr.Dataset({"exit_time": (tuple(coords), values),
                       "exit_time_ode": (cell_dims, ode),
                       "theory_quenched": (cell_dims, ode + 0.1)},
                      coords=coords, attrs={"threshold": 0.01, "init": "fixed"})


@pytest.fixture
def present(exit_times):
    mask = xr.zeros_like(exit_times.exit_time, dtype=bool)
    mask.loc[dict(d=100, p=1)] = True
    mask.loc[dict(d=1000, p=1, seed=[0, 1])] = True
    return mask


def test_exit_time_summary_mean_sem_fraction_are_exact(exit_times, present):
    summary = measure.exit_time_summary(exit_times, present).sel(engine="sgd", p=1, gamma=0.1,
                                                                 noise=0.0)
    small, large = summary.sel(d=100), summary.sel(d=1000)
    assert float(small.exit_time_mean) == 2.0
    assert float(small.exit_time_sem) == pytest.approx(1.0 / SQRT3, rel=1e-12)
    assert float(small.exit_time_median) == 2.0
    assert int(small.n_seeds) == 4 and int(small.n_escaped) == 3
    assert float(small.fraction_escaped) == 0.75
    np.testing.assert_allclose(small.exit_time_quantile.values, [1.2, 2.0, 2.8])
    assert float(large.exit_time_mean) == 5.0
    assert float(large.exit_time_sem) == pytest.approx(1.0, rel=1e-12)
    assert int(large.n_seeds) == 2 and float(large.fraction_escaped) == 1.0


def test_ratio_to_ode_samples_and_theory_are_carried(exit_times, present):
    summary = measure.exit_time_summary(exit_times, present).sel(engine="sgd", p=1, gamma=0.1,
                                                                 noise=0.0)
    np.testing.assert_allclose(summary.ratio_to_ode.values, [2.0 / 2.5, 5.0 / 4.0])
    np.testing.assert_allclose(summary.ratio_to_ode_sem.values, [1 / SQRT3 / 2.5, 1 / 4.0])
    np.testing.assert_allclose(summary.samples_mean.values, [2.0 * 100 / 0.1, 5.0 * 1000 / 0.1])
    np.testing.assert_allclose(summary.theory_quenched.values, [2.6, 4.1])


def test_cell_without_runs_is_nan_not_zero(exit_times, present):
    empty = measure.exit_time_summary(exit_times, present).sel(p=2)
    assert (empty.n_seeds == 0).all()
    assert empty.exit_time_mean.isnull().all() and empty.fraction_escaped.isnull().all()


def test_without_present_mask_every_seed_slot_counts(exit_times):
    summary = measure.exit_time_summary(exit_times).sel(engine="sgd", d=1000, p=1).squeeze()
    assert int(summary.n_seeds) == 4 and float(summary.fraction_escaped) == 0.5


def test_samples_is_t_p_d_over_gamma():
    assert measure.samples(0.5, 2, 1000, 0.1) == pytest.approx(10_000.0)


def sweep_of(risk_rows, t=(0.0, 1.0, 10.0, 100.0), p=(1,), noise=0.01):
    """A sweep with one engine/d/gamma/noise, the given p values and runs (seed, t)."""
    risk = np.asarray(risk_rows, float)[None, None, None, None, None].repeat(len(p), axis=2)
    dims = ("engine", "d", "p", "gamma", "noise", "seed", "t")
    coords = dict(engine=["sgd"], d=[1000], p=list(p), gamma=[0.1], noise=[noise],
                  seed=np.arange(risk.shape[-2]), t=list(t))
    diverged = np.zeros(risk.shape[:-1], bool)
    diverged[..., -1] = True
    return xr.Dataset({"risk": (dims, risk), "m2": (dims, np.zeros_like(risk)),
                       "diverged": (dims[:-1], diverged)}, coords=coords)


def test_plateau_risk_averages_the_late_saves_and_skips_nan():
    sweep = sweep_of([[2.0, 1.0, 0.5, 0.3], [2.0, 1.0, 0.5, np.nan]])
    per_run = measure.plateau_risk(sweep.risk, t_from=10.0).squeeze()
    np.testing.assert_allclose(per_run.values, [0.4, 0.5])
    default = measure.plateau_risk(sweep.risk).squeeze()  # t >= t_max/2 = 50: last save
    np.testing.assert_allclose(default.values, [0.3, np.nan])
    assert default.attrs["t_from"] == 50.0


def test_plateau_summary_mean_sem_and_p1_fixed_point():
    sweep = sweep_of([[2.0, 1.0, 0.5, 0.3], [2.0, 1.0, 0.5, 0.5]], p=(1, 2))
    ode = sweep.risk.isel(engine=0, seed=0).to_dataset(name="risk")
    summary = measure.plateau_summary(sweep, ode, t_from=10.0).sel(engine="sgd", d=1000,
                                                                  gamma=0.1, noise=0.01)
    np.testing.assert_allclose(summary.plateau_mean.values, [0.45, 0.45])
    np.testing.assert_allclose(summary.plateau_sem.values, [0.05, 0.05])
    np.testing.assert_allclose(summary.plateau_ode.values, [0.4, 0.4])
    assert int(summary.n_diverged.sel(p=1)) == 1
    assert float(summary.plateau_theory_p1.sel(p=1)) == pytest.approx(0.1 * 0.01 / 0.4)
    assert np.isnan(summary.plateau_theory_p1.sel(p=2))


def test_cell_summary_uses_runs_present_from_the_sweep():
    sweep = sweep_of([[2.0, 1.0, 0.5, 0.3], [np.nan] * 4, [2.0, 1.5, 1.2, 1.1]])
    times = xr.Dataset({"exit_time": sweep.risk.isel(t=1, drop=True) * 0 + [0.5, np.nan, np.nan]})
    summary = measure.cell_summary(times, sweep).squeeze()
    assert int(summary.n_seeds) == 2 and float(summary.fraction_escaped) == 0.5
    assert float(summary.plateau_mean) == pytest.approx((0.3 + 1.1) / 2)  # t >= t_max/2
