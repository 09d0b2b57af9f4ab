"""mediocrity.pipeline.stores and mediocrity.studies.escape.store: atomic writes, merging
cells into the sweep store (NaN where no cell exists), the ODE store and the exit-time
table."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import xarray as xr

from mediocrity import Problem, simulate
from mediocrity.studies.escape.store import exit_time_table, merge_cells, ode_dataset
from mediocrity.pipeline.stores import write_atomic

ATTRS = {"experiment": "X", "threshold": 0.01, "init": "random"}


def small(x=1.0) -> xr.Dataset:
    return xr.Dataset({"a": ("i", np.arange(3) * x)})


def test_write_atomic_replaces_and_leaves_no_temporaries(tmp_path):
    out = tmp_path / "s.zarr"
    write_atomic(small(1.0), out)
    write_atomic(small(2.0), out)  # over a complete older store
    xr.testing.assert_equal(xr.open_zarr(out).load(), small(2.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]


def test_write_atomic_never_exposes_a_partial_store(tmp_path, monkeypatch):
    out = tmp_path / "s.zarr"

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(xr.Dataset, "to_zarr", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(small(), out)
    assert not out.exists()


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    out = tmp_path / "s.zarr"
    dead = tmp_path / f"s.zarr.tmp-{socket.gethostname()}-999999999"
    alive = tmp_path / f"s.zarr.tmp-{socket.gethostname()}-{os.getpid()}x"
    dead.mkdir()
    alive.mkdir()  # not a pid: left alone
    write_atomic(small(), out)
    assert not dead.exists() and alive.exists()


def _cell(engine, d, p, gamma, seeds, t_max=1.0):
    ds = simulate(Problem(d=d, p=p, gamma=gamma, t_max=t_max), engine="gram", seeds=seeds,
                  scheduler="sync")
    return ds.assign_attrs(cell_engine=engine)


def test_merge_fills_the_union_grid_with_nan(tmp_path):
    cells = {"a.zarr": _cell("auto", 30, 1, 0.1, [0, 1]),
             "b.zarr": _cell("auto", 30, 2, 0.2, [0, 1]),
             "c.zarr": _cell("auto", 30, 1, 0.1, [2])}
    for name, ds in cells.items():
        write_atomic(ds, tmp_path / name)
    merge_cells([tmp_path / n for n in cells], tmp_path / "sweep.zarr", ATTRS)
    sweep = xr.open_zarr(tmp_path / "sweep.zarr").load()
    assert dict(sweep.sizes) == {"engine": 1, "d": 1, "p": 2, "gamma": 2, "noise": 1,
                                 "seed": 3, "t": cells["a.zarr"].t.size}
    got = sweep.risk.sel(engine="auto", d=30, p=1, gamma=0.1, noise=0.0)
    np.testing.assert_array_equal(got.sel(seed=[0, 1]), cells["a.zarr"].risk)
    np.testing.assert_array_equal(got.sel(seed=2), cells["c.zarr"].risk.sel(seed=2))
    assert sweep.risk.sel(p=1, gamma=0.2).isnull().all()
    assert sweep.risk.sel(p=2, gamma=0.2, seed=2).isnull().all()  # seed 2 only ran at p=1
    m2 = (cells["b.zarr"].m ** 2).sum("neuron")
    np.testing.assert_allclose(sweep.m2.sel(p=2, gamma=0.2, seed=[0, 1]).squeeze(), m2)
    assert sweep.attrs == ATTRS


def test_exit_time_table_interpolates_and_adds_theory(tmp_path):
    t = np.array([0.0, 1.0, 2.0, 3.0])
    risk = np.array([2.0, 2.0, 1.0, 0.5])  # crosses 0.99 * 2 = 1.98 at t = 1.02
    sweep = xr.Dataset(
        {"risk": (("engine", "d", "p", "gamma", "noise", "seed", "t"),
                  risk.reshape(1, 1, 1, 1, 1, 1, 4))},
        coords={"engine": ["auto"], "d": [100], "p": [1], "gamma": [0.1],
                "noise": [0.0], "seed": [0], "t": t}, attrs=ATTRS)
    sweep = sweep.reindex(gamma=[0.1, 0.2])  # gamma = 0.2: no cell
    write_atomic(sweep, tmp_path / "sweep.zarr")
    run = simulate(Problem(d=100, p=1, gamma=0.1, t_max=3.0), engine="ode", init="fixed")
    write_atomic(ode_dataset([run], ATTRS), tmp_path / "ode.zarr")
    exit_time_table(tmp_path / "sweep.zarr", tmp_path / "times.zarr", tmp_path / "ode.zarr")
    times = xr.open_zarr(tmp_path / "times.zarr").load()
    assert float(times.exit_time.sel(gamma=0.1).squeeze()) == pytest.approx(1.02)
    assert np.isnan(times.exit_time.sel(gamma=0.2)).all()
    assert np.isfinite(times.theory_quenched.sel(gamma=0.1)).all()
    assert np.isnan(times.theory_quenched.sel(gamma=0.2)).all()
    assert np.isfinite(times.exit_time_ode.sel(gamma=0.1)).all()
    assert times.attrs == ATTRS
