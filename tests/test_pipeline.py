"""The Snakemake pipeline end to end, run as a user would (`snakemake --cores 2`) on a tiny
config in a temporary copy of Snakefile + workflow/.

Stores follow the data contract; every cell equals a direct `simulate` call (so chunking
and two jobs running side by side change nothing); a second run does nothing; a new d
value runs only its cells; more seeds and changed parameters rerun what they affect; a
run killed with SIGKILL and resumed gives bit-identical stores; the SLURM profile
dry-runs; the real quick preset runs end to end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from mediocrity import simulate
from mediocrity.pipeline.config import load_yaml, resolve_config
from mediocrity.studies.escape.config import problem_for
from mediocrity.studies.margins import sweep as margins_sweep
from mediocrity.studies.escape.sweep import experiment_cells

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "root_seed": 11,
    "seeds_per_job": 3,
    "threads_per_job": 2,
    "experiments": {
        "T": {"d": [40], "p": [2], "gamma": [0.1], "seeds": 5, "engines": ["gram", "sgd"],
              "init": "fixed", "t_max": 2.0, "stop_after": 0.3, "ode": True},
        "U": {"d": [40], "p": [1, 2], "gamma_over_p": [0.1], "noise": [0.0, 0.1], "seeds": 2,
              "t_max": 2.0},
    },
}
STORES = ("sweep", "ode", "exit_times")


def make_workflow(where: Path, config: dict | None) -> Path:
    """A runnable copy of the workflow in `where` (config.yaml: `config`, or the shipped one)."""
    where.mkdir(parents=True)
    shutil.copy(ROOT / "Snakefile", where)
    shutil.copytree(ROOT / "workflow", where / "workflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if config is None:
        shutil.copy(ROOT / "config.yaml", where)
    else:
        (where / "config.yaml").write_text(yaml.safe_dump(config))
    return where


def snakemake(where: Path, *args, check=True, timeout=300) -> str:
    run = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=where,
                         capture_output=True, text=True, timeout=timeout)
    out = run.stdout + run.stderr
    if check and run.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{out[-4000:]}")
    return out


def job_counts(dry_run_output: str) -> dict[str, int]:
    """{rule: count} from the 'Job stats' table of a dry run."""
    table = dry_run_output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def store(where: Path, experiment: str, name: str) -> xr.Dataset:
    return xr.open_zarr(where / "results" / experiment / f"{name}.zarr").load()


def assert_stores_identical(a: Path, b: Path) -> None:
    for experiment in TINY["experiments"]:
        for name in STORES:
            if name == "ode" and not TINY["experiments"][experiment].get("ode"):
                continue
            x, y = store(a, experiment, name), store(b, experiment, name)
            assert x.attrs == y.attrs
            xr.testing.assert_identical(x, y)  # values (NaN == NaN), coords, attrs


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    where = make_workflow(tmp_path_factory.mktemp("pipeline") / "run", TINY)
    out = snakemake(where, "--cores", "2")
    return where, out


def test_stores_follow_the_data_contract(tiny_run):
    where, _ = tiny_run
    sweep = store(where, "T", "sweep")
    assert sweep.risk.dims == ("engine", "d", "p", "gamma", "noise", "seed", "t")
    assert sweep.diverged.dims == ("engine", "d", "p", "gamma", "noise", "seed")
    assert list(sweep.engine.values) == ["gram", "sgd"] and sweep.engine.dtype.kind == "U"
    assert sweep.d.dtype.kind == sweep.p.dtype.kind == "i"
    assert all(sweep[c].dtype == float for c in ("gamma", "noise", "t"))
    assert list(sweep.seed.values) == [0, 1, 2, 3, 4] and "m" not in sweep and "q" not in sweep
    # every run exists (finite at t = 0); NaN only after its early stop (a suffix)
    assert np.isfinite(sweep.risk.isel(t=0)).all()
    finite = np.isfinite(sweep.risk.values)
    assert (np.diff(finite.astype(int), axis=-1) <= 0).all()
    assert (np.isfinite(sweep.m2.values) == finite).all() and not sweep.diverged.any()
    for key in ("experiment", "threshold", "init", "init_seed", "root_seed", "config_hash",
                "mediocrity_version"):
        assert key in sweep.attrs
    assert sweep.attrs["root_seed"] == 11 and sweep.attrs["init"] == "fixed"
    for var in ("risk", "m2"):
        assert {"long_name", "units"} <= set(sweep[var].attrs)
    log = (where / "results/logs/T/sgd/d40_p2_g0.1_n0_s0-3.log").read_text()
    assert "BLAS threads 1" in log and "seeds done 3/3" in log  # pinned; progress logged
    curve = xr.open_zarr(where / "results/T/sweep.zarr").risk.sel(d=40, p=2, gamma=0.1)
    assert curve.mean("seed").dims == ("engine", "noise", "t")

    ode = store(where, "T", "ode")
    assert ode.risk.dims == ("d", "p", "gamma", "noise", "t") and "m2" in ode
    assert np.isfinite(ode.risk.isel(t=0)).all()
    # the ODE starts where the simulations start (init fixed: the shared draw)
    np.testing.assert_allclose(ode.m2.isel(t=0), sweep.m2.isel(t=0, seed=0, engine=0))

    times = store(where, "T", "exit_times")
    assert times.exit_time.dims == ("engine", "d", "p", "gamma", "noise", "seed")
    assert np.isfinite(times.exit_time).mean() > 0.8
    for var in ("exit_time_ode", "theory_annealed", "theory_quenched", "theory_corrected",
                "growth_rate"):
        assert times[var].dims == ("d", "p", "gamma", "noise")
        assert np.isfinite(times[var]).all(), var
    assert times.attrs["config_hash"] == sweep.attrs["config_hash"]


def test_sparse_grid_is_nan_where_no_cell_exists(tiny_run):
    where, _ = tiny_run
    sweep, times = store(where, "U", "sweep"), store(where, "U", "exit_times")
    assert list(sweep.gamma.values) == [0.1, 0.2] and list(sweep.noise.values) == [0.0, 0.1]
    exists = np.isfinite(sweep.risk.isel(t=0)).all(["engine", "seed"])
    assert exists.sel(p=1, gamma=0.1).all() and exists.sel(p=2, gamma=0.2).all()
    assert not exists.sel(p=1, gamma=0.2).any() and not exists.sel(p=2, gamma=0.1).any()
    assert times.theory_annealed.sel(p=1, gamma=0.2).isnull().all()
    assert times.exit_time_ode.isnull().all()  # U has no ODE
    assert not (where / "results/U/ode.zarr").exists()


def test_cells_equal_direct_simulation_whatever_ran_beside_them(tiny_run):
    where, out = tiny_run
    # jobs ran side by side (--cores 2): how many at once is the scheduler's choice
    assert max(int(n) for n in re.findall(r"Execute (\d+) jobs", out)) >= 2
    cfg = resolve_config(TINY, ROOT / "workflow")
    exp = cfg["experiments"]["T"]
    cells = experiment_cells(cfg, "T")
    assert len(cells) == 4
    for cell in cells:
        cell_store = xr.open_zarr(where / cell.path("results")).load()
        assert {"m", "q"} <= set(cell_store)  # the cell stores keep the overlaps
        direct = simulate(problem_for(exp, cell.d, cell.p, cell.gamma, cell.noise),
                          engine=cell.engine, seeds=range(cell.start, cell.stop),
                          init="fixed", root_seed=11, scheduler="sync")
        np.testing.assert_array_equal(cell_store.risk.values, direct.risk.values)
    # chunks [0, 3) + [3, 5) merged == the five seeds simulated at once
    sweep = store(where, "T", "sweep")
    problem = problem_for(exp, 40, 2, 0.1, 0.0)
    once = simulate(problem, engine="sgd", seeds=5, init="fixed", root_seed=11,
                    scheduler="sync")
    merged = sweep.risk.sel(engine="sgd", d=40, p=2, gamma=0.1, noise=0.0)
    np.testing.assert_array_equal(merged.sel(t=once.t).values, once.risk.values)


def test_second_run_does_nothing(tiny_run):
    where, _ = tiny_run
    assert "Nothing to be done" in snakemake(where, "-n", "--cores", "2")


def _copy_run(tiny_run, dest: Path) -> Path:
    shutil.copytree(tiny_run[0], dest, symlinks=True)  # keeps mtimes and .snakemake/
    return dest


def _with_config(where: Path, **changes) -> None:
    cfg = load_yaml(where / "config.yaml")
    cfg["experiments"]["T"].update(changes)
    (where / "config.yaml").write_text(yaml.safe_dump(cfg))


def test_adding_a_d_value_runs_only_the_new_cells(tiny_run, tmp_path):
    where = _copy_run(tiny_run, tmp_path / "run")
    old = {p: p.stat().st_mtime_ns for p in (where / "results/T/cells").glob("*/*.zarr")}
    _with_config(where, d=[40, 60])
    counts = job_counts(snakemake(where, "-n", "--cores", "2"))
    assert counts == {"simulate_cell": 4, "merge_sweep": 1, "ode": 1, "exit_times": 1,
                      "paper_summary": 1, "all": 1}
    snakemake(where, "--cores", "2")
    assert {p: p.stat().st_mtime_ns for p in old} == old
    assert list(store(where, "T", "sweep").d.values) == [40, 60]
    assert "Nothing to be done" in snakemake(where, "-n", "--cores", "2")


def test_more_seeds_and_changed_parameters_rerun_what_they_affect(tiny_run, tmp_path):
    where = _copy_run(tiny_run, tmp_path / "run")
    _with_config(where, seeds=7)  # chunks [0,3) [3,6) [6,7): [0,3) is kept
    out = snakemake(where, "-n", "--cores", "2")
    assert job_counts(out)["simulate_cell"] == 4
    assert not re.search(r"output: \S*_s0-3\.zarr", out)
    _with_config(where, seeds=5, t_max=3.0)  # every cell of T and its ODE depend on t_max
    counts = job_counts(snakemake(where, "-n", "--cores", "2"))
    assert counts["simulate_cell"] == 4 and counts["ode"] == 1 and counts["merge_sweep"] == 1


def test_killed_run_resumes_to_bit_identical_stores(tiny_run, tmp_path):
    where = make_workflow(tmp_path / "killed", TINY)
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=where,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list((where / "results").glob("*/cells/*/*.zarr/.zmetadata")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the jobs it runs, mid-run
    proc.wait()
    assert not (where / "results/T/sweep.zarr").exists()
    snakemake(where, "--unlock")
    snakemake(where, "--cores", "2", "--rerun-incomplete")
    assert_stores_identical(where, tiny_run[0])
    assert not list((where / "results").glob("**/*.tmp-*"))


def test_slurm_profile_dry_runs(tiny_run, tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    where = make_workflow(tmp_path / "slurm", TINY)
    out = snakemake(where, "-n", "--profile", "workflow/profiles/slurm")
    counts = job_counts(out)
    assert counts["simulate_cell"] == 8 and counts["warmup"] == 1
    assert "runtime=10" in out and "mem_mb=8000" in out  # per-rule resources applied


def test_quick_preset_runs_end_to_end(quick_run):
    where = quick_run  # the suite's one quick-preset run (tests/conftest.py)
    results = where / "results/quick"
    cfg = resolve_config(dict(load_yaml(where / "config.yaml"), preset="quick"),
                         where / "workflow")
    for experiment in cfg["experiments"]:
        for name in ("sweep", "exit_times"):
            assert (results / experiment / f"{name}.zarr/.zmetadata").is_file()
    assert (results / "F1/ode.zarr/.zmetadata").is_file()
    assert "Nothing to be done" in snakemake(where, "-n", "--config", "preset=quick")
    status = subprocess.run([sys.executable, "-m", "mediocrity", "status", "--config",
                             "preset=quick"], cwd=where, capture_output=True, text=True)
    n = sum(len(experiment_cells(cfg, name)) for name in cfg["experiments"])
    n += sum(len(margins_sweep.experiment_cells(cfg, name)) for name in cfg["margins"])
    assert status.returncode == 0 and f"total: {n}/{n} cells done" in status.stdout
    # the query examples of docs/pipeline.md run as written
    docs = (ROOT / "docs/pipeline.md").read_text()
    for block in re.findall(r"```python\n(.*?)```", docs, re.S):
        query = subprocess.run([sys.executable, "-c", block], cwd=where, capture_output=True,
                               text=True)
        assert query.returncode == 0, query.stderr
