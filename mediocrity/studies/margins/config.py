"""The margins study's config checks: what its schema cannot express (each error names
the config key)."""

from __future__ import annotations

import math

from ...pipeline.config import MAX_CELLS, ConfigError


def check(name: str, exp: dict, cfg: dict, context: str) -> None:
    """What the schema cannot say for a margins experiment: k and separation exactly for
    the collapse data, k <= d, t_max > t_min, a bounded number of jobs,
    every cell a valid MarginProblem."""
    from .problem import MarginProblem

    key = f"margins.{name}"
    for axis in ("k", "separation"):
        if (axis in exp) != (exp["data"] == "collapse"):
            need = "required" if exp["data"] == "collapse" else "allowed only"
            raise ConfigError(f"config key '{key}.{axis}': {need} for data 'collapse' (data "
                              f"= {exp['data']!r}){context}")
    if exp["t_max"] <= exp["t_min"]:
        raise ConfigError(f"config key '{key}.t_max' = {exp['t_max']!r}: must be > t_min "
                          f"= {exp['t_min']!r}{context}")
    if exp["data"] == "collapse" and max(exp["k"]) > min(exp["d"]):
        raise ConfigError(f"config key '{key}.k': k = {max(exp['k'])} groups need "
                          f"orthonormal centres, so k <= d = {min(exp['d'])}{context}")
    n_cells = (len(exp["d"]) * len(exp["m"]) * len(exp["n"]) * len(exp.get("k", [0]))
               * len(exp.get("separation", [0])) * len(exp["engines"])
               * math.ceil(exp["seeds"] / max(cfg["seeds_per_job"], 1)))
    if n_cells > MAX_CELLS:
        raise ConfigError(f"config key '{key}': {n_cells} simulation jobs (d x m x n x k x "
                          f"separation x engines x seed chunks): allowed at most "
                          f"{MAX_CELLS}; raise seeds_per_job or shrink the grid{context}")
    try:  # the largest sizes: every bound of a MarginProblem holds
        for engine in exp["engines"]:
            MarginProblem(
                data=exp["data"], d=max(exp["d"]), m=max(exp["m"]), n=max(exp["n"]),
                engine=engine, k=min(exp["k"]) if "k" in exp else None,
                separation=exp["separation"][0] if "separation" in exp else None,
                references=tuple(exp["references"]), step=exp["step"][engine],
                **{k: exp[k] for k in ("n_test", "constraint", "step_max", "max_steps", "t_min",
                                       "t_max", "saves_per_decade")})
    except ValueError as err:
        field = str(err).split("=")[0].removeprefix("MarginProblem.").strip()
        raise ConfigError(f"config key '{key}.{field}': {err}{context}") from None
