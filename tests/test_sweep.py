"""mediocrity.studies.escape.sweep without Snakemake: the grid as cells, cell identity and specs, one
cell run over each kind of Dask scheduler, the SLURM cluster settings, sweep status."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mediocrity import simulate
from mediocrity.pipeline.config import resolve_config
from mediocrity.pipeline.cells import CellIndex, fmt, seed_chunks
from mediocrity.pipeline.runtime import single_thread_env, slurm_cluster_kwargs
from mediocrity.pipeline.status import sweep_status
from mediocrity.studies.escape.config import problem_for
from mediocrity.studies.escape.sweep import (SIM_PATTERN, Cell, cell_spec, cell_threads,
                                             experiment_cells, modelled_seconds, ode_spec,
                                             run_cell, run_ode)

WORKFLOW = Path(__file__).resolve().parents[1] / "workflow"
CONFIG = {"root_seed": 3, "seeds_per_job": 2, "experiments": {
    "A": {"d": [30, 50], "p": [1, 2], "gamma_over_p": [0.1], "noise": [0.0, 1.0e-4],
          "seeds": 5, "engines": ["gram", "sgd"], "init": "fixed", "t_max": 1.0,
          "stop_after": 0.2, "ode": True}}}


@pytest.fixture(scope="module")
def cfg():
    return resolve_config(CONFIG, WORKFLOW)


def test_seed_chunks_cover_the_seeds_once():
    assert seed_chunks(5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert seed_chunks(4, 10) == [(0, 4)]


def test_cells_span_engines_grid_and_chunks(cfg):
    cells = experiment_cells(cfg, "A")
    assert len(cells) == 2 * 2 * 2 * 2 * 3 and len(set(cells)) == len(cells)
    assert {c.gamma for c in cells if c.p == 2} == {0.2}
    path = Cell("A", "gram", 50, 2, 0.2, 1e-4, 2, 4).path("results")
    assert path == "results/A/cells/gram/d50_p2_g0.2_n0.0001_s2-4.zarr"
    assert fmt(1e-5) == "1e-05" and fmt(0.0) == "0" and fmt(0.1 * 3) == "0.3"


def test_wildcards_name_exactly_one_configured_cell(cfg):
    wildcards = {"experiment": "A", "engine": "sgd", "d": "30", "p": "1", "gamma": "0.1",
                 "noise": "0.0001", "start": "4", "stop": "5"}
    index = CellIndex("results", SIM_PATTERN, experiment_cells(cfg, "A"),
                      lambda cell: cell_spec(cfg, cell), modelled_seconds)
    assert index.of(wildcards) == Cell("A", "sgd", 30, 1, 0.1, 1e-4, 4, 5)
    assert index.spec(index.of(wildcards)) == cell_spec(cfg, index.of(wildcards))
    with pytest.raises(ValueError, match="not a cell"):
        index.of(dict(wildcards, d="40"))
    with pytest.raises(ValueError, match="not a cell"):
        index.of(dict(wildcards, experiment="B"))


def test_specs_hold_every_result_affecting_value(cfg):
    spec = cell_spec(cfg, Cell("A", "sgd", 30, 1, 0.1, 0.0, 0, 2))
    for key in ("root_seed", "init", "init_seed", "threshold", "t_min", "t_max",
                "saves_per_decade", "stop_after", "seeds", "engine"):
        assert key in spec
    assert "seeds" not in ode_spec(cfg, "A") and "engines" not in ode_spec(cfg, "A")


def test_small_cells_get_one_thread(cfg):
    spec = cell_spec(cfg, Cell("A", "sgd", 30, 1, 0.1, 0.0, 0, 2))
    assert modelled_seconds(spec) < 1 and cell_threads(spec, 4) == 1
    big = dict(spec, d=10**6, seeds=[0, 1000], stop_after=None, t_max=30.0, engine="gram")
    assert cell_threads(big, 4) == 4


def _direct(cfg, cell):
    exp = cfg["experiments"]["A"]
    return simulate(problem_for(exp, cell.d, cell.p, cell.gamma, cell.noise),
                    engine=cell.engine, seeds=range(cell.start, cell.stop), init=exp["init"],
                    root_seed=cfg["root_seed"], scheduler="sync")


@pytest.mark.parametrize("threads", [1, 2])
def test_run_cell_writes_the_direct_simulation(cfg, tmp_path, threads, capfd):
    cell = Cell("A", "sgd", 50, 2, 0.2, 1e-4, 2, 4)
    out = tmp_path / "cell.zarr"
    run_cell(cell_spec(cfg, cell), str(out), threads)
    written = xr.open_zarr(out).load()
    xr.testing.assert_equal(written.risk, _direct(cfg, cell).risk)
    assert written.attrs["cell_engine"] == "sgd" and written.attrs["seconds_engine"] > 0
    log = capfd.readouterr().err
    assert "seeds done 2/2" in log and f"local threads x{threads}" in log


def test_run_cell_on_an_existing_scheduler_gives_the_same_numbers(cfg, tmp_path):
    distributed = pytest.importorskip("distributed")
    cell = Cell("A", "gram", 30, 1, 0.1, 0.0, 0, 2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        run_cell(cell_spec(cfg, cell), str(tmp_path / "c.zarr"), 1,
                 {"scheduler": "address", "address": cluster.scheduler_address})
    xr.testing.assert_equal(xr.open_zarr(tmp_path / "c.zarr").risk.load(),
                            _direct(cfg, cell).risk)


def test_ode_store_starts_from_the_shared_draw(cfg, tmp_path):
    run_ode(ode_spec(cfg, "A"), str(tmp_path / "ode.zarr"), {"init": "fixed"})
    ode = xr.open_zarr(tmp_path / "ode.zarr").load()
    assert ode.risk.dims == ("d", "p", "gamma", "noise", "t")
    sim = _direct(cfg, Cell("A", "gram", 30, 2, 0.2, 0.0, 0, 1))
    np.testing.assert_allclose(ode.m2.sel(d=30, p=2, gamma=0.2, noise=0.0).isel(t=0),
                               (sim.m.isel(seed=0, t=0) ** 2).sum())


def test_slurm_cluster_binds_to_localhost_and_pins_blas():
    dask_cfg = resolve_config({"dask": {"scheduler": "slurm"}, **CONFIG}, WORKFLOW)["dask"]
    kwargs = slurm_cluster_kwargs(dask_cfg)
    assert kwargs["scheduler_options"] == {"host": "127.0.0.1",
                                           "dashboard_address": "127.0.0.1:0"}
    assert "export OMP_NUM_THREADS=1" in kwargs["job_script_prologue"]
    jobqueue = pytest.importorskip("dask_jobqueue")
    with jobqueue.SLURMCluster(**kwargs) as cluster:  # no sbatch until it scales
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert "export OPENBLAS_NUM_THREADS=1" in cluster.job_script()
    assert set(single_thread_env().values()) == {"1"}


def test_status_counts_cells_and_estimates_what_is_left(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = sweep_status(cfg, cores=2)
    assert "A: cells 0/48 done" in first and "total: 0/48 cells done" in first
    cell = experiment_cells(cfg, "A")[0]
    run_cell(cell_spec(cfg, cell), cell.path(cfg["results"]))
    status = sweep_status(cfg, cores=2)
    assert "A: cells 1/48 done" in status and "calibrated" in status
