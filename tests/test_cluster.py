# ruff: noqa: F811  (the fixtures of tests/cluster.py are imported, then requested by name)
"""The pipeline on real cluster services started by the tests (tests/cluster.py): a
single-node SLURM cluster (marker `slurm`) and a Dask scheduler with worker processes
(marker `distributed`). Not in the default selection; run them with

    python -m pytest -m "slurm or distributed"

- the quick preset through workflow/profiles/slurm == the local run, bit for bit;
- a custom config file through the SLURM profile == the same file run locally (a job used
  to merge config.yaml back in), and a job whose config differs from the plan refuses;
- `scancel` of a running cell job: the profile's retry reruns it, stores identical;
- dask.scheduler: slurm (dask-jobqueue) runs a cell, worker logs under results/logs; a
  request no node can give fails at once naming the setting; a request that stays
  pending fails after dask.slurm.worker_timeout naming it; SIGTERM cancels the worker
  jobs; no job is left in squeue;
- a real `dask scheduler` + two `dask worker` processes, one kill -9ed mid-cell: the run
  completes, bit-identical; a scheduler that is not there fails in seconds.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from cluster import dask_processes, free_port, slurm_cluster  # noqa: F401 (fixtures)
from test_pipeline import ROOT, make_workflow, snakemake

from mediocrity.pipeline.config import resolve_config
from mediocrity.pipeline.slurm import cluster_settings, status_note
from mediocrity.studies.escape.sweep import cell_spec, experiment_cells, run_cell

# The status poll of the profile is 20 s for real clusters; the test cluster answers at
# once (MinJobAge=300 >= 3 x 2 s keeps squeue as the status command).
FAST_POLL = ("--slurm-init-seconds-before-status-checks", "2")
STORE_NAMES = ("sweep", "exit_times", "ode")


def slurm_snakemake(cluster, where: Path, *args, timeout=1800) -> str:
    """`snakemake --profile workflow/profiles/slurm ...` submitted to the test cluster."""
    run = cluster.run(sys.executable, "-m", "snakemake", "--profile", "workflow/profiles/slurm",
                      *FAST_POLL, *args, cwd=where, check=False, timeout=timeout)
    out = run.stdout + run.stderr
    assert run.returncode == 0, f"snakemake on SLURM failed:\n{out[-5000:]}"
    return out


def assert_same_stores(a: Path, b: Path) -> int:
    """Every merged store under results dir a equals the one under b (values, coords,
    attrs); returns how many were compared."""
    names = sorted(p.relative_to(a) for name in STORE_NAMES for p in a.glob(f"*/{name}.zarr"))
    assert names, f"no stores under {a}"
    assert names == sorted(p.relative_to(b) for name in STORE_NAMES
                           for p in b.glob(f"*/{name}.zarr"))
    for name in names:
        x, y = xr.open_zarr(a / name).load(), xr.open_zarr(b / name).load()
        assert x.attrs == y.attrs, name
        xr.testing.assert_identical(x, y)
    return len(names)


# -- SLURM: the Snakemake profile ----------------------------------------------------------
NO_ACCOUNTING = {"AccountingStorageType": "accounting_storage/none", "MinJobAge": "300 sec"}


def test_status_note_says_how_jobs_are_followed():
    note, warn = status_note("squeue", 20, NO_ACCOUNTING)
    assert not warn and "job status from squeue" in note and "MinJobAge = 300 s" in note
    note, warn = status_note("sacct", 40, NO_ACCOUNTING)  # the plugin's default: a hang
    assert warn and "--slurm-status-command squeue" in note
    note, warn = status_note("squeue", 40, dict(NO_ACCOUNTING, MinJobAge="60 sec"))
    assert warn and "--slurm-init-seconds-before-status-checks to 20" in note
    note, warn = status_note("squeue", 40, {"AccountingStorageType":
                                           "accounting_storage/slurmdbd", "MinJobAge": "60"})
    assert not warn and "job status from sacct" in note
    assert "could not read" in status_note("squeue", 20, None)[0]


@pytest.mark.slurm
def test_status_note_reads_the_real_cluster(slurm_cluster):
    code = ("from mediocrity.pipeline.slurm import cluster_settings, status_note; "
            "print(status_note('squeue', 20, cluster_settings()))")
    out = slurm_cluster.run(sys.executable, "-c", code).stdout
    assert "job status from squeue" in out and "accounting_storage/none" in out
    assert cluster_settings() is None or "MinJobAge" in cluster_settings()


@pytest.mark.slurm
def test_quick_preset_on_slurm_equals_local(slurm_cluster, tmp_path):
    local = make_workflow(tmp_path / "local", None)
    snakemake(local, "--cores", "2", "--config", "preset=quick", timeout=1200)
    remote = make_workflow(tmp_path / "slurm", None)
    out = slurm_snakemake(slurm_cluster, remote, "--config", "preset=quick")
    assert "100%" in out and "Falling back to 'sacct'" not in out
    assert assert_same_stores(local / "results/quick", remote / "results/quick") >= 12
    # the jobs went through SLURM and nothing is left behind
    assert len(list((remote / ".snakemake/slurm_logs").glob("rule_simulate_cell/*/*.log"))) \
        or "submitted with SLURM jobid" in out
    assert not slurm_cluster.active_jobs()


CUSTOM = {  # F3 as config.yaml does NOT have it: no stop_after, other d, one engine
    "root_seed": 5,
    "seeds_per_job": 3,
    "experiments": {"F3": {"d": [60, 120], "p": [1], "gamma": [0.1], "seeds": 3,
                           "engines": ["gram"], "t_max": 4.0, "init": "random"}},
}


@pytest.fixture(scope="module")
def custom_local(tmp_path_factory):
    """CUSTOM given as --configfile, run locally beside the shipped config.yaml."""
    where = make_workflow(tmp_path_factory.mktemp("custom") / "local", None)
    (where / "my.yaml").write_text(yaml.safe_dump(CUSTOM))
    snakemake(where, "--cores", "2", "--configfile", "my.yaml")
    return where


@pytest.mark.slurm
@pytest.mark.parametrize("replace", [True, False], ids=["replace-workflow-config", "configfile"])
def test_custom_config_file_on_slurm_equals_local(slurm_cluster, custom_local, tmp_path,
                                                   replace):
    """Regression: a job must compute the planned cell, not one merged with config.yaml."""
    where = make_workflow(tmp_path / "slurm", None)  # the shipped config.yaml beside it
    (where / "my.yaml").write_text(yaml.safe_dump(CUSTOM))
    out = slurm_snakemake(slurm_cluster, where, "--configfile", "my.yaml",
                          *(["--replace-workflow-config"] if replace else []))
    assert "SLURM: job status from squeue" in out  # said at normal verbosity (onstart)
    assert assert_same_stores(custom_local / "results", where / "results") == 2
    sweep = xr.open_zarr(where / "results/F3/sweep.zarr")
    assert list(sweep.d.values) == [60, 120] and sweep.attrs["root_seed"] == 5
    assert np.isfinite(sweep.risk.isel(t=-1)).all()  # no stop_after: runs reach t_max
    assert sorted(p.name for p in (where / "results").iterdir()) == \
        [".warmup", "F3", "logs", "paper"]  # nothing of config.yaml's experiments
    assert sorted(p.name for p in (where / "results/paper/figures").iterdir()) == \
        ["F3.pdf", "F3.png"]


@pytest.mark.slurm
def test_a_job_whose_config_differs_from_the_plan_refuses(slurm_cluster, tmp_path):
    where = make_workflow(tmp_path / "drift", None)
    (where / "my.yaml").write_text(yaml.safe_dump(CUSTOM))
    proc = slurm_cluster.popen(sys.executable, "-m", "snakemake", "--profile",
                               "workflow/profiles/slurm", *FAST_POLL, "--configfile",
                               "my.yaml", cwd=where, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    plan = where / ".snakemake/mediocrity/plan.json"
    deadline = time.monotonic() + 120
    while not plan.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert plan.exists(), "the main process wrote no plan"
    # the file changes under the running workflow: every job now reads t_max = 5
    drifted = json.loads(json.dumps(CUSTOM))
    drifted["experiments"]["F3"]["t_max"] = 5.0
    (where / "my.yaml").write_text(yaml.safe_dump(drifted))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0, out[-3000:]
    job_logs = "".join(p.read_text() for p in
                       (where / ".snakemake/slurm_logs").glob("**/*.log"))
    assert "experiments.F3.t_max" in job_logs and "planned 4.0, here 5.0" in job_logs
    assert not list((where / "results").glob("F3/cells/*/*.zarr"))  # nothing computed
    assert not slurm_cluster.active_jobs()


SLOW_CELL = {  # one cell, ~3-5 s per seed with the sgd engine
    "root_seed": 9,
    "seeds_per_job": 3,
    "experiments": {"K": {"d": [2000], "p": [1], "gamma": [0.1], "seeds": 3,
                          "engines": ["sgd"], "t_max": 10.0, "init": "random"}},
}


def _wait(condition, timeout: float, what: str, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended while waiting for {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slurm
def test_cancelled_cell_job_is_retried_to_identical_stores(slurm_cluster, tmp_path):
    local = make_workflow(tmp_path / "local", SLOW_CELL)
    snakemake(local, "--cores", "2")
    where = make_workflow(tmp_path / "slurm", SLOW_CELL)
    proc = slurm_cluster.popen(sys.executable, "-m", "snakemake", "--profile",
                               "workflow/profiles/slurm", *FAST_POLL, cwd=where,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cell_log = where / "results/logs/K/sgd/d2000_p1_g0.1_n0_s0-3.log"

    def running_cell_job():
        logs = list((where / ".snakemake/slurm_logs").glob("rule_simulate_cell/*/*.log"))
        if not logs or not cell_log.exists() or "seeds on" not in cell_log.read_text():
            return None
        job = logs[0].stem
        state = {j["id"]: j["state"] for j in slurm_cluster.jobs()}.get(job)
        return job if state == "RUNNING" else None

    try:
        job = _wait(running_cell_job, 300, "the cell job to run", proc)
        time.sleep(1.0)
        slurm_cluster.run("scancel", job)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out[-4000:]
    assert f"SLURM-job '{job}' failed" in out and "CANCELLED" in out
    assert "Trying to restart job" in out
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*rule_simulate_cell/", out)
    assert submitted[0] == job and len(submitted) == 2  # the cancelled job and its retry
    assert_same_stores(local / "results", where / "results")
    assert not slurm_cluster.active_jobs()


# -- SLURM: dask.scheduler: slurm (dask-jobqueue) ------------------------------------------
def _dask_slurm(**slurm) -> dict:
    opts = {"cores": 1, "memory": "1GB", "walltime": "00:10:00", "worker_timeout": 120}
    return {"scheduler": "slurm", "workers": 1, "slurm": dict(opts, **slurm)}


SMALL = {
    "root_seed": 4,
    "seeds_per_job": 2,
    "experiments": {"S": {"d": [50], "p": [2], "gamma": [0.1], "seeds": 4,
                          "engines": ["sgd"], "t_max": 3.0, "init": "fixed"}},
}


@pytest.mark.slurm
@pytest.mark.distributed
def test_dask_slurm_scheduler_runs_cells_identically(slurm_cluster, tmp_path):
    local = make_workflow(tmp_path / "local", SMALL)
    snakemake(local, "--cores", "2")
    where = make_workflow(tmp_path / "jobqueue", dict(SMALL, dask=_dask_slurm()))
    before = {j["id"] for j in slurm_cluster.jobs()}
    run = slurm_cluster.run(sys.executable, "-m", "snakemake", "--cores", "2", cwd=where,
                            check=False, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert_same_stores(local / "results", where / "results")
    worker_jobs = {j["id"] for j in slurm_cluster.jobs()} - before
    assert len(worker_jobs) == 2  # one worker job per cell
    assert not slurm_cluster.active_jobs()  # all cancelled or finished
    logs = list((where / "results/logs/dask-workers").glob("*"))
    assert logs and not list(where.glob("slurm-*.out"))  # not in the working directory
    cell_log = (where / "results/logs/S/sgd/d50_p2_g0.1_n0_s0-2.log").read_text()
    assert "SLURMCluster tcp://127.0.0.1:" in cell_log
    engine = float(re.search(r"engine ([0-9.]+) s summed", cell_log)[1])
    cell = xr.open_zarr(where / "results/S/cells/sgd/d50_p2_g0.1_n0_s0-2.zarr")
    assert engine > 0 and 0 < cell.attrs["seconds_engine"] < cell.attrs["seconds_simulate"]


def _run_cell_cli(cluster, tmp_path, dask_cfg: dict, config: dict = SMALL, **kwargs):
    cfg = resolve_config(config, ROOT / "workflow")
    spec = cell_spec(cfg, experiment_cells(cfg, next(iter(cfg["experiments"])))[0])
    dask_cfg = resolve_config(dict(config, dask=dask_cfg), ROOT / "workflow")["dask"]
    args = (sys.executable, "-m", "mediocrity", "escape", "run-cell", "--spec", json.dumps(spec),
            "--threads", "1", "--dask", json.dumps(dask_cfg),
            "--out", str(tmp_path / "results/S/cells/sgd/cell.zarr"))
    if kwargs.pop("background", False):
        return cluster.popen(*args, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    return cluster.run(*args, cwd=tmp_path, check=False, **kwargs)


@pytest.mark.slurm
@pytest.mark.distributed
def test_dask_slurm_request_no_node_can_give_fails_at_once(slurm_cluster, tmp_path):
    before = slurm_cluster.jobs()
    t0 = time.monotonic()
    run = _run_cell_cli(slurm_cluster, tmp_path, _dask_slurm(cores=64), timeout=120)
    assert run.returncode != 0 and time.monotonic() - t0 < 60
    assert "dask.slurm.cores = 64" in run.stderr and "at most" in run.stderr
    run = _run_cell_cli(slurm_cluster, tmp_path, _dask_slurm(memory="10TB"), timeout=120)
    assert run.returncode != 0 and "dask.slurm.memory = '10TB'" in run.stderr
    assert slurm_cluster.jobs() == before  # nothing was submitted


@pytest.mark.slurm
@pytest.mark.distributed
def test_dask_slurm_worker_timeout_names_the_setting_and_cancels(slurm_cluster, tmp_path):
    before = {j["id"] for j in slurm_cluster.jobs()}
    t0 = time.monotonic()
    # held: SLURM keeps the worker job pending forever (reason JobHeldUser)
    run = _run_cell_cli(slurm_cluster, tmp_path,
                        _dask_slurm(worker_timeout=8, job_extra_directives=["--hold"]),
                        timeout=180)
    assert run.returncode != 0
    assert time.monotonic() - t0 < 90
    assert "dask.slurm.worker_timeout = 8 s" in run.stderr and "JobHeldUser" in run.stderr
    new = [j for j in slurm_cluster.jobs() if j["id"] not in before]
    assert len(new) == 1 and new[0]["state"] == "CANCELLED"  # no orphan
    assert not slurm_cluster.active_jobs()


@pytest.mark.slurm
@pytest.mark.distributed
def test_sigterm_cancels_the_dask_worker_jobs(slurm_cluster, tmp_path):
    before = {j["id"] for j in slurm_cluster.jobs()}
    proc = _run_cell_cli(slurm_cluster, tmp_path, _dask_slurm(), config=SLOW_CELL,
                         background=True)
    try:
        _wait(lambda: [j for j in slurm_cluster.jobs()
                       if j["id"] not in before and j["state"] == "RUNNING"],
              120, "the worker job to run", proc)
        _wait(lambda: list((tmp_path / "results/logs/dask-workers").glob("*")), 60,
              "the worker log")
        time.sleep(2.0)  # the worker is computing a seed
        proc.send_signal(signal.SIGTERM)  # what scancel or a time limit sends
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, out[-3000:]
    _wait(lambda: not slurm_cluster.active_jobs(), 30, "the worker job to be cancelled")
    assert not (tmp_path / "results/S/cells/sgd/cell.zarr").exists()


# -- Dask distributed: real scheduler and worker processes ---------------------------------
@pytest.mark.distributed
def test_killed_dask_worker_mid_cell_the_run_completes_identically(dask_processes, tmp_path):
    local = make_workflow(tmp_path / "local", SLOW_CELL)
    snakemake(local, "--cores", "2")
    dask_processes.start_scheduler()
    victim = dask_processes.start_worker()
    dask_processes.start_worker()
    dask_processes.wait_for_workers(2)
    where = make_workflow(tmp_path / "address", dict(
        SLOW_CELL, dask={"scheduler": "address", "address": dask_processes.address}))
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=where,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with dask_processes.client() as client:
            def busy():
                names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
                doing = {names.get(a) for a, keys in client.processing().items() if keys}
                return doing >= {"w0", "w1"}

            _wait(busy, 300, "both workers to compute seeds", proc)
            time.sleep(1.0)
            victim.send_signal(signal.SIGKILL)  # mid-seed
            victim.wait()
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out[-4000:]
    assert_same_stores(local / "results", where / "results")
    cell = xr.open_zarr(where / "results/K/cells/sgd/d2000_p1_g0.1_n0_s0-3.zarr")
    reference = xr.open_zarr(local / "results/K/cells/sgd/d2000_p1_g0.1_n0_s0-3.zarr")
    for var in ("risk", "m", "q"):
        np.testing.assert_array_equal(cell[var].values, reference[var].values)
    # engine time measured in the workers: > 0, and the seeds ran on one worker after
    # the kill, so their sum is close to the wall time, not twice it
    assert 0 < cell.attrs["seconds_engine"] < 1.5 * cell.attrs["seconds_simulate"]


@pytest.mark.distributed
def test_address_scheduler_that_is_not_there_fails_in_seconds(tmp_path):
    cfg = resolve_config(SMALL, ROOT / "workflow")
    spec = cell_spec(cfg, experiment_cells(cfg, "S")[0])
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=re.escape(f"dask.address = '{address}'")):
        run_cell(spec, str(tmp_path / "c.zarr"), 1, {"scheduler": "address", "address": address})
    assert time.monotonic() - t0 < 15
    with pytest.raises(ValueError, match=r"needs dask\.address"):
        run_cell(spec, str(tmp_path / "c.zarr"), 1, {"scheduler": "address", "address": None})
    assert not (tmp_path / "c.zarr").exists()
