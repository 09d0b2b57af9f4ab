"""Cost of running on a cluster: the SLURM profile against local execution, and Dask worker
processes.

Run (as root, with slurm-wlm and munge installed):
    python benchmarks/bench_cluster.py [--out FILE]

Prints the report; with --out also writes it to FILE (the committed run is
benchmarks/results/bench_cluster.txt). It brings up the single-node test cluster of
tests/cluster.py (slurmctld + slurmd + munged in a private network namespace, stopped at
the end) and reports, in one run on this machine (other users' load included, see the load
averages):
  * the quick preset end to end, figures included, `snakemake --cores 2 --config
    preset=quick` against `snakemake --profile workflow/profiles/slurm --config
    preset=quick --slurm-init-seconds-before-status-checks 2`, each in a fresh copy of the
    workflow: wall times, jobs, and the SLURM per-job overhead (slurm wall - local wall)
    / jobs; plus the round trip of one empty job (`sbatch --wait --wrap true`);
  * one cell (F3, d = 316228, p = 1, 24 seeds) on a `dask scheduler` with 1 and with 2
    `dask worker` processes (one thread each), best of 3 alternated runs: simulate wall,
    engine time measured in the workers, speed-up; the risk arrays are compared bit for
    bit.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cluster import DaskProcesses, SlurmCluster, why_no_slurm  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pipeline import copy_workflow  # noqa: E402  (the same fresh copy of the workflow)

import mediocrity  # noqa: E402
from mediocrity.pipeline.config import load_config  # noqa: E402
from mediocrity.studies.escape.sweep import Cell, cell_spec, run_cell  # noqa: E402

FAST_POLL = ("--slurm-init-seconds-before-status-checks", "2")
REPEATS = 3


def timed(run) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = run()
    wall = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"failed:\n{out[-4000:]}")
    return wall, out


def jobs_of(out: str) -> int:
    return int(re.findall(r"(\d+) of (\d+) steps \(100%\) done", out)[-1][1])


def same_stores(a: Path, b: Path) -> int:
    names = sorted(p.relative_to(a) for p in a.glob("*/*.zarr"))
    for name in names:
        xr.testing.assert_identical(xr.open_zarr(a / name).load(), xr.open_zarr(b / name).load())
    return len(names)


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()
    reason = why_no_slurm()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    say(f"# bench_cluster: mediocrity {mediocrity.__version__}, python "
        f"{platform.python_version()}, {os.cpu_count()} cores, load average before "
        f"{load()}, {time.strftime('%Y-%m-%d %H:%M')}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    cluster = SlurmCluster(tmp / "slurm", f"mediocrity-bench-{os.getpid()}")
    try:
        t0 = time.perf_counter()
        cluster.start()
        say(f"single-node SLURM cluster up (munged, slurmctld, slurmd in a network "
            f"namespace): {time.perf_counter() - t0:.1f} s")
        rt = []
        for _ in range(3):
            t0 = time.perf_counter()
            cluster.run("sbatch", "--wait", "--output=/dev/null", "--wrap", "true", cwd=tmp)
            rt.append(time.perf_counter() - t0)
        say(f"round trip of one empty job (sbatch --wait --wrap true, best of 3): "
            f"{min(rt):.2f} s")

        local = copy_workflow(tmp / "local")
        wall_local, out = timed(lambda: subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", "2", "--config", "preset=quick"],
            cwd=local, capture_output=True, text=True))
        n_local = jobs_of(out)
        say(f"quick preset, local (--cores 2, figures included): {wall_local:.1f} s wall, "
            f"{n_local} jobs, load average after {load()}")
        remote = copy_workflow(tmp / "slurm-run")
        wall_slurm, out = timed(lambda: cluster.run(
            sys.executable, "-m", "snakemake", "--profile", "workflow/profiles/slurm",
            *FAST_POLL, "--config", "preset=quick", cwd=remote, check=False, timeout=3600))
        n_slurm = jobs_of(out)
        submitted = len(re.findall(r"submitted with SLURM jobid", out))
        say(f"quick preset, SLURM profile (--slurm-init-seconds-before-status-checks 2): "
            f"{wall_slurm:.1f} s wall, {n_slurm} jobs ({submitted} sbatch jobs), load "
            f"average after {load()}")
        n_same = same_stores(local / "results/quick", remote / "results/quick")
        say(f"SLURM per-job overhead: (slurm wall - local wall) / jobs = "
            f"{(wall_slurm - wall_local) / max(submitted, 1):.2f} s; slurm / local wall = "
            f"{wall_slurm / wall_local:.2f}x; {n_same} stores bit-identical")
    finally:
        cluster.stop()
        if sys.exc_info()[0] is not None:  # failed: nothing else will use tmp
            shutil.rmtree(tmp, ignore_errors=True)

    cfg = load_config(ROOT / "config.yaml", ROOT / "workflow", {})
    spec = cell_spec(cfg, Cell("F3", "auto", 316228, 1, 0.1, 0.0, 0, 24))
    walls, stores = {1: [], 2: []}, {}
    for n in (1, 2) * REPEATS:  # alternated, best of REPEATS: the machine is shared
        procs = DaskProcesses(tmp)
        try:
            procs.start_scheduler()
            for _ in range(n):
                procs.start_worker(nthreads=1)
            procs.wait_for_workers(n)
            out = tmp / f"cell-{n}-{len(walls[n])}.zarr"
            run_cell(dict(spec), str(out), 1, {"scheduler": "address",
                                               "address": procs.address})
            stores[n] = xr.open_zarr(out).load()
            walls[n].append((stores[n].attrs["seconds_simulate"],
                             stores[n].attrs["seconds_engine"]))
        finally:
            procs.stop()
    walls = {n: min(w) for n, w in walls.items()}
    identical = np.array_equal(stores[1].risk.values, stores[2].risk.values, equal_nan=True)
    say(f"one cell (F3 d=316228 p=1, 24 seeds) on dask scheduler + worker processes "
        f"(best of {REPEATS}, alternated): "
        f"1 worker {walls[1][0]:.2f} s (engine {walls[1][1]:.2f} s), 2 workers "
        f"{walls[2][0]:.2f} s (engine {walls[2][1]:.2f} s), speed-up "
        f"{walls[1][0] / walls[2][0]:.2f}x; risk bit-identical: {identical}")
    say(f"# load average after {load()}")
    shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
