"""Exit time: interpolated first crossing of R(t) <= (1 - T) R(0) (docs/science.md §3, §5:
never report a saved grid point as the crossing)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mediocrity.exit_time import crossing_times, exit_time
from mediocrity.problem import Problem


def _grid(n=10, t_min=1e-3, t_max=10.0):
    return Problem(d=100, p=1, gamma=0.1, t_min=t_min, t_max=t_max,
                   saves_per_decade=n).time_grid()


def _exp_risk(t, r0, a):
    return r0 * np.exp(-a * t)


def _check_exponential(t, measured, a, threshold):
    """R = R0 exp(-a t) crosses (1 - T) R0 at t* = -log(1 - T)/a. R is convex, so the chord
    between the bracketing saves t0 < t1 (h = t1 - t0) lies above it and crosses later:
    0 <= t_ex - t* <= h^2 max|R''| / (8 min|R'|) = h^2 a exp(a h) / 8."""
    t_star = -np.log1p(-threshold) / a
    k = np.searchsorted(t, t_star)
    h = t[k] - t[k - 1]
    bound = h**2 * a * np.exp(a * h) / 8
    assert t_star - 1e-12 <= measured <= t_star + bound * (1 + 1e-9) + 1e-15, (measured, t_star, bound)
    return t_star, h


@pytest.mark.parametrize("a,threshold", [(0.37, 0.01), (2.9, 0.01), (0.05, 0.2), (13.0, 0.5)])
def test_exit_time_of_an_exponential_is_within_the_interpolation_error_bound(a, threshold):
    t = _grid()
    risk = xr.DataArray(_exp_risk(t, 1.7, a), dims="t", coords={"t": t})
    measured = float(exit_time(risk, threshold))
    t_star, h = _check_exponential(t, measured, a, threshold)
    # interpolated, not a grid point: strictly inside the bracketing interval
    k = np.searchsorted(t, t_star)
    assert t[k - 1] < measured < t[k]
    assert np.min(np.abs(t - measured)) > 1e-6 * h


def test_exit_time_of_many_exponentials_is_never_a_grid_point():
    t = _grid(n=20)
    rng = np.random.default_rng(0)
    a = np.exp(rng.uniform(np.log(0.05), np.log(20.0), size=300))
    risk = xr.DataArray(_exp_risk(t[None, :], 2.0, a[:, None]), dims=("seed", "t"),
                        coords={"t": t})
    measured = exit_time(risk, 0.01).values
    for ak, mk in zip(a, measured):
        _check_exponential(t, mk, ak, 0.01)
    assert not np.isin(measured, t).any()


def test_exit_time_is_exact_for_a_piecewise_linear_risk():
    # linear interpolation is exact when R is linear between the bracketing saves
    t = _grid(n=7)
    for b in (0.1, 0.73, 3.0):
        risk = xr.DataArray(2.0 - b * t, dims="t", coords={"t": t})
        assert float(exit_time(risk, 0.05)) == pytest.approx(0.05 * 2.0 / b, rel=1e-12)


def test_exit_time_is_nan_when_never_crossed():
    t = _grid()
    flat = 1.5 + 0.001 * np.sin(t)  # stays above (1 - 0.01) * 1.5
    slow = _exp_risk(t, 1.5, 1e-4)  # decays by 0.1 % by t = 10
    for r in (flat, slow):
        assert np.isnan(float(exit_time(xr.DataArray(r, dims="t", coords={"t": t}), 0.01)))


def test_exit_time_is_nan_when_the_series_turns_nan_before_crossing():
    t = _grid()
    r = _exp_risk(t, 1.5, 1.0)  # crosses at t* ~ 0.01005
    k_star = np.searchsorted(t, -np.log(0.99))
    for k_nan in (k_star - 1, k_star, 3):
        bad = r.copy()
        bad[k_nan:] = np.nan
        assert np.isnan(float(exit_time(xr.DataArray(bad, dims="t", coords={"t": t}), 0.01)))
    # a single NaN before the crossing also hides it (a divergence ends the run)
    bad = r.copy()
    bad[k_star - 2] = np.nan
    assert np.isnan(float(exit_time(xr.DataArray(bad, dims="t", coords={"t": t}), 0.01)))
    # NaN after the crossing (early stop) does not change the exit time
    stopped = r.copy()
    stopped[k_star + 1:] = np.nan
    full = float(exit_time(xr.DataArray(r, dims="t", coords={"t": t}), 0.01))
    assert float(exit_time(xr.DataArray(stopped, dims="t", coords={"t": t}), 0.01)) == full


def test_exit_time_works_on_extra_dims_in_any_order_and_after_sel():
    t = _grid()
    gammas = np.array([0.05, 0.1])
    seeds = np.arange(3)
    a = 0.5 + np.arange(6).reshape(2, 3)  # (gamma, seed)
    values = _exp_risk(t[:, None, None], 1.2, a[None, :, :])  # (t, gamma, seed)
    risk = xr.DataArray(values, dims=("t", "gamma", "seed"),
                        coords={"t": t, "gamma": gammas, "seed": seeds})
    out = exit_time(risk, 0.02)
    assert set(out.dims) == {"gamma", "seed"}
    assert out.name == "exit_time" and out.attrs["threshold"] == 0.02
    for i, g in enumerate(gammas):
        for j, s in enumerate(seeds):
            single = risk.sel(gamma=g, seed=s)
            assert single.dims == ("t",)
            assert float(exit_time(single, 0.02)) == float(out.sel(gamma=g, seed=s))
            _check_exponential(t, float(out.sel(gamma=g, seed=s)), a[i, j], 0.02)
    # the numpy core over the last axis gives the same numbers
    core = crossing_times(t, np.moveaxis(values, 0, -1), 0.02)
    np.testing.assert_array_equal(core, out.transpose("gamma", "seed").values)


def test_exit_time_along_a_named_dim():
    t = _grid()
    risk = xr.DataArray(_exp_risk(t, 1.0, 1.0), dims="time", coords={"time": t})
    measured = float(exit_time(risk, 0.01, dim="time"))
    _check_exponential(t, measured, 1.0, 0.01)
    with pytest.raises(ValueError, match="no dimension 't'"):
        exit_time(risk, 0.01)


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, 1.5, float("nan"), float("inf")])
def test_exit_time_rejects_thresholds_outside_zero_one(threshold):
    t = _grid()
    risk = xr.DataArray(_exp_risk(t, 1.0, 1.0), dims="t", coords={"t": t})
    with pytest.raises(ValueError, match="threshold"):
        exit_time(risk, threshold)


def test_exit_time_works_on_dask_arrays_chunked_along_time():
    # stores opened with xr.open_zarr are dask-backed and may be chunked along t
    t = _grid()
    a = np.array([0.4, 1.0, 2.5, 7.0])
    risk = xr.DataArray(_exp_risk(t[None, :], 1.3, a[:, None]), dims=("seed", "t"),
                        coords={"t": t})
    eager = exit_time(risk, 0.01)
    lazy = exit_time(risk.chunk({"seed": 2, "t": 7}), 0.01)
    assert lazy.chunks is not None  # stays lazy until computed
    np.testing.assert_array_equal(lazy.compute().values, eager.values)
