"""Cell integrity: a config file replaces config.yaml in every process; the main snakemake
process records the config it runs with (the plan) and a job in Snakemake's remote mode
(what the SLURM executor starts) refuses to run when its own config differs, naming the key.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from mediocrity.pipeline import plan
from test_pipeline import job_counts, make_workflow, snakemake

MINE = {"root_seed": 3, "seeds_per_job": 2,
        "experiments": {"mine": {"d": [40], "p": [1], "gamma": [0.1], "seeds": 2,
                                 "t_max": 1.0}}}
CELL = "results/mine/cells/auto/d40_p1_g0.1_n0_s0-2.zarr"


def test_differing_keys_names_nested_and_missing_keys():
    a = {"x": 1, "e": {"F": {"d": [1, 2], "t": 1.0}}, "only_a": 0}
    b = {"x": 1, "e": {"F": {"d": [1, 3], "t": 1.0}, "G": {}}}
    assert plan.differing_keys(a, b) == ["e.F.d", "e.G", "only_a"]
    assert plan.differing_keys(a, a) == []


def test_check_against_plan_refuses_a_different_config_naming_the_key(tmp_path):
    path = tmp_path / "plan.json"
    cfg = {"root_seed": 3, "experiments": {"F": {"stop_after": None, "d": [10]}}}
    plan.write_plan(cfg, path)
    plan.check_against_plan(json.loads(json.dumps(cfg)), path)  # the same: passes
    other = {"root_seed": 3, "experiments": {"F": {"stop_after": 0.2, "d": [10]}}}
    with pytest.raises(plan.PlanMismatch, match=r"'experiments\.F\.stop_after' planned null, "
                                                r"here 0\.2"):
        plan.check_against_plan(other, path)
    with pytest.raises(plan.PlanMismatch, match="no plan at"):
        plan.check_against_plan(cfg, tmp_path / "missing.json")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The shipped config.yaml plus a custom grid file, my.yaml; one real run (warmup only)
    so that the main process has written its plan."""
    where = make_workflow(tmp_path_factory.mktemp("plan") / "w", None)
    (where / "my.yaml").write_text(yaml.safe_dump(MINE))
    assert not (where / plan.PLAN).exists()
    snakemake(where, "-n", "--cores", "1", "--configfile", "my.yaml")
    assert not (where / plan.PLAN).exists(), "a dry run must not write the plan"
    snakemake(where, "--cores", "1", "--configfile", "my.yaml", "--until", "warmup")
    return where


@pytest.mark.parametrize("replace", [False, True])
def test_a_config_file_replaces_config_yaml(workdir, replace):
    args = ["-n", "--cores", "1", "--configfile", "my.yaml"]
    out = snakemake(workdir, *args, *(["--replace-workflow-config"] if replace else []))
    assert job_counts(out)["simulate_cell"] == 1  # mine only, none of config.yaml's F1-F6


def test_the_main_process_plans_the_resolved_config(workdir):
    record = json.loads((workdir / plan.PLAN).read_text())
    assert list(record["config"]["experiments"]) == ["mine"]
    assert record["config"]["root_seed"] == 3
    assert record["config"]["experiments"]["mine"]["stop_after"] is None  # schema default


def remote_job(workdir, *config):
    """The command the SLURM executor runs for one job, reduced to what matters here."""
    args = [sys.executable, "-m", "snakemake", "--mode", "remote", "--cores", "1", "--nolock",
            "--force", "--target-files-omit-workdir-adjustment", "--configfiles", "my.yaml",
            *(["--config", *config] if config else []), "--", CELL]
    return subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=300)


def test_a_mismatched_job_refuses_to_run_naming_the_key(workdir):
    run = remote_job(workdir, "root_seed=4")
    assert run.returncode != 0
    assert "'root_seed' planned 3, here 4" in run.stderr + run.stdout
    assert not (workdir / CELL).exists()


def test_a_job_with_the_planned_config_runs(workdir):
    run = remote_job(workdir)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert (workdir / CELL / ".zmetadata").is_file()


def test_status_reads_the_grid_of_the_last_run(workdir):
    run = subprocess.run([sys.executable, "-m", "mediocrity", "status"], cwd=workdir,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("grid: the last snakemake run here")
    assert "mine: cells" in run.stdout and "F3" not in run.stdout
