"""`simulate`: the one entry point that runs any engine over seeds and returns xarray."""

from __future__ import annotations

from numbers import Integral

import dask
import numpy as np
import xarray as xr

from ._version import __version__
from .engines import RUNNERS, STOCHASTIC, choose_engine
from .initial import initial_grams, run_generators
from .problem import Problem

ENGINES = ("auto", "sgd", "gram", "ode", "ode_largep", "sde")
SAVE_Q_MAX_P = 32


def seed_indices(seeds) -> list[int]:
    """seeds: a count n (-> 0..n-1) or an iterable of non-negative seed indices."""
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds = {seeds}: need at least one seed")
        return list(range(int(seeds)))
    try:
        out = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise ValueError(f"seeds = {seeds!r}: a count or a list of indices") from None
    if not out or min(out) < 0 or len(set(out)) != len(out):
        raise ValueError(f"seeds = {seeds!r}: need distinct, non-negative indices")
    return out


def resolve_engine(problem: Problem, engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine = {engine!r}: allowed one of {ENGINES}")
    name = choose_engine(problem) if engine == "auto" else engine
    if name not in RUNNERS:
        raise ValueError(f"engine {name!r} is not available in this installation")
    return name


def _run_seed(name, problem, gram0, root_seed, seed, save_q):
    _, rng = run_generators(root_seed, problem, seed)
    return RUNNERS[name](problem, gram0, rng, save_q)


def simulate(problem: Problem, engine: str = "auto", seeds=1, init="random",
             root_seed: int = 0, init_seed: int = 0, save_q: bool | None = None,
             scheduler=None) -> xr.Dataset:
    """Run `engine` for every seed of `problem` and return the trajectories.

    engine: "sgd" (full d-dimensional SGD), "gram" (exact finite-d Gram chain), "auto"
    (the cheaper exact one), "ode" (d -> infinity limit, deterministic: no seed dim) or
    "sde" (ODE + O(1/sqrt d) diffusion). seeds: a count or a list of seed indices.
    init: "random" (each seed draws teacher and students), "fixed" (one draw from
    init_seed, shared by all seeds), "annealed" (the typical start m_j = 1/sqrt d, Q = I)
    or (M0, Q0) of shapes (p, 1) and (p, p).
    save_q: keep the full Q(t) (default: only for p <= 32). scheduler: passed to
    dask.compute (default: the active distributed Client if any, else threads).

    Returns a Dataset with dims (seed, t, neuron[, neuron2]) and variables risk, m, q,
    diverged; every parameter, the engine and the package version are in attrs.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a mediocrity.Problem, got {type(problem).__name__}")
    name = resolve_engine(problem, engine)
    seeds = seed_indices(seeds)
    save_q = problem.p <= SAVE_Q_MAX_P if save_q is None else bool(save_q)
    deterministic = name not in STOCHASTIC
    grams = initial_grams(problem, seeds[:1] if deterministic else seeds, init,
                          root_seed, init_seed)
    if deterministic:
        if isinstance(init, str) and init == "random" and len(seeds) > 1:
            raise ValueError(f"engine {name!r} is deterministic: give one seed, "
                             "init='fixed' or init=(M0, Q0)")
        runs = [RUNNERS[name](problem, grams[0], None, save_q)]
    else:
        tasks = [dask.delayed(_run_seed, pure=False)(name, problem, g, root_seed, s, save_q)
                 for g, s in zip(grams, seeds)]
        runs = list(dask.compute(*tasks, scheduler=scheduler))
    ds = _to_dataset(problem, runs, seeds if not deterministic else None, save_q)
    init_attr = init if isinstance(init, str) else "given"
    ds.attrs.update(engine=name, engine_requested=engine, init=init_attr,
                    init_seed=int(init_seed), root_seed=int(root_seed),
                    mediocrity_version=__version__)
    if init_attr == "given":
        ds["m0"] = ("neuron", grams[0][0, 1:])
        ds["q0"] = (("neuron", "neuron2"), grams[0][1:, 1:])
    return ds


def _to_dataset(problem: Problem, runs, seeds, save_q: bool) -> xr.Dataset:
    t = problem.time_grid()
    lead = ("seed",) if seeds is not None else ()

    def stack(values):
        arr = np.stack(values)
        return arr if seeds is not None else arr[0]

    data = {
        "risk": ((*lead, "t"), stack([r.risk for r in runs]),
                 {"long_name": "excess population risk R(t) (label noise excluded)",
                  "units": "1"}),
        "m": ((*lead, "t", "neuron"), stack([r.m for r in runs]),
              {"long_name": "teacher-student overlap m_j = w_j.w*/d", "units": "1"}),
        "diverged": (lead, stack([np.asarray(r.diverged) for r in runs]),
                     {"long_name": "run stopped on non-finite weights"}),
    }
    if save_q:
        data["q"] = ((*lead, "t", "neuron", "neuron2"), stack([r.q for r in runs]),
                     {"long_name": "student-student overlap q_jk = w_j.w_k/d", "units": "1"})
    coords = {"t": ("t", t, {"long_name": "time t = steps gamma/(p d)", "units": "1"}),
              "neuron": np.arange(problem.p)}
    if save_q:
        coords["neuron2"] = np.arange(problem.p)
    if seeds is not None:
        coords["seed"] = ("seed", np.asarray(seeds), {"long_name": "seed index in the cell"})
    return xr.Dataset(data, coords=coords, attrs=problem.as_attrs())
