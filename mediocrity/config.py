"""Sweep configuration: safe YAML loading, presets, JSON-schema validation with defaults,
and the checks a schema cannot express. Every error names the offending config key.

The schema and the presets live with the workflow (workflow/schemas/config.schema.yaml,
workflow/presets/<name>.yaml); functions here take that directory as an argument.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import warnings
from pathlib import Path, PurePosixPath

import yaml

from .problem import NoEscapeWarning, Problem
from .theory import critical_gamma, optimal_gamma

GAMMA_KEYS = ("gamma", "gamma_over_p", "gamma_over_critical")
SCHEMA = Path("schemas") / "config.schema.yaml"
PRESETS = Path("presets")


class ConfigError(ValueError):
    """A config value is invalid; the message starts with the config key."""


def load_yaml(path) -> dict:
    """YAML mapping from a file with yaml.safe_load (no arbitrary Python objects)."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config keys")
    return data


def deep_merge(base: dict, over: dict) -> dict:
    """A copy of base with over merged in: mappings merge key by key, anything else
    (numbers, lists) is replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def canonical_float(x: float) -> float:
    """x rounded to 12 significant digits: the value used for coordinates and paths, so
    that gamma = 0.1 * 3 is stored (and selected) as 0.3."""
    return float(f"{float(x):.12g}")


def gammas(exp: dict, p: int, noise: float) -> list[float]:
    """Step sizes of an experiment at (p, noise), from gamma ('optimal' = gamma*),
    gamma_over_p (value * p) or gamma_over_critical (value * gamma_c(p, noise))."""
    if "gamma" in exp:
        values = [optimal_gamma(p, noise) if g == "optimal" else g for g in exp["gamma"]]
    elif "gamma_over_p" in exp:
        values = [g * p for g in exp["gamma_over_p"]]
    else:
        values = [g * critical_gamma(p, noise) for g in exp["gamma_over_critical"]]
    return sorted({canonical_float(g) for g in values})


# -- validation ------------------------------------------------------------------------
def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error) -> str:
    """One line naming the config key of a jsonschema ValidationError."""
    from jsonschema.exceptions import best_match

    key = _key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        hints = [f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, allowed, 1))
                 else "" for k in extra]
        where = "" if key == "(top level)" else f"{key}."
        return "; ".join(f"config key '{where}{k}' is not a known key{h}" for k, h in
                         zip(extra, hints)) + f" (allowed: {', '.join(allowed)})"
    if error.validator == "oneOf" and error.schema.get("oneOf", [{}])[0].get("required"):
        given = [k for k in GAMMA_KEYS if k in error.instance]
        return (f"config key '{key}': give exactly one of {', '.join(GAMMA_KEYS)} "
                f"(given: {', '.join(given) or 'none'})")
    if "propertyNames" in error.schema_path:
        return (f"config key '{key}': name {error.instance!r} is not allowed: use letters, "
                "digits, '_' and '-', starting with a letter (it becomes a directory name)")
    message = error.message
    if error.validator == "oneOf" and error.context:  # the branch whose type matched
        matched = [e for e in error.context if e.validator != "type" and
                   (e.validator != "const" or isinstance(error.instance, str))]
        message = best_match(matched or error.context).message
    hint = ""
    if isinstance(error.instance, str) and error.validator in ("type", "oneOf"):
        try:
            float(error.instance)
            hint = (" (a number read as text: YAML 1.1 reads 1e-4 as text, write 1.0e-4; "
                    "nested --config values are text too, edit the config file instead)")
        except ValueError:
            pass
    return f"config key '{key}' = {error.instance!r}: {message}{hint}"


def _validator(schema: dict):
    """A Draft 2020-12 validator that also fills in each property's schema default."""
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, properties, instance, schema)

    cls = validators.extend(Draft202012Validator, {"properties": properties_with_defaults})
    return cls(schema)


def validate_config(cfg: dict, schema: dict, context: str = "") -> dict:
    """Copy of cfg with schema defaults filled in; ConfigError naming the first bad key."""
    cfg = copy.deepcopy(cfg)
    errors = sorted(_validator(schema).iter_errors(cfg),
                    key=lambda e: (len(e.absolute_path), _key(e.absolute_path)))
    if errors:
        raise ConfigError(_describe(errors[0]) + context)
    return cfg


def _check_experiment(name: str, exp: dict, context: str) -> None:
    """What the schema cannot say: t_max > t_min, gram needs p + 1 <= d, every cell is a
    valid Problem."""
    key = f"experiments.{name}"
    if exp["t_max"] <= exp["t_min"]:
        raise ConfigError(f"config key '{key}.t_max' = {exp['t_max']!r}: must be > t_min "
                          f"= {exp['t_min']!r}{context}")
    if "gram" in exp["engines"]:
        bad = [(d, p) for d in exp["d"] for p in exp["p"] if d < p + 1]
        if bad:
            raise ConfigError(f"config key '{key}.engines': 'gram' needs p + 1 <= d, not "
                              f"true for (d, p) = {bad[0]}; use 'auto' or 'sgd'{context}")
    gamma_key = next(k for k in GAMMA_KEYS if k in exp)
    fields = {"gamma": gamma_key, "stop_after": "stop_after", "threshold": "threshold",
              "saves_per_decade": "saves_per_decade", "t_min": "t_min", "t_max": "t_max"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoEscapeWarning)
        for p in exp["p"]:
            for noise in exp["noise"]:
                for gamma in gammas(exp, p, noise):
                    try:
                        problem_for(exp, exp["d"][0], p, gamma, noise)
                    except ValueError as err:
                        field = str(err).split("=")[0].removeprefix("Problem.").strip()
                        raise ConfigError(f"config key '{key}.{fields.get(field, field)}':"
                                          f" {err}{context}") from None


def problem_for(exp: dict, d: int, p: int, gamma: float, noise: float) -> Problem:
    """The Problem of one cell of an experiment."""
    return Problem(d=int(d), p=int(p), gamma=float(gamma), noise=float(noise),
                   threshold=exp["threshold"], t_max=exp["t_max"], t_min=exp["t_min"],
                   saves_per_decade=exp["saves_per_decade"], stop_after=exp["stop_after"])


def check_results_dir(results: str) -> None:
    """results must stay inside ./results (relative, no '..')."""
    path = PurePosixPath(results)
    if path.is_absolute() or ".." in path.parts or path.parts[:1] != ("results",):
        raise ConfigError(f"config key 'results' = {results!r}: must be 'results' or a "
                          "sub-directory of it (relative, no '..')")


def resolve_config(raw: dict, workflow_dir) -> dict:
    """Validated config with defaults filled and the preset (if any) merged in.

    raw: the config mapping (config.yaml plus command-line overrides); workflow_dir: the
    directory holding schemas/config.schema.yaml and presets/<name>.yaml.
    """
    workflow_dir = Path(workflow_dir)
    schema = load_yaml(workflow_dir / SCHEMA)
    if not isinstance(raw, dict):
        raise ConfigError("config: top level must be a mapping of config keys")
    cfg = validate_config(raw, schema)
    context = ""
    if cfg["preset"] is not None:
        preset_file = workflow_dir / PRESETS / f"{cfg['preset']}.yaml"
        if not preset_file.is_file():
            raise ConfigError(f"config key 'preset' = {cfg['preset']!r}: no file {preset_file}")
        preset = load_yaml(preset_file)
        if "preset" in preset:
            raise ConfigError(f"{preset_file}: a preset may not set 'preset'")
        context = f" (after applying preset {cfg['preset']!r} from {preset_file})"
        merged = deep_merge(cfg, preset)
        for name, exp in preset.get("experiments", {}).items():
            for key in GAMMA_KEYS:  # a preset's gamma axis replaces the config's
                if isinstance(exp, dict) and key in exp:
                    for other in set(GAMMA_KEYS) - {key}:
                        merged["experiments"][name].pop(other, None)
        cfg = validate_config(merged, schema, context)
    check_results_dir(cfg["results"])
    for name, exp in cfg["experiments"].items():
        _check_experiment(name, exp, context)
    return cfg


def load_config(configfile, workflow_dir, overrides: dict | None = None) -> dict:
    """resolve_config of a YAML file with `overrides` (like --config) merged over it."""
    return resolve_config(deep_merge(load_yaml(configfile), overrides or {}), workflow_dir)


def experiment_hash(cfg: dict, name: str) -> str:
    """sha256 (16 hex digits) of what determines an experiment's results: its resolved
    settings and the root seed."""
    settings = {k: v for k, v in cfg["experiments"][name].items() if k != "description"}
    payload = {"root_seed": cfg["root_seed"], "experiment": name, "settings": settings}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
