"""Fixtures shared by the test modules: temp-directory hygiene for the whole session, and one
run of the quick preset (the pipeline tests and the documented-commands tests share it)."""

from __future__ import annotations

import os
import tempfile

import pytest


@pytest.fixture(scope="session", autouse=True)
def system_temp_inside_pytest_basetemp(tmp_path_factory):
    """Point the system temp directory at a folder of pytest's own basetemp, in this
    process (tempfile, Dask's temporary-directory) and in every subprocess (TMPDIR).

    Otherwise tests leave behind, in /tmp: `dask-scratch-space` (the workers and the
    SLURMCluster scheduler of tests/test_sweep.py create it there) and empty `snakemake*`
    folders (each Snakemake run makes one and removes it only on a clean exit, so the run
    that tests/test_pipeline.py kills with SIGKILL leaves its own). pytest keeps its last
    three basetemps and removes older ones."""
    import dask

    where = tmp_path_factory.mktemp("system-tmp")
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(where)
    tempfile.tempdir = str(where)
    try:
        with dask.config.set({"temporary-directory": str(where)}):
            yield where
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """A copy of the workflow (shipped config.yaml) after
    `snakemake --cores 2 --config preset=quick`: the one quick-preset run of the suite."""
    from test_pipeline import make_workflow, snakemake

    where = make_workflow(tmp_path_factory.mktemp("quick") / "run", None)
    snakemake(where, "--cores", "2", "--config", "preset=quick", timeout=1200)
    return where
