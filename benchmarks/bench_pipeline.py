"""Cost of the pipeline around the engines.

Run:  python benchmarks/bench_pipeline.py [--out FILE] [--full DIR]

Prints the report; with --out also writes it to FILE (the committed run is
benchmarks/results/bench_pipeline.txt: pass that path to replace it on purpose).
Reports, in one run on this machine (other users' load included, see the load average):
  * wall time of the quick preset end to end (`snakemake --cores 2 --config preset=quick`,
    figures included) in a fresh copy of the workflow, and its jobs;
  * per-job overhead: (a) one `mediocrity escape run-cell` process of a tiny cell: its wall time
    minus the time it spent in `simulate`; (b) over the quick preset: (wall x cores -
    engine core-seconds) / jobs, engine core-seconds summed from the cells' timing attrs;
  * the default preset's overhead estimate: its jobs x (b), against its engine time =
    the cost model of mediocrity.sweep calibrated here, per kind of cell (sgd; gram at
    p = 1; gram at p > 1; sde), on a sample of default cells with fewer seeds, plus the
    margins study's cells at their registry cost model (not calibrated);
  * speed-up of the simulation stage of one cell with 2 local Dask workers over 1;
  * with --full DIR: the default preset rebuilt from nothing (`snakemake --cores 2`) in a
    fresh copy of the workflow at DIR (kept, for its figures and fits), its wall time and
    jobs against the estimate above, and the engine time per family (escape, margins).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr

import mediocrity
from mediocrity.pipeline.config import load_config
from mediocrity.studies.margins import sweep as margins_sweep
from mediocrity.models import DEFAULT as DEFAULT_MODEL
from mediocrity.simulate import resolve_engine
from mediocrity.studies.escape.sweep import (Cell, cell_spec, experiment_cells, modelled_seconds,
                                             problem_of, run_cell)
from mediocrity.pipeline.cells import spec_json

ROOT = Path(__file__).resolve().parents[1]
CORES = 2


def copy_workflow(where: Path) -> Path:
    where.mkdir(parents=True)
    shutil.copy(ROOT / "Snakefile", where)
    shutil.copy(ROOT / "config.yaml", where)
    shutil.copytree(ROOT / "workflow", where / "workflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return where


def engine_seconds(results: Path) -> tuple[dict[str, float], int]:
    """Sum of the cells' engine seconds (per-seed kernel wall times) per family (escape,
    margins: a store's attrs["family"], escape when absent) and the cell count."""
    import zarr

    cells = list(results.glob("**/cells/*/*.zarr"))
    seconds = {}
    for c in cells:
        attrs = zarr.open_group(str(c), mode="r").attrs
        family = attrs.get("family", "escape")
        seconds[family] = seconds.get(family, 0.0) + float(attrs["seconds_engine"])
    return seconds, len(cells)


def rebuild(where: Path, *config: str) -> dict:
    """`snakemake --cores 2 [--config ...]` in a fresh copy of the workflow at `where`."""
    copy_workflow(where)
    command = [sys.executable, "-m", "snakemake", "--cores", str(CORES)]
    t0 = time.perf_counter()
    run = subprocess.run(command + (["--config", *config] if config else []), cwd=where,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (where / "snakemake.log").write_text(run.stdout + run.stderr)
    if run.returncode != 0:
        raise SystemExit(run.stdout[-3000:] + run.stderr[-3000:])
    jobs = int(run.stdout.count("Finished jobid") + run.stderr.count("Finished jobid"))
    families, cells = engine_seconds(where / "results")
    return {"wall": wall, "jobs": jobs, "cells": cells, "engine": sum(families.values()),
            "families": families}


def quick_preset(tmp: Path) -> dict:
    return rebuild(tmp / "quick", "preset=quick")


def one_process_overhead(tmp: Path, repeats: int = 5) -> float:
    """Best of `repeats`: wall of a run-cell process minus its seconds in simulate."""
    cfg = load_config(ROOT / "config.yaml", ROOT / "workflow", {"preset": "quick"})
    spec = cell_spec(cfg, experiment_cells(cfg, "F3")[0])
    best = float("inf")
    for k in range(repeats):
        out = tmp / f"overhead{k}.zarr"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mediocrity", "escape", "run-cell", "--spec",
                        spec_json(spec), "--out", str(out), "--allow-outside-results"], check=True,
                       capture_output=True)
        wall = time.perf_counter() - t0
        best = min(best, wall - xr.open_zarr(out).attrs["seconds_simulate"])
    return best


SAMPLE = [  # default-preset cells, fewer seeds: (experiment, engine, d, p, gamma, noise, seeds)
    ("F1", "sgd", 3000, 1, 0.1, 1e-4, 2),
    ("F1", "sde", 3000, 1, 0.1, 1e-4, 8),
    ("F3", "auto", 100000, 1, 0.1, 0.0, 8),
    ("F3", "auto", 1000000, 1, 0.1, 0.0, 4),
    ("F3", "auto", 100000, 5, 0.1, 0.0, 8),
    ("F3", "auto", 1000000, 2, 0.1, 0.0, 4),
    ("F6", "auto", 10000, 2, 0.06, 0.1, 8),
    ("F3sde", "sde", 1000000000000, 3, 0.1, 0.0, 16),
]


def kind(spec: dict) -> str:
    """Cost class of a cell: sgd, gram p=1, gram p>1, sde; with the model when it is not
    the default (the cost model counts steps at the default's cost per step)."""
    problem = problem_of(spec)
    engine = resolve_engine(problem, spec["engine"])
    name = f"gram p{'=1' if spec['p'] == 1 else '>1'}" if engine == "gram" else engine
    return name if problem.model == DEFAULT_MODEL else f"{name} {problem.model}"


def model_samples(cfg: dict, seeds: int = 2) -> list[tuple]:
    """For every kind of cell of a model other than the default in the default config:
    its cell of largest d (the costliest), with `seeds` seeds."""
    largest = {}
    for name, exp in cfg["experiments"].items():
        if exp.get("model", DEFAULT_MODEL) == DEFAULT_MODEL:
            continue
        for c in experiment_cells(cfg, name):
            k = kind(cell_spec(cfg, c))
            if k not in largest or c.d > largest[k].d:
                largest[k] = c
    return [(c.experiment, c.engine, c.d, c.p, c.gamma, c.noise, min(seeds, c.stop))
            for c in largest.values()]


def calibrate(tmp: Path) -> dict[str, float]:
    """Measured / modelled engine seconds per kind of cell over SAMPLE (one worker each)."""
    cfg = load_config(ROOT / "config.yaml", ROOT / "workflow")
    measured, modelled = {}, {}
    for k, (exp, engine, d, p, gamma, noise, n) in enumerate(SAMPLE + model_samples(cfg)):
        spec = cell_spec(cfg, Cell(exp, engine, d, p, gamma, noise, 0, n))
        run_cell(spec, str(tmp / f"sample{k}.zarr"), threads=1)
        seconds = xr.open_zarr(tmp / f"sample{k}.zarr").attrs["seconds_engine"]
        measured[kind(spec)] = measured.get(kind(spec), 0.0) + seconds
        modelled[kind(spec)] = modelled.get(kind(spec), 0.0) + modelled_seconds(spec)
    return {key: measured[key] / modelled[key] for key in measured}


def default_preset(per_job: float, scale: dict[str, float]) -> dict:
    cfg = load_config(ROOT / "config.yaml", ROOT / "workflow")
    specs = [cell_spec(cfg, c) for name in cfg["experiments"] for c in experiment_cells(cfg, name)]
    engine = sum(modelled_seconds(s) * scale[kind(s)] for s in specs)
    odes = sum(exp["ode"] for exp in cfg["experiments"].values())
    jobs = len(specs) + odes + 2 * len(cfg["experiments"]) + 1  # + merges, exit times, warmup
    margins = [margins_sweep.cell_spec(cfg, c) for name in cfg.get("margins", {})
               for c in margins_sweep.experiment_cells(cfg, name)]
    engine += sum(margins_sweep.modelled_seconds(s) for s in margins)
    jobs += len(margins) + 3 * len(cfg.get("margins", {}))  # + merge, summary, figure
    return {"cells": len(specs) + len(margins), "jobs": jobs, "engine": engine,
            "overhead": jobs * per_job, "wall": (engine + jobs * per_job) / CORES}


def speedup(tmp: Path, repeats: int = 2) -> tuple[float, float]:
    """Best simulate wall time of one cell (F3, d = 316228, p = 1, 24 seeds) on 1 and 2
    local Dask workers."""
    cfg = load_config(ROOT / "config.yaml", ROOT / "workflow")
    spec = cell_spec(cfg, Cell("F3", "auto", 316228, 1, 0.1, 0.0, 0, 24))
    best = {}
    for threads in (1, 2) * repeats:
        out = tmp / f"speed{threads}.zarr"
        run_cell(spec, str(out), threads=threads)
        wall = xr.open_zarr(out).attrs["seconds_simulate"]
        best[threads] = min(best.get(threads, float("inf")), wall)
    return best[1], best[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None,
                        help="also write the report to this file (default: print only)")
    parser.add_argument("--full", default=None, type=Path, metavar="DIR",
                        help="also rebuild the default preset from nothing in DIR (must not "
                             "exist; kept afterwards) and time it")
    args = parser.parse_args()
    if args.full is not None and args.full.exists():
        parser.error(f"--full {args.full}: already exists (give a new directory)")
    lines = [f"# bench_pipeline: mediocrity {mediocrity.__version__}, python "
             f"{platform.python_version()}, {os.cpu_count()} cores, "
             f"load average before {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M')}"]

    print(lines[0], flush=True)

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        quick = quick_preset(tmp)
        per_job = (quick["wall"] * CORES - quick["engine"]) / quick["jobs"]
        say(f"quick preset end to end (--cores {CORES}, figures included): "
            f"{quick['wall']:.1f} s wall, {quick['jobs']} jobs ({quick['cells']} simulation "
            f"cells), engine time {quick['engine']:.1f} core-s")
        say(f"per-job overhead over the quick preset: (wall x {CORES} - engine) / jobs = "
            f"{per_job:.2f} core-s")
        single = one_process_overhead(tmp)
        say(f"per-job overhead of one run-cell process (start, imports, write; best of 5): "
            f"{single:.2f} s")
        scale = calibrate(tmp)
        say(f"cost model calibration on {len(SAMPLE)} default cells, measured/modelled engine "
            f"time: {', '.join(f'{k} {v:.2f}' for k, v in sorted(scale.items()))}")
        default = default_preset(per_job, scale)
        say(f"default preset estimate: {default['jobs']} jobs ({default['cells']} cells), "
            f"engine {default['engine'] / 60:.1f} core-min, overhead {default['jobs']} x "
            f"{per_job:.2f} = {default['overhead'] / 60:.1f} core-min = "
            f"{100 * default['overhead'] / default['engine']:.1f}% of engine time; wall "
            f"~{default['wall'] / 60:.0f} min on {CORES} cores")
        one, two = speedup(tmp)
        say(f"one cell (F3 d=316228 p=1, 24 seeds), simulate wall: 1 worker {one:.2f} s, "
            f"2 workers {two:.2f} s, speed-up {one / two:.2f}x")
    if args.full is not None:
        say(f"# load average before the default rebuild {os.getloadavg()[0]:.2f}")
        full = rebuild(args.full)
        say(f"default preset end to end (snakemake --cores {CORES}, from nothing, figures "
            f"included): {full['wall'] / 60:.1f} min wall, {full['jobs']} jobs "
            f"({full['cells']} simulation cells), engine time {full['engine'] / 60:.1f} "
            f"core-min ({', '.join(f'{k} {v / 60:.1f}' for k, v in full['families'].items())}"
            f"; estimate above: {default['jobs']} jobs, ~{default['wall'] / 60:.0f} min)")
    say(f"# load average after {os.getloadavg()[0]:.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
