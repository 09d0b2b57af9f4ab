"""The escape study's sweep: its config grid as cells, their cost model, one cell run and
written (on the core's runtime: mediocrity.pipeline.runtime).

A cell is (experiment, engine, d, p, gamma, noise, seed chunk [start, stop)): one
Snakemake job. A cell's path under the results directory spells its identity; every
other result-affecting value is in its `cell_spec`. The ODE of an experiment (ode: true)
is one job over its (d, p, gamma, noise) grid: a fraction of a second per grid point.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ...models import DEFAULT as DEFAULT_MODEL
from ...pipeline import cells as cells_
from ...pipeline import paths
from ...pipeline.cells import fmt, seed_chunks
from ...pipeline.runtime import map_seeds, say
from .config import gammas, problem_for

CELL_STEM = "d{d}_p{p}_g{gamma}_n{noise}_s{start}-{stop}"
SIM_PATTERN = paths.cell_in_results("{experiment}", "{engine}", CELL_STEM)
RUN_KEYS = ("init", "init_seed", "threshold", "t_min", "t_max", "saves_per_decade",
            "stop_after")
ODE_KEYS = (*RUN_KEYS, "d", "p", "gamma", "gamma_over_p", "gamma_over_critical", "noise",
            "gamma_d_exponent", "model")  # the last two only when configured


@dataclass(frozen=True, order=True)
class Cell:
    """One simulation job: seeds [start, stop) of one grid point and engine."""

    experiment: str
    engine: str
    d: int
    p: int
    gamma: float
    noise: float
    start: int
    stop: int

    def path(self, results: str) -> str:
        return paths.cell(results, self.experiment, self.engine, CELL_STEM.format(
            d=self.d, p=self.p, gamma=fmt(self.gamma), noise=fmt(self.noise),
            start=self.start, stop=self.stop))


def grid(exp: dict):
    """(d, p, gamma, noise) of every grid point of an experiment."""
    for d in exp["d"]:
        for p in exp["p"]:
            for noise in exp["noise"]:
                for gamma in gammas(exp, p, noise, d):
                    yield int(d), int(p), gamma, float(noise)


def experiment_cells(cfg: dict, name: str) -> list[Cell]:
    """Simulation cells of one experiment: engines x grid x seed chunks."""
    exp = cfg["experiments"][name]
    chunks = seed_chunks(exp["seeds"], cfg["seeds_per_job"])
    return [Cell(name, engine, d, p, gamma, noise, a, b) for engine in exp["engines"]
            for d, p, gamma, noise in grid(exp) for a, b in chunks]


def cell_spec(cfg: dict, cell: Cell) -> dict:
    """Everything that determines a cell's results (Snakemake reruns when it changes)."""
    exp = cfg["experiments"][cell.experiment]
    return {"experiment": cell.experiment, "engine": cell.engine, "d": cell.d, "p": cell.p,
            "gamma": cell.gamma, "noise": cell.noise, "seeds": [cell.start, cell.stop],
            "root_seed": cfg["root_seed"], **{k: exp[k] for k in RUN_KEYS},
            # the model only when it is not the default: existing cells keep their spec
            **({"model": exp["model"]} if exp.get("model", DEFAULT_MODEL) != DEFAULT_MODEL
               else {})}


def ode_spec(cfg: dict, name: str) -> dict:
    """Everything that determines an experiment's ODE store."""
    exp = cfg["experiments"][name]
    return {"experiment": name, "root_seed": cfg["root_seed"],
            **{k: exp[k] for k in ODE_KEYS if k in exp}}


def problem_of(spec: dict):
    return problem_for(spec, spec["d"], spec["p"], spec["gamma"], spec["noise"])


# -- cost model (threads, SLURM runtimes, status estimates) ---------------------------
def modelled_seconds(spec: dict) -> float:
    """Rough single-core seconds of a cell: engine cost per step x steps to t_end, with
    t_end = 1.5 x theory exit time + stop_after when runs stop early (else t_max); for a
    model other than the default, 2.5 x its deterministic estimate
    (exponents.exit_time_estimate: the SGD noise slows k >= 3 by up to ~2x)."""
    from ... import theory
    from ...engines import step_cost_ns
    from ...simulate import resolve_engine

    problem = problem_of(spec)
    t_end = problem.t_max
    if problem.stop_after is not None:
        if problem.model == DEFAULT_MODEL:
            factor, t_ex = 1.5, float(theory.exit_time_quenched(
                problem.d, problem.p, problem.gamma, problem.noise, problem.threshold))
        else:
            from .exponents import exit_time_estimate

            factor, t_ex = 2.5, exit_time_estimate(problem.model, problem.d,
                                                   problem.threshold)
        if math.isfinite(t_ex) and t_ex > 0:
            t_end = min(t_end, factor * t_ex + problem.stop_after)
    n_seeds = spec["seeds"][1] - spec["seeds"][0]
    try:
        ns = step_cost_ns(resolve_engine(problem, spec["engine"]), problem.d, problem.p)
        return n_seeds * ns * 1e-9 * t_end / problem.dt
    except ValueError:  # sde: Euler steps of TIME_STEP time units, ~(p + 1)^3 us each
        from ...engines.sde import TIME_STEP

        return n_seeds * 1e-6 * (problem.p + 1) ** 3 * t_end / TIME_STEP


def cell_threads(spec: dict, max_threads: int) -> int:
    return cells_.threads(modelled_seconds(spec), max_threads)


def runtime_minutes(spec: dict, threads: int) -> int:
    return cells_.runtime_minutes(modelled_seconds(spec), threads)


def run_cell(spec: dict, out: str, threads: int = 1, dask_cfg: dict | None = None,
             problem=None) -> None:
    """Simulate the seeds of one cell over Dask and write them atomically to `out`
    (problem: the cell's Problem when the caller has built it already)."""
    import numpy as np

    from ...pipeline.stores import write_atomic
    from ...simulate import simulate

    problem = problem_of(spec) if problem is None else problem
    seeds = list(range(*spec["seeds"]))
    label = (f"{spec['experiment']} {spec['engine']} d={spec['d']} p={spec['p']} "
             f"gamma={fmt(spec['gamma'])} noise={fmt(spec['noise'])} "
             f"seeds {spec['seeds'][0]}-{spec['seeds'][1]}")
    t0 = time.perf_counter()
    ds = map_seeds(label, len(seeds), lambda scheduler: simulate(
        problem, engine=spec["engine"], seeds=seeds, init=spec["init"],
        root_seed=spec["root_seed"], init_seed=spec["init_seed"], scheduler=scheduler),
        out, threads, dask_cfg)
    ds.attrs.update(experiment=spec["experiment"], cell_engine=spec["engine"])
    write_atomic(ds, out)
    say(f"{label}: done in {time.perf_counter() - t0:.2f} s (simulate "
         f"{ds.attrs['seconds_simulate']:.2f} s, engine {ds.attrs['seconds_engine']:.2f} s "
         f"summed over seeds, {int(np.asarray(ds.diverged).sum())} diverged) -> {out}")


def run_ode(spec: dict, out: str, attrs: dict) -> None:
    """Integrate the ODE at every grid point of an experiment from the simulations' start
    (init fixed: the shared draw; random or annealed: m_j = 1/sqrt(d), Q = I) and write
    the ode store."""
    from ...engines.registry import ode_flag_engine
    from ...pipeline.stores import write_atomic
    from ...simulate import simulate
    from .store import ode_dataset

    t0, runs = time.perf_counter(), []
    points = list(grid(spec))
    init = "fixed" if spec["init"] == "fixed" else "annealed"
    for k, (d, p, gamma, noise) in enumerate(points, 1):
        problem = problem_for(spec, d, p, gamma, noise)
        runs.append(simulate(problem, engine=ode_flag_engine(), seeds=1, init=init,
                             root_seed=spec["root_seed"], init_seed=spec["init_seed"]))
        say(f"{spec['experiment']} ode: {k}/{len(points)} grid points done (d={d} p={p} "
             f"gamma={fmt(gamma)} noise={fmt(noise)}), elapsed {time.perf_counter() - t0:.1f} s")
    write_atomic(ode_dataset(runs, attrs), out)
    say(f"{spec['experiment']} ode: done in {time.perf_counter() - t0:.2f} s -> {out}")


def warmup() -> None:
    """Compile (or load from cache) the numba kernels of every compiled engine, for every
    model it runs."""
    from ...engines import registry
    from ...models import available
    from ...problem import Problem
    from ...simulate import simulate

    for engine in registry.compiled_names():
        for model in available():
            if registry.get(engine).supports(model, 2):
                problem = Problem(d=8, p=2, gamma=0.1, noise=0.1, t_max=0.01, t_min=1e-3,
                                  model=model)
                simulate(problem, engine=engine, seeds=1, scheduler="sync")
