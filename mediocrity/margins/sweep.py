"""Sweep of the margins study: its config grid as cells, one cell run and written.

A cell is (experiment, engine, d, m, n, k, separation, seed chunk [start, stop)): one
Snakemake job whose seeds are mapped over Dask exactly as the escape study's
(mediocrity.sweep: the same schedulers, progress, engine-time accounting and atomic
writes). k and separation exist for the collapse data only; elsewhere they are None,
spelled 0 in the cell's path.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..engines.registry import family_names
from ..sweep import _say, fmt, map_seeds, seed_chunks
from .problem import MarginProblem

SIM_PATTERN = ("{experiment}/cells/{engine}/"
               "d{d}_m{m}_n{n}_k{k}_r{separation}_s{start}-{stop}.zarr")
RUN_KEYS = ("data", "n_test", "constraint", "step", "step_max", "max_steps", "t_min", "t_max",
            "saves_per_decade", "references")
# the wildcards of the margins_cell rule beyond those of common.smk (engine: this family's)
WILDCARDS = {"engine": "|".join(family_names("margins")), "m": "[0-9]+", "n": "[0-9]+",
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
        return f"{results}/" + SIM_PATTERN.format(
            experiment=self.experiment, engine=self.engine, d=self.d, m=self.m, n=self.n,
            k=self.k or 0, separation=fmt(self.separation or 0), start=self.start,
            stop=self.stop)


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


def cell_from_wildcards(cfg: dict, wildcards) -> MarginCell:
    """The cell a rule's wildcards name; ValueError if it is not part of the config."""
    w = dict(wildcards)
    name = w["experiment"]
    if name in cfg.get("margins", {}):
        for cell in experiment_cells(cfg, name):
            if cell.path("") == "/" + SIM_PATTERN.format(**w):
                return cell
    raise ValueError(f"{SIM_PATTERN.format(**w)} is not a cell of the configured margins "
                     "experiments")


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
    from ..engines.registry import ENGINES

    problem = problem_of(spec)
    record = next(e for e in ENGINES if e.family == "margins" and e.name == problem.engine)
    n_seeds = spec["seeds"][1] - spec["seeds"][0]
    md = problem.m * problem.d
    saves = problem.time_grid().size * (problem.n + problem.n_test) * md * 1e-9
    refs = len(problem.references) * problem.n ** 2 * (problem.m + 10) * QP_NS * 1e-9
    return n_seeds * (record.extra["run_seconds"](problem) + saves + refs)


def run_cell(spec: dict, out: str, threads: int = 1, dask_cfg: dict | None = None) -> None:
    """Train the seeds of one cell over Dask (mediocrity.sweep.map_seeds) and write them
    atomically to `out`."""
    from ..store import write_atomic
    from .simulate import simulate

    problem = problem_of(spec)
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
    _say(f"{label}: done in {time.perf_counter() - t0:.2f} s (engine "
         f"{ds.attrs['seconds_engine']:.2f} s summed over seeds) -> {out}")


SMALL_CELL_SECONDS = 60.0


def cell_threads(spec: dict, max_threads: int) -> int:
    """Threads (= local Dask workers) of a cell: one under a minute, else max_threads."""
    return 1 if modelled_seconds(spec) < SMALL_CELL_SECONDS else max_threads


def runtime_minutes(spec: dict, threads: int) -> int:
    """SLURM runtime request of a cell: 3x the model, at least 10 minutes."""
    return max(10, math.ceil(3 * modelled_seconds(spec) / max(threads, 1) / 60))


def name_pattern(names) -> str:
    """Regular expression matching exactly these experiment names (none: nothing)."""
    return "|".join(names) if names else "(?!)"


def experiment_attrs(cfg: dict, name: str) -> dict:
    """Attributes of every store of a margins experiment (Zarr-safe)."""
    from .._version import __version__
    from ..config import experiment_hash

    exp = cfg["margins"][name]
    return {"experiment": name, "family": "margins", "description": exp["description"],
            "config_hash": experiment_hash(cfg, name),
            "root_seed": cfg["root_seed"], "mediocrity_version": __version__,
            **{k: exp[k] for k in ("data", "seeds", "constraint", "step", "step_max",
                                   "max_steps", "t_min", "t_max", "saves_per_decade", "n_test")},
            "references": list(exp["references"])}
