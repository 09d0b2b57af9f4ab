"""`exit_time.escaped`: a real escape from mediocrity vs a plateau fluctuation that
crosses the exit threshold; the per-run flag of the exit-time store and its counts."""

import warnings

import numpy as np
import pytest
import xarray as xr

from mediocrity import Problem, simulate
from mediocrity.studies.escape import measure
from mediocrity.exit_time import escaped, exit_time
from mediocrity.studies.escape.store import exit_time_table
from mediocrity.pipeline.stores import write_atomic

T = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])


def curves(*rows):
    return xr.DataArray(np.array(rows, dtype=float), dims=("seed", "t"), coords={"t": T})


def test_a_dip_below_the_threshold_is_not_an_escape_a_deep_fall_is():
    dip = [2.0, 2.0, 1.9, 2.0, 2.0, 2.0, 2.0]        # 5 % dip at t = 1, back up at 1.5
    escape = [2.0, 2.0, 1.9, 1.5, 0.8, 0.1, 0.01]    # crosses at the same time, falls
    flat = [2.0] * 7
    risk = curves(dip, escape, flat)
    t_ex = exit_time(risk)
    assert np.isfinite(t_ex.values[:2]).all() and np.isnan(t_ex.values[2])
    assert escaped(risk).values.tolist() == [False, True, False]
    # hold: below the threshold for the whole window (dip: only at t = 1)
    assert escaped(risk, hold=0.9).values.tolist() == [False, True, False]
    assert escaped(risk, depth=0.04).values.tolist() == [True, True, False]


def test_hold_flags_runs_stopped_before_they_get_deep_but_needs_the_window_saved():
    stopped = [2.0, 2.0, 1.9, 1.85, 1.8, np.nan, np.nan]  # stop at t = 2 (stop_after)
    assert escaped(curves(stopped)).values.tolist() == [False]
    t_ex = exit_time(curves(stopped)).item()
    assert escaped(curves(stopped), hold=2.0 - t_ex).values.tolist() == [True]
    assert escaped(curves(stopped), hold=1.5).values.tolist() == [False]  # not saved
    with pytest.raises(ValueError, match="depth"):
        escaped(curves(stopped), depth=0.005)
    with pytest.raises(ValueError, match="hold"):
        escaped(curves(stopped), hold=-1.0)


def runs(gamma, seeds=12, d=500, stop_after=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NoEscapeWarning above gamma_c
        problem = Problem(d=d, p=1, gamma=gamma, t_max=6.0, stop_after=stop_after)
    return simulate(problem, engine="gram", seeds=seeds, init="random", root_seed=3,
                    scheduler="synchronous")


def test_above_gamma_c_crossings_are_fluctuations_below_they_are_escapes():
    above = runs(0.2)  # gamma_c = 1/6 at p = 1: M = 0 is stable, nothing escapes
    assert exit_time(above.risk).notnull().sum() >= 10  # yet most runs cross T = 1 %
    assert not escaped(above.risk).any()
    below = runs(0.1)
    assert escaped(below.risk).all()


def test_exit_time_store_flags_each_run_and_the_summary_counts_them(tmp_path):
    parts = [runs(g, seeds=6, stop_after=0.2).risk.transpose("seed", "t") for g in (0.1, 0.2)]
    dims = ("engine", "d", "p", "gamma", "noise", "seed", "t")
    coords = {"engine": ["gram"], "d": [500], "p": [1], "gamma": [0.1, 0.2], "noise": [0.0],
              "seed": np.arange(6), "t": parts[0].t.values}
    values = np.stack([r.values for r in parts])[None, None, None, :, None]
    attrs = {"threshold": 0.01, "stop_after": 0.2, "init": "random"}
    sweep = xr.Dataset({"risk": (dims, values)}, coords=coords, attrs=attrs)
    write_atomic(sweep, tmp_path / "sweep.zarr")
    exit_time_table(tmp_path / "sweep.zarr", tmp_path / "times.zarr")
    times = xr.open_zarr(tmp_path / "times.zarr").load()
    assert times.escaped.dims == times.exit_time.dims
    assert times.escaped.attrs["hold"] == 0.2
    summary = measure.exit_time_summary(times).squeeze()
    # stopped 0.2 after the first crossing: at d = 500 a 1 % dip can come first (fixed
    # seeds: one of the six runs), and the hold criterion says so
    assert int(summary.n_real_escapes.sel(gamma=0.1)) >= 5
    assert int(summary.n_escaped.sel(gamma=0.1)) == 6
    above = summary.sel(gamma=0.2)
    assert int(above.n_real_escapes + above.n_fluctuations) == int(above.n_escaped)
