"""`simulate` for the margins study: train one MarginProblem over seeds, return xarray.

Random streams: a run's SeedSequence has entropy root_seed and a spawn key from (data, d,
k, separation) and the seed index -- not from m, n, the engine or its settings. So for one
seed every engine, constraint and step sees the same data and initialisation, training
sets are nested in n (the first n samples of a larger set) and initial widths nested in m
(the first m/2 pairs of a wider network): comparisons across the grid are paired.
"""

from __future__ import annotations

import importlib
import inspect

import dask
import numpy as np
import xarray as xr

from ..._version import __version__
from ...initial import _words
from ...simulate import check_seed_arg, seed_indices
from .problem import MarginProblem
from .train import SERIES, STOP_REASONS, prepare_run

SERIES_ATTRS = {
    "loss": "training logistic loss (1/n) sum_i log(1 + exp(-y_i f(x_i)))",
    "train_error": "fraction of training samples with y f(x) <= 0",
    "margin": "normalized margin min_i y_i f(x_i) / |W|_F (training set)",
    "test_error": "fraction of fresh test samples with y f(x) <= 0",
    "motion": "weight motion |W(t) - W(0)|_F",
    "rotation_max": "largest angle of a unit w_j(t) to w_j(0), radians",
    "rotation_mean": "mean angle of the units w_j(t) to w_j(0), radians",
    "norm": "|W(t)|_F",
    "t_saved": "gradient-flow time of the saved state (the first at or after t)",
}
REFERENCE_ATTRS = {
    "gamma_ntk": "NTK margin at initialisation, width m (max_|U|<=1 min_i y_i <grad f(x_i; W0), U>)",
    "gamma_ntk_infinite": "NTK margin at initialisation, infinite width (arc-cosine kernel)",
    "gamma_norm_only": "largest margin with the directions of W0 frozen (r >= 0, |r| <= 1)",
}


def seed_sequence(root_seed: int, problem: MarginProblem, seed: int) -> np.random.SeedSequence:
    """Stream of one run, keyed by (root_seed, data, d, k, separation, seed index)."""
    key = _words("margins", problem.data, problem.d, problem.k, problem.separation)
    return np.random.SeedSequence(int(root_seed), spawn_key=(*key, int(seed)))


def _params(problem: MarginProblem) -> dict:
    return ({"k": problem.k, "separation": problem.separation}
            if problem.data == "collapse" else {})


def _references(problem: MarginProblem, run: dict) -> dict:
    from . import reference

    out = {}
    if "ntk" in problem.references:
        out["gamma_ntk"] = reference.ntk_margin(run["W0"], run["a"], run["X"], run["y"]).gamma
    if "ntk_infinite" in problem.references:
        out["gamma_ntk_infinite"] = reference.ntk_margin_infinite(run["X"], run["y"]).gamma
    if "norm_only" in problem.references:
        out["gamma_norm_only"] = reference.norm_only_max_margin(
            run["W0"], run["a"], run["X"], run["y"]).gamma
    return out


def _runner(engine: str):
    """The engine registry's runner of a margins engine."""
    from .engines import get

    record = get(engine)
    module, func = record.runner.split(":")
    return getattr(importlib.import_module(module), func)


def _run_seed(problem: MarginProblem, root_seed: int, seed: int) -> dict:
    """One run: draw, train, measure; the references on the same training set."""
    run = prepare_run(seed_sequence(root_seed, problem, seed), problem.data, d=problem.d,
                      m=problem.m, n=problem.n, n_test=problem.n_test, **_params(problem))
    runner = _runner(problem.engine)
    options = {"step": problem.step, "step_max": problem.step_max,
               "max_steps": problem.max_steps, "t_min": problem.t_min,
               "t_max": problem.t_max, "saves_per_decade": problem.saves_per_decade,
               "norm_only": problem.constraint == "norm_only",
               "order_rng": run["order_rng"]}
    accepted = inspect.signature(runner).parameters  # each engine takes what it uses
    if "step_max" in accepted:  # step_max caps every step, the first one included
        options["step"] = min(problem.step, problem.step_max)
    out = runner(run["W0"], run["a"], run["X"], run["y"], run["Xt"], run["yt"],
                 **{k: v for k, v in options.items() if k in accepted})
    out.pop("W", None)
    out.update(_references(problem, run))
    return out


def simulate(problem: MarginProblem, seeds=1, root_seed: int = 0,
             scheduler=None) -> xr.Dataset:
    """Train `problem` for every seed (a count or a list of indices) and return a Dataset
    with dims (seed, t): the series of mediocrity.studies.margins.train.SERIES, the stop reason
    and step counts per seed, and the reference margins asked for; every field of the
    problem and the package version in attrs. scheduler: as for mediocrity.simulate."""
    if not isinstance(problem, MarginProblem):
        raise TypeError(f"problem must be a mediocrity.studies.margins.MarginProblem, got "
                        f"{type(problem).__name__}")
    seeds = seed_indices(seeds)
    root_seed = check_seed_arg("root_seed", root_seed)
    tasks = [dask.delayed(_run_seed, pure=False)(problem, root_seed, s) for s in seeds]
    runs = list(dask.compute(*tasks, scheduler=scheduler))
    return to_dataset(problem, runs, seeds, root_seed)


def to_dataset(problem: MarginProblem, runs: list[dict], seeds, root_seed: int) -> xr.Dataset:
    t = problem.time_grid()
    data = {}
    for key in SERIES:
        name = "t_saved" if key == "t" else key
        values = np.stack([np.asarray(r[key], dtype=float) for r in runs])
        data[name] = (("seed", "t"), values, {"long_name": SERIES_ATTRS[name]})
    data["stop"] = ("seed", np.array([STOP_REASONS.index(r["stop"]) for r in runs],
                                     dtype=np.int8),
                    {"long_name": "why the run ended: index into attrs stop_reasons"})
    data["steps"] = ("seed", np.array([r["steps"] for r in runs], dtype=np.int64),
                     {"long_name": "accepted steps"})
    for name in REFERENCE_ATTRS:
        if name in runs[0]:
            data[name] = ("seed", np.array([r[name] for r in runs], dtype=float),
                          {"long_name": REFERENCE_ATTRS[name]})
    coords = {"t": ("t", t, {"long_name": "gradient-flow time (save grid)"}),
              "seed": ("seed", np.asarray(seeds), {"long_name": "seed index in the cell"})}
    attrs = {**problem.as_attrs(), "family": "margins", "root_seed": int(root_seed),
             "stop_reasons": list(STOP_REASONS), "mediocrity_version": __version__}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def warmup() -> None:
    """Compile (or load from cache) the numba kernels of the study's compiled engines."""
    from .engines import ENGINES

    for record in ENGINES:
        if record.compiled:
            simulate(MarginProblem(data="parity", d=4, m=4, n=4, n_test=4, engine=record.name,
                                   t_max=0.2), seeds=1, scheduler="sync")
