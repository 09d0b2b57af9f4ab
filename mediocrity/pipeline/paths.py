"""Every path of a results tree, built here and nowhere else.

    <results>/<experiment>/<name>.zarr                       an experiment's stores
    <results>/<experiment>/cells/<engine>/<cell>.zarr        one job's cell store
    <results>/paper/                                         figures, fit tables, macros
    <results>/logs/                                          job logs (dask-workers/: SLURM workers)
"""

from __future__ import annotations

from pathlib import Path

CELLS = "cells"
PAPER = "paper"
LOGS = "logs"
CELL_DEPTH = 3  # a cell store sits 3 levels below <results>/<experiment>/cells/<engine>/
STORE_DEPTH = 1  # an experiment's store 1 level below <results>/<experiment>/


def store(results, experiment: str, name: str) -> str:
    """<results>/<experiment>/<name>.zarr."""
    return f"{results}/{experiment}/{name}.zarr"


def cell_in_results(experiment: str, engine: str, stem: str) -> str:
    """<experiment>/cells/<engine>/<stem>.zarr: a cell store's path below <results>/
    (with wildcards in braces: a cell rule's output pattern)."""
    return f"{experiment}/{CELLS}/{engine}/{stem}.zarr"


def cell(results, experiment: str, engine: str, stem: str) -> str:
    """<results>/<experiment>/cells/<engine>/<stem>.zarr."""
    return f"{results}/" + cell_in_results(experiment, engine, stem)


def cells_dir(results, experiment: str) -> Path:
    return Path(results, experiment, CELLS)


def paper(results, name: str = "") -> str:
    """<results>/paper[/name]."""
    return f"{results}/{PAPER}" + (f"/{name}" if name else "")


def logs(results, name: str = "") -> str:
    """<results>/logs[/name]."""
    return f"{results}/{LOGS}" + (f"/{name}" if name else "")


def dask_worker_logs(results) -> Path:
    return Path(results, LOGS, "dask-workers")


def results_of_cell(path) -> Path:
    """The results directory of a cell store path (else the store's own directory)."""
    parents = Path(path).resolve().parents
    return parents[CELL_DEPTH] if len(parents) > CELL_DEPTH else Path(path).resolve().parent


def results_tree(store_path, depth: int) -> Path | None:
    """The results directory of an input store `depth` levels below it (an experiment's
    store: depth 2, a cell store: depth 4), if it is a directory named `results` (e.g.
    another checkout's); None otherwise (then only ./results is allowed)."""
    parents = Path(store_path).resolve().parents
    root = parents[depth - 1] if depth < len(parents) else None
    return root if root is not None and root.name == "results" else None
