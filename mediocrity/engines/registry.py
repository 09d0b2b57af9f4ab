"""The engine registry: one record per engine, the only place the package names them.

`simulate` (which names are valid, which are stochastic, the `auto` choice), the config
schema's `engines` enum (tests/test_registry.py fails when the static schema disagrees),
the Snakemake wildcard constraint (workflow/rules/common.smk), `mediocrity warmup`, the
cost model of the sweep, and the figure styles all read it. How to add an engine:
docs/models.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

# -- cost models (ns per SGD step on the 2-core reference machine) ---------------------
# Fitted to benchmarks/results/bench_engines.txt: sgd ~ a + b d + c p d (the d Gaussian
# draws dominate, then p dot products and updates); gram ~ e + f r^2 + g r^3 for p >= 2
# (r = p + 1: the Cholesky of G and the rank-2 update), a constant for the p = 1 path.
SGD_NS = (0.0, 3.4, 0.35)
GRAM_NS = (94.0, 3.3, 0.026)
GRAM_P1_NS = 30.5


def sgd_cost_ns(d: int, p: int) -> float:
    a, b, c = SGD_NS
    return a + b * d + c * p * d


def gram_cost_ns(d: int, p: int) -> float:
    if p == 1:
        return GRAM_P1_NS
    e, f, g = GRAM_NS
    r = p + 1
    return e + f * r**2 + g * r**3


def sgd_memory_bytes(problem) -> float:
    """The d-dimensional weights of one run: teacher, p students and one input."""
    return 8.0 * (problem.p + 2) * problem.d


def gram_needs(problem) -> str | None:
    if problem.d < problem.p + 1:
        return (f"engine 'gram' needs p + 1 <= d (got d = {problem.d}, p = {problem.p}): "
                "the Gram matrix would be singular; use 'sgd'")
    return None


@dataclass(frozen=True)
class Engine:
    """name; runner: 'module:function' with the signature run(problem, gram0, rng, save_q)
    -> Run (None for `auto`, which picks among `chooses`); stochastic: one run per seed
    (else deterministic, no seed dim); exact: the law of SGD at finite d; steps: simulates
    every SGD step (step counts must fit in int64); sweep: allowed in a config's
    `engines` list (the ODE is the experiment's `ode` flag); compiled: numba kernels,
    compiled by `mediocrity warmup`; models: the models it runs (None: every registered
    one); p_max_model: largest p for a non-default model (None: any); cost_ns(d, p): ns per
    SGD step (None: no per-step cost model); needs(problem): why it cannot run it (None:
    it can); memory_bytes(problem): working memory of one run beyond its outputs (None:
    negligible); color, marker: figure style; extra: what else a study's own engines
    need (e.g. a run-time cost model). These are the engines of the two-layer committees
    (Problem); a study with networks of its own keeps its records beside its engines."""

    name: str
    summary: str
    runner: str | None
    stochastic: bool
    exact: bool
    steps: bool = False
    sweep: bool = False
    compiled: bool = False
    models: tuple[str, ...] | None = None
    p_max_model: int | None = None
    cost_ns: Callable[[int, int], float] | None = None
    needs: Callable | None = None
    chooses: tuple[str, ...] = ()
    memory_bytes: Callable | None = None
    color: str = "0.3"
    marker: str = "o"
    extra: dict = field(default_factory=dict)

    def run(self, *args, **kwargs):
        module, func = self.runner.split(":")
        return getattr(importlib.import_module(module), func)(*args, **kwargs)

    def supports(self, model: str, p: int = 1) -> bool:
        from ..models import DEFAULT

        if self.models is not None and model not in self.models:
            return False
        return model == DEFAULT or self.p_max_model is None or p <= self.p_max_model

    def check(self, problem) -> None:
        """ValueError saying why this engine cannot run `problem` (model, p, d)."""
        if not self.supports(problem.model, problem.p):
            allowed = ("every model" if self.models is None else ", ".join(self.models))
            limit = (f" (p <= {self.p_max_model} for models other than the default)"
                     if self.p_max_model is not None else "")
            raise ValueError(f"engine {self.name!r} does not run model {problem.model!r} "
                             f"at p = {problem.p}: it supports {allowed}{limit}")
        if self.needs is not None:
            why = self.needs(problem)
            if why:
                raise ValueError(why)


ENGINES: tuple[Engine, ...] = (
    Engine("auto", "gram or sgd, whichever the cost model says is cheaper", None,
           stochastic=True, exact=True, steps=True, sweep=True, chooses=("gram", "sgd"),
           color="tab:purple", marker="D"),
    Engine("sgd", "full d-dimensional online SGD (numba)", "mediocrity.engines:run_sgd",
           stochastic=True, exact=True, steps=True, sweep=True, compiled=True,
           cost_ns=sgd_cost_ns, memory_bytes=sgd_memory_bytes, color="tab:blue",
           marker="o"),
    Engine("gram", "exact finite-d Markov chain of the Gram matrix (numba)",
           "mediocrity.engines:run_gram", stochastic=True, exact=True, steps=True,
           sweep=True, compiled=True, cost_ns=gram_cost_ns, needs=gram_needs,
           color="tab:green", marker="s"),
    Engine("ode", "d -> infinity ODE of (M, Q), solve_ivp", "mediocrity.engines.ode:run_ode",
           stochastic=False, exact=False, p_max_model=3, color="k", marker="x"),
    Engine("ode_largep", "ODE on Q = M M^T + diag(1 - m^2), O(p)",
           "mediocrity.engines.ode:run_ode_largep", stochastic=False, exact=False,
           models=("phase_retrieval",), color="0.4", marker="+"),
    Engine("sde", "ODE + O(1/sqrt d) diffusion from exact Gaussian moments (quadrature "
           "for models other than the default)", "mediocrity.engines.sde:run_sde",
           stochastic=True, exact=False, sweep=True, compiled=True, p_max_model=3,
           color="tab:orange", marker="^"),
)
class EngineSet:
    """Engine records by name, in their order (this registry's; a study with engines of
    its own keeps one beside them)."""

    def __init__(self, engines: tuple[Engine, ...]):
        self.engines = engines
        self.by_name = {e.name: e for e in engines}

    def names(self) -> tuple[str, ...]:
        return tuple(self.by_name)

    def get(self, name: str) -> Engine:
        try:
            return self.by_name[name]
        except (KeyError, TypeError):
            raise ValueError(f"engine = {name!r}: allowed one of {self.names()}") from None

    def styles(self) -> dict[str, tuple[str, str]]:
        """{engine: (color, marker)} of the figures."""
        return {e.name: (e.color, e.marker) for e in self.engines}


_SET = EngineSet(ENGINES)
_BY_NAME = _SET.by_name
get = _SET.get
styles = _SET.styles


def names() -> tuple[str, ...]:
    """Every engine name, `auto` first."""
    return _SET.names()


def sweep_names() -> tuple[str, ...]:
    """Engines a config's `engines` list may name (the schema enum, the wildcard)."""
    return tuple(e.name for e in _BY_NAME.values() if e.sweep)


def stochastic_names() -> frozenset[str]:
    return frozenset(e.name for e in _BY_NAME.values() if e.stochastic and e.runner)


def exact_names() -> tuple[str, ...]:
    """Engines that sample the exact finite-d law (auto included)."""
    return tuple(e.name for e in _BY_NAME.values() if e.exact)


def step_names() -> frozenset[str]:
    """Engines that simulate every SGD step (auto included)."""
    return frozenset(e.name for e in _BY_NAME.values() if e.steps)


def ode_flag_engine() -> str:
    """The engine of an experiment's `ode: true` job: the deterministic one that runs
    every model at any p of the default."""
    return next(e.name for e in _BY_NAME.values()
                if not e.stochastic and e.runner and e.models is None)


def compiled_names() -> tuple[str, ...]:
    return tuple(e.name for e in _BY_NAME.values() if e.compiled)


def wildcard() -> str:
    """Regular expression of the engine wildcard of the Snakemake rules."""
    return "|".join(sweep_names())


def step_cost_ns(engine: str, d: int, p: int) -> float:
    """Modelled wall time of one SGD step of `engine` in nanoseconds."""
    e = get(engine)
    if e.cost_ns is None:
        raise ValueError(f"no cost model for engine {engine!r}")
    return e.cost_ns(d, p)


def choose_engine(problem) -> str:
    """For `auto`: among its `chooses`, the modelled cheapest one that can run problem."""
    best, cost = None, float("inf")
    for name in _BY_NAME["auto"].chooses:
        engine = _BY_NAME[name]
        try:
            engine.check(problem)
        except ValueError:
            continue
        c = engine.cost_ns(problem.d, problem.p)
        if c < cost:
            best, cost = name, c
    if best is None:
        raise ValueError(f"engine 'auto': none of {_BY_NAME['auto'].chooses} can run this "
                         "problem")
    return best
