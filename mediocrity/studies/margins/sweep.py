"""Sweep of the margins study: its config grid as cells, one cell run and written.

A cell is (experiment, engine, d, m, n, k, separation, seed chunk [start, stop)): one
Snakemake job whose seeds are mapped over Dask by the core's runtime
(mediocrity.pipeline.runtime: the schedulers, progress, engine-time accounting) and
written atomically (mediocrity.pipeline.stores). k and separation exist for the collapse
data only; elsewhere they are None, spelled 0 in the cell's path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ...pipeline import cells as cells_
from ...pipeline import paths
from ...pipeline.cells import fmt, seed_chunks
from ...pipeline.runtime import map_seeds, say
from . import engines
from .problem import MarginProblem

CELL_STEM = "d{d}_m{m}_n{n}_k{k}_r{separation}_s{start}-{stop}"
SIM_PATTERN = paths.cell_in_results("{experiment}", "{engine}", CELL_STEM)
RUN_KEYS = ("data", "n_test", "constraint", "step", "step_max", "max_steps", "t_min", "t_max",
            "saves_per_decade", "references")
# the wildcards of the margins_cell rule beyond those of common.smk (engine: this family's)
WILDCARDS = {"engine": "|".join(engines.names()), "m": "[0-9]+", "n": "[0-9]+",
             "k": "[0-9]+", "separation": "[0-9][0-9.e+-]*"}


@dataclass(frozen=True, order=True)
class MarginCell:
    """One simulation job of the margins study: seeds [start, stop) of one grid point."""

    experiment: str
    engine: str
    d: int
    m: int
    n: int
    k: int | None
    separation: float | None
    start: int
    stop: int

    def path(self, results: str) -> str:
        return paths.cell(results, self.experiment, self.engine, CELL_STEM.format(
            d=self.d, m=self.m, n=self.n, k=self.k or 0, separation=fmt(self.separation or 0),
            start=self.start, stop=self.stop))


def grid(exp: dict):
    """(d, m, n, k, separation) of every grid point (k, separation None unless collapse)."""
    groups = exp.get("k") or [None]
    separations = exp.get("separation") or [None]
    for d in exp["d"]:
        for m in exp["m"]:
            for n in exp["n"]:
                for k in groups:
                    for s in separations:
                        yield (int(d), int(m), int(n), None if k is None else int(k),
                               None if s is None else float(s))


def experiment_cells(cfg: dict, name: str) -> list[MarginCell]:
    """Simulation cells of one margins experiment: engines x grid x seed chunks."""
    exp = cfg["margins"][name]
    chunks = seed_chunks(exp["seeds"], cfg["seeds_per_job"])
    return [MarginCell(name, engine, *point, a, b) for engine in exp["engines"]
            for point in grid(exp) for a, b in chunks]


def cell_spec(cfg: dict, cell: MarginCell) -> dict:
    """Everything that determines a cell's results (Snakemake reruns when it changes)."""
    exp = cfg["margins"][cell.experiment]
    return {"experiment": cell.experiment, "engine": cell.engine, "d": cell.d, "m": cell.m,
            "n": cell.n, "k": cell.k, "separation": cell.separation,
            "seeds": [cell.start, cell.stop], "root_seed": cfg["root_seed"],
            **{key: exp[key] for key in RUN_KEYS},
            "step": exp["step"][cell.engine]}  # the step of this cell's engine


def problem_of(spec: dict) -> MarginProblem:
    return MarginProblem(engine=spec["engine"], d=spec["d"], m=spec["m"], n=spec["n"],
                         k=spec["k"], separation=spec["separation"],
                         references=tuple(spec["references"]),
                         **{key: spec[key] for key in RUN_KEYS if key != "references"})


# -- cost model ------------------------------------------------------------------------
QP_NS = 5.0  # ns per n^2 (m + 10) of a reference margin's kernel and solve


def modelled_seconds(spec: dict) -> float:
    """Rough single-core seconds of a cell: the engine's own cost model (its registry
    record's extra["run_seconds"]: steps x cost per step), the measurements at the saves
    and the reference margins."""
    problem = problem_of(spec)
    record = engines.get(problem.engine)
    n_seeds = spec["seeds"][1] - spec["seeds"][0]
    md = problem.m * problem.d
    saves = problem.time_grid().size * (problem.n + problem.n_test) * md * 1e-9
    refs = len(problem.references) * problem.n ** 2 * (problem.m + 10) * QP_NS * 1e-9
    return n_seeds * (record.extra["run_seconds"](problem) + saves + refs)


def run_cell(spec: dict, out: str, threads: int = 1, dask_cfg: dict | None = None,
             problem: MarginProblem | None = None) -> None:
    """Train the seeds of one cell over Dask (mediocrity.pipeline.runtime.map_seeds) and
    write them atomically to `out` (problem: the cell's, when the caller has built it)."""
    from ...pipeline.stores import write_atomic
    from .simulate import simulate

    problem = problem_of(spec) if problem is None else problem
    seeds = list(range(*spec["seeds"]))
    label = (f"{spec['experiment']} {spec['engine']} {problem.data} d={problem.d} "
             f"m={problem.m} n={problem.n}"
             + (f" k={problem.k} separation={fmt(problem.separation)}" if problem.k else "")
             + f" seeds {spec['seeds'][0]}-{spec['seeds'][1]}")
    t0 = time.perf_counter()
    ds = map_seeds(label, len(seeds), lambda scheduler: simulate(
        problem, seeds=seeds, root_seed=spec["root_seed"], scheduler=scheduler),
        out, threads, dask_cfg)
    ds.attrs.update(experiment=spec["experiment"], cell_engine=spec["engine"])
    write_atomic(ds, out)
    say(f"{label}: done in {time.perf_counter() - t0:.2f} s (engine "
         f"{ds.attrs['seconds_engine']:.2f} s summed over seeds) -> {out}")


def cell_threads(spec: dict, max_threads: int) -> int:
    return cells_.threads(modelled_seconds(spec), max_threads)


def runtime_minutes(spec: dict, threads: int) -> int:
    return cells_.runtime_minutes(modelled_seconds(spec), threads)


def experiment_attrs(cfg: dict, name: str) -> dict:
    """Attributes of every store of a margins experiment (Zarr-safe)."""
    from ..._version import __version__
    from ...pipeline.config import experiment_hash

    exp = cfg["margins"][name]
    return {"experiment": name, "family": "margins", "description": exp["description"],
            "config_hash": experiment_hash(cfg, "margins", name),
            "root_seed": cfg["root_seed"], "mediocrity_version": __version__,
            **{k: exp[k] for k in ("data", "seeds", "constraint", "step", "step_max",
                                   "max_steps", "t_min", "t_max", "saves_per_decade", "n_test")},
            "references": list(exp["references"])}
