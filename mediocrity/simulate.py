"""`simulate`: the one entry point that runs any engine over seeds and returns xarray."""

from __future__ import annotations


import dask
import numpy as np
import xarray as xr

from ._version import __version__
from .engines import (
    RUNNERS,
    STOCHASTIC,
    cancel_running,
    choose_engine,
    current_epoch,
    registry,
    run_in_epoch,
)
from .initial import initial_grams, run_generators
from .problem import Problem, is_int, short_repr

ENGINES = registry.names()  # engines/registry.py: the one place engines are named
SAVE_Q_MAX_P = 32
SCHEDULERS = ("threads", "threading", "sync", "synchronous", "single-threaded",
              "processes", "multiprocessing")
SEEDS_MAX = 10**7          # seeds of one call (and of one config cell)
SEED_INDEX_MAX = 2**63 - 1  # seed indices, root_seed, init_seed: int64 in stores
OUTPUT_BYTES_MAX = 8 * 2**30  # outputs of one call (and sgd's weights), refused beyond
SEEDS_ALLOWED = (f"a count in [1, {SEEDS_MAX:.0e}] or a list of distinct integer indices "
                 f"in [0, 2**63 - 1]")


def seed_indices(seeds) -> list[int]:
    """seeds: a count n (-> 0..n-1) or a list/tuple/range/1-d integer array of distinct
    non-negative seed indices (not text, floats or bools: "12" is not [1, 2])."""
    if is_int(seeds):
        if not 1 <= seeds <= SEEDS_MAX:
            raise ValueError(f"seeds = {short_repr(seeds)}: allowed {SEEDS_ALLOWED}")
        return list(range(int(seeds)))
    if isinstance(seeds, np.ndarray) and seeds.ndim != 1:
        raise ValueError(f"seeds = {short_repr(seeds)}: allowed {SEEDS_ALLOWED}")
    if not isinstance(seeds, (list, tuple, range, np.ndarray)):
        raise ValueError(f"seeds = {short_repr(seeds)}: allowed {SEEDS_ALLOWED}")
    if not 1 <= len(seeds) <= SEEDS_MAX or not all(
            is_int(s) and 0 <= s <= SEED_INDEX_MAX for s in seeds):
        raise ValueError(f"seeds = {short_repr(seeds)}: allowed {SEEDS_ALLOWED}")
    out = [int(s) for s in seeds]
    if len(set(out)) != len(out):
        raise ValueError(f"seeds = {short_repr(seeds)}: allowed {SEEDS_ALLOWED} (repeated)")
    return out


def check_seed_arg(name: str, value) -> int:
    """root_seed / init_seed: an integer in [0, 2**63 - 1] (not a bool, float or text)."""
    if not (is_int(value) and 0 <= value <= SEED_INDEX_MAX):
        raise ValueError(f"{name} = {short_repr(value)}: allowed an integer in [0, 2**63 - 1]")
    return int(value)


def check_output_size(problem: Problem, name: str, n_seeds: int, save_q: bool) -> None:
    """Refuse, before allocating, a call whose outputs (or sgd weights) exceed
    OUTPUT_BYTES_MAX."""
    nt = problem.time_grid().size
    per_seed = nt * (2 + problem.p + (problem.p + 1) ** 2 * (1 if save_q else 0))
    total = 8 * n_seeds * per_seed
    if total > OUTPUT_BYTES_MAX:
        raise ValueError(
            f"seeds = {n_seeds} with p = {problem.p}, {nt} saves, save_q = {save_q}: "
            f"outputs of {total / 2**30:.3g} GiB exceed {OUTPUT_BYTES_MAX / 2**30:.0f} GiB; "
            "allowed fewer seeds per call, save_q=False or fewer saves")
    memory = registry.get(name).memory_bytes
    if memory is not None and memory(problem) > OUTPUT_BYTES_MAX:
        others = [e for e in registry.exact_names() if e != name]
        raise ValueError(
            f"engine = {name!r} with d = {problem.d}, p = {problem.p}: working memory of "
            f"{memory(problem) / 2**30:.3g} GiB per seed exceeds "
            f"{OUTPUT_BYTES_MAX / 2**30:.0f} GiB; allowed engine "
            f"{' or '.join(map(repr, others))}")


def resolve_engine(problem: Problem, engine: str) -> str:
    if not isinstance(engine, str) or engine not in ENGINES:
        raise ValueError(f"engine = {short_repr(engine)}: allowed one of {ENGINES}")
    name = choose_engine(problem) if engine == "auto" else engine
    if name not in RUNNERS:
        raise ValueError(f"engine {name!r} is not available in this installation")
    registry.get(name).check(problem)  # model supported, p + 1 <= d for gram, ...
    return name


def _run_seed(name, problem, gram0, root_seed, seed, save_q, epoch):
    _, rng = run_generators(root_seed, problem, seed)
    return run_in_epoch(epoch, RUNNERS[name], problem, gram0, rng, save_q)


def simulate(problem: Problem, engine: str = "auto", seeds=1, init="random",
             root_seed: int = 0, init_seed: int = 0, save_q: bool | None = None,
             scheduler=None) -> xr.Dataset:
    """Run `engine` for every seed of `problem` and return the trajectories.

    engine: "sgd" (full d-dimensional SGD), "gram" (exact finite-d Gram chain), "auto"
    (the cheaper exact one), "ode" (d -> infinity limit, deterministic: no seed dim),
    "ode_largep" (the same ODE on Q = M M^T + diag(1 - m^2): O(p), p up to ~1e4) or
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
    root_seed = check_seed_arg("root_seed", root_seed)
    init_seed = check_seed_arg("init_seed", init_seed)
    if save_q is not None and not isinstance(save_q, (bool, np.bool_)):
        raise ValueError(f"save_q = {short_repr(save_q)}: allowed None, True or False")
    if isinstance(init, str) and init not in ("random", "fixed", "annealed"):
        raise ValueError(f"init = {short_repr(init)}: allowed 'random', 'fixed', 'annealed' "
                         "or a pair (M0, Q0)")
    if not (scheduler is None or (isinstance(scheduler, str) and scheduler in SCHEDULERS)
            or hasattr(scheduler, "get")):
        raise ValueError(f"scheduler = {short_repr(scheduler)}: allowed None, one of "
                         f"{SCHEDULERS} or a distributed Client")
    save_q = problem.p <= SAVE_Q_MAX_P if save_q is None else bool(save_q)
    check_output_size(problem, name, len(seeds), save_q)
    if name in registry.step_names():
        problem.check_steps()
    deterministic = name not in STOCHASTIC
    try:
        grams = initial_grams(problem, seeds[:1] if deterministic else seeds, init,
                              root_seed, init_seed)
    except ValueError as err:  # name the argument, whatever initial.py says
        message = str(err)
        raise ValueError(message if message.startswith("init") else
                         f"init = {short_repr(init)}: {message}") from None
    if deterministic:
        if isinstance(init, str) and init == "random" and len(seeds) > 1:
            raise ValueError(f"engine {name!r} is deterministic: give one seed, "
                             "init='fixed' or init=(M0, Q0)")
        runs = [RUNNERS[name](problem, grams[0], None, save_q)]
    else:
        epoch = current_epoch()
        tasks = [dask.delayed(_run_seed, pure=False)(name, problem, g, root_seed, s, save_q,
                                                     epoch)
                 for g, s in zip(grams, seeds)]
        try:
            runs = list(dask.compute(*tasks, scheduler=scheduler))
        except KeyboardInterrupt:
            cancel_running()  # runs on worker threads stop at their next chunk (~0.1 s)
            raise
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
