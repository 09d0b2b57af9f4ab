"""A third study plugged in from outside the package (tests/toy_walk: a random walk's exit
time) through the public study interface only: the config key `studies` names it, and
the project's own Snakefile runs it end to end -- cells -> store -> figure -- into its own
results folder; `mediocrity status` counts its cells; a bad value in its config section is
refused before any job, naming the key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"studies": ["toy_walk"], "results": "results/toy", "seeds_per_job": 200,
          "toy": {"W": {"L": [2, 4, 8], "seeds": 200}}}


def run(where: Path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    return subprocess.run(args, cwd=where, env=env, capture_output=True, text=True,
                          timeout=300)


def workflow(where: Path, config: dict) -> Path:
    where.mkdir()
    shutil.copy(ROOT / "Snakefile", where)
    shutil.copytree(ROOT / "workflow", where / "workflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (where / "config.yaml").write_text(yaml.safe_dump(config))
    return where


def test_a_toy_study_runs_end_to_end_through_the_study_interface(tmp_path):
    where = workflow(tmp_path / "w", CONFIG)
    done = run(where, sys.executable, "-m", "snakemake", "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (where / "results/toy/paper/figures/W.png").stat().st_size > 1000
    times = xr.open_zarr(where / "results/toy/W/sweep.zarr").exit_time
    assert times.sizes == {"L": 3, "seed": 200}
    mean = times.mean("seed").values
    # E[T] = L^2; sd(T) < L^2 sqrt(2/3), so each mean is within 5 standard errors
    assert np.all(np.abs(mean / np.array([4, 16, 64]) - 1) < 5 * np.sqrt(2 / 3 / 200))
    status = run(where, sys.executable, "-m", "mediocrity", "status")
    assert status.returncode == 0, status.stderr
    assert "W: cells 3/3 done" in status.stdout and "stores 1/1" in status.stdout
    again = run(where, sys.executable, "-m", "snakemake", "--cores", "2", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_bad_value_in_the_toy_section_is_refused_naming_the_key(tmp_path):
    bad = {**CONFIG, "toy": {"W": {"L": [2, 4], "seeds": 0}}}
    where = workflow(tmp_path / "bad", bad)
    out = run(where, sys.executable, "-m", "snakemake", "--cores", "1", "-n")
    assert out.returncode != 0 and "config key 'toy.W.seeds' = 0" in out.stdout + out.stderr
    assert not (where / "results").exists()
