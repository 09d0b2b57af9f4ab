"""The escape study's config: step sizes of a grid, the Problem of a cell, and the checks
its schema cannot express (each error names the config key)."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

from ...engines import registry
from ...models import DEFAULT as DEFAULT_MODEL
from ...pipeline.config import MAX_CELLS, ConfigError, canonical_float
from ...problem import NoEscapeWarning, Problem
from ...theory import critical_gamma, optimal_gamma

GAMMA_KEYS = ("gamma", "gamma_over_p", "gamma_over_critical")
SECTION = "experiments"


def gammas(exp: dict, p: int, noise: float, d: int | None = None) -> list[float]:
    """Step sizes of an experiment at (p, noise), from gamma ('optimal' = gamma*),
    gamma_over_p (value * p) or gamma_over_critical (value * gamma_c(p, noise)); times
    d^(-gamma_d_exponent) when the experiment scales its step sizes with d."""
    if "gamma" in exp:
        values = [optimal_gamma(p, noise) if g == "optimal" else g for g in exp["gamma"]]
    elif "gamma_over_p" in exp:
        values = [g * p for g in exp["gamma_over_p"]]
    else:
        values = [g * critical_gamma(p, noise) for g in exp["gamma_over_critical"]]
    if exp.get("gamma_d_exponent") and d is not None:
        values = [g * float(d) ** -float(exp["gamma_d_exponent"]) for g in values]
    return sorted({canonical_float(g) for g in values})


def check_experiment(name: str, exp: dict, context: str, seeds_per_job: int = 1) -> None:
    """What the schema cannot say: t_max > t_min, gram needs p + 1 <= d, a bounded number
    of jobs, every cell is a valid Problem (at the largest d: step counts grow with d)."""
    key = f"experiments.{name}"
    if exp["t_max"] <= exp["t_min"]:
        raise ConfigError(f"config key '{key}.t_max' = {exp['t_max']!r}: must be > t_min "
                          f"= {exp['t_min']!r}{context}")
    for engine in exp["engines"]:  # the registry's constraints (gram: p + 1 <= d)
        needs = registry.get(engine).needs
        why = next((w for d in exp["d"] for p in exp["p"] if needs and (w := needs(
            SimpleNamespace(d=d, p=p, model=exp.get("model", DEFAULT_MODEL))))), None)
        if why:
            raise ConfigError(f"config key '{key}.engines': {why}{context}")
    gamma_key = next(k for k in GAMMA_KEYS if k in exp)
    _check_model(key, exp, gamma_key, context)
    n_cells = (len(exp["d"]) * len(exp["p"]) * len(exp["noise"]) * len(exp[gamma_key])
               * len(exp["engines"]) * math.ceil(exp["seeds"] / max(seeds_per_job, 1)))
    if n_cells > MAX_CELLS:
        raise ConfigError(f"config key '{key}': {n_cells} simulation jobs (d x p x noise x "
                          f"gamma x engines x seed chunks): allowed at most {MAX_CELLS}; "
                          f"raise seeds_per_job or shrink the grid{context}")
    fields = {"gamma": gamma_key, "stop_after": "stop_after", "threshold": "threshold",
              "saves_per_decade": "saves_per_decade", "t_min": "t_min", "t_max": "t_max"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoEscapeWarning)
        # step counts grow with d (and with 1/gamma when gamma is scaled with d)
        sizes = exp["d"] if exp.get("gamma_d_exponent") else [max(exp["d"])]
        for p, noise, d in ((p, n, d) for p in exp["p"] for n in exp["noise"] for d in sizes):
            for gamma in gammas(exp, p, noise, d):
                try:
                    problem = problem_for(exp, d, p, gamma, noise)
                    if set(exp["engines"]) & registry.step_names():
                        problem.check_steps()
                except ValueError as err:
                    field = str(err).split("=")[0].removeprefix("Problem.").strip()
                    raise ConfigError(f"config key '{key}.{fields.get(field, field)}':"
                                      f" {err}{context}") from None


def _check_model(key: str, exp: dict, gamma_key: str, context: str) -> None:
    """A model other than the default: every engine (and the ODE) must run it, and step
    sizes must not come from the default's theory (gamma_c, 'optimal')."""
    model = exp.get("model", DEFAULT_MODEL)
    if model == DEFAULT_MODEL:
        return
    if gamma_key == "gamma_over_critical" or "optimal" in exp.get("gamma", []):
        raise ConfigError(f"config key '{key}.{gamma_key}': gamma_c and 'optimal' are the "
                          f"theory of {DEFAULT_MODEL!r}; model {model!r} needs explicit "
                          f"gamma (or gamma_over_p){context}")
    engines = list(exp["engines"]) + (["ode"] if exp.get("ode") else [])
    for engine in engines:
        record = registry.get(engine)
        for p in exp["p"]:
            if not record.supports(model, p):
                what = "ode" if engine == "ode" and engine not in exp["engines"] else "engines"
                raise ConfigError(f"config key '{key}.{what}': engine {engine!r} does not run "
                                  f"model {model!r} at p = {p} (config key '{key}.model')"
                                  f"{context}")


def problem_for(exp: dict, d: int, p: int, gamma: float, noise: float) -> Problem:
    """The Problem of one cell of an experiment."""
    return Problem(d=int(d), p=int(p), gamma=float(gamma), noise=float(noise),
                   model=exp.get("model", DEFAULT_MODEL),
                   threshold=exp["threshold"], t_max=exp["t_max"], t_min=exp["t_min"],
                   saves_per_decade=exp["saves_per_decade"], stop_after=exp["stop_after"])




def check(name: str, exp: dict, cfg: dict, context: str) -> None:
    """The study's check of one experiment of a resolved config (Study.check)."""
    check_experiment(name, exp, context, cfg["seeds_per_job"])


def merge_preset(merged: dict, preset: dict) -> None:
    """A preset's step-size axis replaces the config's: the other gamma keys are dropped
    from an experiment whose preset entry sets one (Study.merge_preset)."""
    for name, exp in preset.get(SECTION, {}).items():
        for key in GAMMA_KEYS:
            if isinstance(exp, dict) and key in exp:
                for other in set(GAMMA_KEYS) - {key}:
                    merged[SECTION][name].pop(other, None)
