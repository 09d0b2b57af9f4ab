"""Engines: interchangeable by name, one run of one seed each.

Every runner has the signature ``run(problem, gram0, rng, save_q) -> Run`` where gram0 is
the normalised Gram matrix of the start, rng the run's dynamics generator (unused by
deterministic engines) and the saves are on ``problem.time_grid()``.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass

import numpy as np

from ..problem import Problem


@dataclass
class Run:
    """One trajectory on the save grid: risk (nt,), m (nt, p), q (nt, p, p) or None; NaN
    after an early stop or a divergence (flagged by `diverged`)."""

    risk: np.ndarray
    m: np.ndarray
    q: np.ndarray | None
    diverged: bool


# Long kernels run in chunks of about CHUNK_SECONDS (by the cost model below), between
# which Python runs: Ctrl-C (a signal handler in the main thread) and cancellation of
# runs on worker threads take effect within a chunk. Chunked runs are bit-identical.
CHUNK_SECONDS = 0.1
_cancel = {"epoch": 0}
_local = threading.local()


class Cancelled(Exception):
    """A run stopped because the call that started it was interrupted (Ctrl-C)."""


def cancel_running() -> None:
    """Stop every run started so far at its next chunk boundary (called by `simulate`
    on KeyboardInterrupt, so that worker threads do not keep computing)."""
    _cancel["epoch"] += 1


def current_epoch() -> int:
    return _cancel["epoch"]


def run_in_epoch(epoch: int, func, *args):
    """func(*args) on this thread as part of a call started at `epoch`: refused, and
    stopped at a chunk boundary, once cancel_running() was called after it started."""
    _local.epoch = epoch
    try:
        check_cancelled()
        return func(*args)
    finally:
        _local.epoch = None


def check_cancelled() -> None:
    epoch = getattr(_local, "epoch", None)
    if epoch is not None and epoch < _cancel["epoch"]:
        raise Cancelled("run cancelled: the simulate call was interrupted")


def chunk_steps(cost_ns, d: int, p: int) -> int:
    """Steps per kernel call: about CHUNK_SECONDS of work by the engine's cost model
    cost_ns(d, p) (ns per step)."""
    return max(1, int(CHUNK_SECONDS * 1e9 / cost_ns(d, p)))


def run_kernel(kernel, problem: Problem, state, rng, save_q: bool, budget: int) -> Run:
    """Allocate NaN outputs (left NaN past an early stop), call a resumable numba kernel
    (`gram_run_chunk` / `sgd_run_chunk` signature) `budget` steps at a time, reacting to
    interrupts in between, and cut its Gram-matrix saves into q."""
    steps = problem.save_steps()  # checked: finite, >= 0, <= STEPS_MAX
    nt, r = steps.size, problem.p + 1
    risk = np.full(nt, np.nan)
    m = np.full((nt, r - 1), np.nan)
    grams = np.full((nt if save_q else 1, r, r), np.nan)
    track = np.array([0.0, -1.0])
    pos = np.zeros(2, dtype=np.int64)
    stop = problem.stop_after_steps()
    while True:
        finished, diverged = kernel(*state, rng, problem.gamma, problem.noise, steps,
                                    problem.threshold, stop, risk, m, grams, track, pos,
                                    budget)
        if finished:
            break
        check_cancelled()  # (and in the main thread, Python runs a pending Ctrl-C here)
    return Run(risk=risk, m=m, q=grams[:, 1:, 1:].copy() if save_q else None,
               diverged=bool(diverged))


def run_gram(problem: Problem, gram0: np.ndarray, rng, save_q: bool) -> Run:
    from ..models import specialise

    # the kernels of problem.model (the module itself for the default; compiled once
    # per model and cached otherwise: mediocrity/models/specialise.py)
    gram_run_chunk = specialise("mediocrity.engines.gram", problem.model).gram_run_chunk

    why = registry.gram_needs(problem)
    if why:
        raise ValueError(why)

    def kernel(g, rng, gamma, noise, *rest):
        return gram_run_chunk(g, rng, problem.d, gamma, noise, *rest)

    return run_kernel(kernel, problem, (np.array(gram0, dtype=float),), rng, save_q,
                      chunk_steps(registry.gram_cost_ns, problem.d, problem.p))


def run_sgd(problem: Problem, gram0: np.ndarray, rng, save_q: bool) -> Run:
    from ..models import specialise
    from .sgd import embed

    sgd_run_chunk = specialise("mediocrity.engines.sgd", problem.model).sgd_run_chunk
    w, wstar = embed(gram0, problem.d)
    return run_kernel(sgd_run_chunk, problem, (w, wstar), rng, save_q,
                      chunk_steps(registry.sgd_cost_ns, problem.d, problem.p))


from . import registry  # noqa: E402

# Derived from the engine registry (engines/registry.py), the one place engines are named.
RUNNERS = {e.name: getattr(importlib.import_module(e.runner.split(":")[0]),
                           e.runner.split(":")[1])
           for e in registry.ENGINES if e.runner}
STOCHASTIC = set(registry.stochastic_names())
step_cost_ns = registry.step_cost_ns
choose_engine = registry.choose_engine
