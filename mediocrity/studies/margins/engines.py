"""The margins study's engines, one record each (the core's engine record,
mediocrity.engines.registry.Engine), with their cost models: seconds of one run of a
MarginProblem on one core."""

from __future__ import annotations

import math

from ...engines.registry import Engine, EngineSet

GF_FLOP_NS = 0.25    # ns per multiply-add of a gf step's two matrix products, one core
RELU_SGD_NS = 1.0    # ns per entry of W per sgd step
GF_GROWTH = 1.2      # the gf step grows by this factor per accepted step


def gf_run_seconds(problem) -> float:
    """Accepted gf steps to t_max (the step grows x1.2 up to step_max; rejections not
    counted; at most max_steps) x two products of n m d multiply-adds."""
    step = min(problem.step, problem.step_max)
    log_g = math.log(GF_GROWTH)
    ramp = math.log(problem.step_max / step) / log_g
    t_ramp = step * (GF_GROWTH ** ramp - 1) / (GF_GROWTH - 1)
    steps = (math.log(1 + (GF_GROWTH - 1) * problem.t_max / step) / log_g
             if t_ramp >= problem.t_max else ramp + (problem.t_max - t_ramp) / problem.step_max)
    return min(steps, problem.max_steps) * 2 * problem.n * problem.m * problem.d * GF_FLOP_NS * 1e-9


def relu_sgd_run_seconds(problem) -> float:
    """t_max n / step sgd steps of m d."""
    return problem.t_max * problem.n / problem.step * problem.m * problem.d * RELU_SGD_NS * 1e-9


ENGINES: tuple[Engine, ...] = (
    Engine("gf", "gradient flow: full-batch gradient descent with Armijo backtracking (BLAS)",
           "mediocrity.studies.margins.train:run_gf", stochastic=True, exact=False, sweep=True,
           color="tab:red", marker="o",
           extra={"run_seconds": gf_run_seconds}),
    Engine("sgd", "one sample per step, constant step (numba)",
           "mediocrity.studies.margins.train:run_sgd", stochastic=True, exact=False, sweep=True,
           compiled=True, color="tab:blue", marker="s",
           extra={"run_seconds": relu_sgd_run_seconds}),
)
_SET = EngineSet(ENGINES)
names, get, styles = _SET.names, _SET.get, _SET.styles  # in figure order
