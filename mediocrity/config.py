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
import math
import re
import warnings
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import yaml

from .engines import registry
from .models import DEFAULT as DEFAULT_MODEL
from .problem import NoEscapeWarning, Problem
from .theory import critical_gamma, optimal_gamma

GAMMA_KEYS = ("gamma", "gamma_over_p", "gamma_over_critical")
SCHEMA = Path("schemas") / "config.schema.yaml"
PRESETS = Path("presets")
MAX_CELLS = 100_000  # simulation jobs of one experiment


class ConfigError(ValueError):
    """A config value is invalid; the message starts with the config key."""


class ConfigYAMLError(ConfigError, yaml.YAMLError):
    """A config file is not (safe) YAML; the message names the file and line."""


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """yaml.SafeLoader that refuses duplicate keys (the last one would win silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # SafeLoader's own error for unhashable keys follows
            if key in seen:
                raise ConfigError(
                    f"duplicate key {_short(key)} (lines {seen[key] + 1} and "
                    f"{key_node.start_mark.line + 1}): allowed each key once")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


MAX_NODES = 100_000  # values in a config once YAML aliases are expanded
MAX_DEPTH = 32


def _short(value) -> str:
    from .problem import short_repr

    return short_repr(value)


def check_tree(data, where: str = "config") -> None:
    """Refuse configs too big or too deep once aliases are expanded (a YAML 'billion
    laughs' bomb, a self-referencing alias) and non-finite numbers, naming the key."""
    sizes: dict[int, int] = {}

    def size(node, path, depth):
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: config key '{_key(path)}' is nested more than "
                              f"{MAX_DEPTH} levels deep (or refers to itself): not allowed")
        if isinstance(node, float) and not math.isfinite(node):
            raise ConfigError(f"{where}: config key '{_key(path)}' = {node!r}: allowed "
                              "finite numbers only")
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        items = node.items() if isinstance(node, dict) else enumerate(node)
        total = 1
        for k, v in items:
            total += size(v, (*path, k), depth + 1)
            if total > MAX_NODES:
                raise ConfigError(f"{where}: config key '{_key(path)}' holds more than "
                                  f"{MAX_NODES} values once YAML aliases are expanded: "
                                  "not allowed")
        sizes[id(node)] = total
        return total

    size(data, (), 0)


def load_yaml(path) -> dict:
    """YAML mapping from a file, loaded safely (no arbitrary Python objects, no YTE
    templates), refusing duplicate keys and alias bombs; ConfigError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_StrictLoader)  # a SafeLoader
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r}: cannot be read ({err})") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        problem = " ".join(str(getattr(err, "problem", None) or err).split())[:300]
        raise ConfigYAMLError(f"config file {str(path)!r}: not valid YAML{line} "
                              f"({problem})") from None
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r}: nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config keys")
    if data.get("__use_yte__"):
        raise ConfigError(
            f"{path}: config key '__use_yte__' = {data['__use_yte__']!r}: YTE templates "
            "are Python code that Snakemake runs when it loads the file; mediocrity does "
            "not run them (allowed: plain YAML)")
    check_tree(data, str(path))
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


# -- validation ------------------------------------------------------------------------
def _name(part) -> str:
    """A key as written in messages: plain if it looks like one, else its (short) repr,
    so that a key with a newline or 10 000 characters keeps the message one short line."""
    if isinstance(part, str) and re.fullmatch(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,63}", part):
        return part
    return f"[{_short(part)}]"


def _key(path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            name = _name(part)
            out += name if not out or name.startswith("[") else f".{name}"
    return out or "(top level)"


def _describe(error) -> str:
    """One line naming the config key of a jsonschema ValidationError."""
    from jsonschema.exceptions import best_match

    key = _key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted((k for k in error.instance if k not in allowed), key=str)
        hints = [f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(
                 str(k), allowed, 1)) else "" for k in extra]
        where = "" if key == "(top level)" else f"{key}."
        more = f"; and {len(extra) - 3} more" if len(extra) > 3 else ""
        return "; ".join(f"config key '{where}{_name(k)}' is not a known key{h}" for k, h in
                         zip(extra[:3], hints)) + f"{more} (allowed: {', '.join(allowed)})"
    if error.validator == "oneOf" and error.schema.get("oneOf", [{}])[0].get("required"):
        given = [k for k in GAMMA_KEYS if k in error.instance]
        return (f"config key '{key}': give exactly one of {', '.join(GAMMA_KEYS)} "
                f"(given: {', '.join(given) or 'none'})")
    if "propertyNames" in error.schema_path:
        return (f"config key '{key}': name {_short(error.instance)} is not allowed: use "
                "letters, digits, '_' and '-', starting with a letter (it becomes a "
                "directory name)")
    if key == "results" and error.validator == "pattern":
        return (f"config key 'results' = {_short(error.instance)}: must be 'results' or a "
                "sub-directory of it (relative, no '..')")
    if key == "dask.address" and error.validator in ("pattern", "type"):
        return (f"config key 'dask.address' = {_short(error.instance)}: must be the address "
                "of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 (required when "
                "scheduler is 'address')")
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = ([k for k in error.validator_value if k not in error.instance]
                   or re.findall(r"^'(.+)' is a required property", error.message))
        where = "" if key == "(top level)" else f"{key}."
        when = " when scheduler is 'address'" if key == "dask" else ""
        return "; ".join(f"config key '{where}{k}' is missing: required{when}"
                         for k in missing)
    if error.validator == "type" and "integer" in str(error.validator_value) \
            and isinstance(error.instance, (float, bool)):
        return (f"config key '{key}' = {_short(error.instance)}: must be an integer "
                "(written without a decimal point; true/false are not integers)")
    message = error.message
    if error.validator == "oneOf" and error.context:  # the branch whose type matched
        matched = [e for e in error.context if e.validator != "type" and
                   (e.validator != "const" or isinstance(error.instance, str))]
        message = best_match(matched or error.context).message
    if len(message) > 200 or (error.instance is not None and not isinstance(
            error.instance, (bool, int, float, str))):
        # jsonschema's messages start with the repr of the value: name it once, short
        message = message.replace(repr(error.instance), "it") if len(message) < 10**4 \
            else f"failed the schema's {error.validator!r} check"
        message = message if len(message) <= 200 else message[:197] + "..."
    hint = ""
    if isinstance(error.instance, str) and error.validator in ("type", "oneOf"):
        try:
            float(error.instance)
            hint = (" (a number read as text: YAML 1.1 reads 1e-4 as text, write 1.0e-4; "
                    "nested --config values are text too, edit the config file instead)")
        except ValueError:
            pass
    return f"config key '{key}' = {_short(error.instance)}: {message}{hint}"


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

    # integers are integers: JSON Schema's "integer" also admits 4.0 (and Python's bool is
    # an int); a float or true/false where an integer belongs is refused
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool))
    cls = validators.extend(Draft202012Validator, {"properties": properties_with_defaults},
                            type_checker=checker)
    return cls(schema)


def validate_config(cfg: dict, schema: dict, context: str = "") -> dict:
    """Copy of cfg with schema defaults filled in; ConfigError naming the first bad key."""
    cfg = copy.deepcopy(cfg)
    errors = sorted(_validator(schema).iter_errors(cfg),
                    key=lambda e: (len(e.absolute_path), _key(e.absolute_path)))
    if errors:
        raise ConfigError(_describe(errors[0]) + context)
    return cfg


def _check_experiment(name: str, exp: dict, context: str, seeds_per_job: int = 1) -> None:
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


def _check_margins_experiment(name: str, exp: dict, context: str, cfg: dict) -> None:
    """What the schema cannot say for a margins experiment: k and separation exactly for
    the collapse data, k <= d, t_max > t_min, distinct names, a bounded number of jobs,
    every cell a valid MarginProblem."""
    from .margins.problem import MarginProblem

    key = f"margins.{name}"
    if name in cfg["experiments"]:
        raise ConfigError(f"config key '{key}': the name {name!r} is also an experiment of "
                          f"'experiments' (both would write results/{name}/){context}")
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


def problem_for(exp: dict, d: int, p: int, gamma: float, noise: float) -> Problem:
    """The Problem of one cell of an experiment."""
    return Problem(d=int(d), p=int(p), gamma=float(gamma), noise=float(noise),
                   model=exp.get("model", DEFAULT_MODEL),
                   threshold=exp["threshold"], t_max=exp["t_max"], t_min=exp["t_min"],
                   saves_per_decade=exp["saves_per_decade"], stop_after=exp["stop_after"])


def check_results_dir(results: str) -> None:
    """results must stay inside ./results (relative, no '..')."""
    path = PurePosixPath(results) if isinstance(results, str) else None
    if path is None or path.is_absolute() or ".." in path.parts \
            or path.parts[:1] != ("results",):
        raise ConfigError(f"config key 'results' = {_short(results)}: must be 'results' or "
                          "a sub-directory of it (relative, no '..')")


def _explicit_checks(raw: dict, explicit: dict, path=()) -> None:
    """Command-line values that would silently change nothing are refused: Snakemake
    merges a mapping given with --config into the config file's, so an empty one
    ({}) keeps every key of the file."""
    for k, v in explicit.items():
        here = raw.get(k) if isinstance(raw, dict) else None
        if isinstance(v, dict):
            if not v and here:
                raise ConfigError(
                    f"config key '{_key((*path, k))}' = {{}} (from --config): Snakemake "
                    "merges a mapping given on the command line into the config file's, "
                    f"so {{}} would silently keep all {len(here)} entries of the file; to "
                    "replace it, use --configfile my.yaml --replace-workflow-config")
            _explicit_checks(here if isinstance(here, dict) else {}, v, (*path, k))


_SCHEMAS: dict = {}


def _load_schema(path: Path) -> dict:
    """The schema file, parsed once per modification (resolve_config runs per job)."""
    key = (str(path), path.stat().st_mtime_ns if path.is_file() else None)
    if key not in _SCHEMAS:
        _SCHEMAS[key] = load_yaml(path)
    return copy.deepcopy(_SCHEMAS[key])


def resolve_config(raw: dict, workflow_dir, explicit: dict | None = None) -> dict:
    """Validated config with defaults filled and the preset (if any) merged in.

    raw: the config mapping (config.yaml plus command-line overrides); workflow_dir: the
    directory holding schemas/config.schema.yaml and presets/<name>.yaml; explicit: the
    command-line overrides alone (Snakemake's workflow.config_settings.overwrite_config,
    `mediocrity status --config`): they win over the preset. Without them, a `results`
    that differs from both 'results' and the preset's is refused rather than overridden.
    """
    workflow_dir = Path(workflow_dir)
    schema = _load_schema(workflow_dir / SCHEMA)
    if not isinstance(raw, dict):
        raise ConfigError("config: top level must be a mapping of config keys")
    check_tree(raw)
    explicit = dict(explicit or {})
    check_tree(explicit, "--config")
    _explicit_checks(raw, explicit)
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
        if ("results" in preset and "results" not in explicit
                and cfg["results"] not in ("results", preset["results"])):
            raise ConfigError(
                f"config key 'results' = {_short(cfg['results'])} conflicts with preset "
                f"{cfg['preset']!r}, which writes to {preset['results']!r}: an explicit "
                "value is never overridden silently; give results on the command line "
                "(--config results=...) to use it with the preset, or drop one")
        merged = deep_merge(cfg, preset)
        for name, exp in preset.get("experiments", {}).items():
            for key in GAMMA_KEYS:  # a preset's gamma axis replaces the config's
                if isinstance(exp, dict) and key in exp:
                    for other in set(GAMMA_KEYS) - {key}:
                        merged["experiments"][name].pop(other, None)
        merged = deep_merge(merged, explicit)  # explicit values win over the preset
        cfg = validate_config(merged, schema, context)
    check_results_dir(cfg["results"])
    for name, exp in cfg["experiments"].items():
        _check_experiment(name, exp, context, cfg["seeds_per_job"])
    for name, exp in cfg["margins"].items():
        _check_margins_experiment(name, exp, context, cfg)
    return cfg


def load_config(configfile, workflow_dir, overrides: dict | None = None) -> dict:
    """resolve_config of a YAML file with `overrides` (like --config) merged over it."""
    return resolve_config(deep_merge(load_yaml(configfile), overrides or {}), workflow_dir,
                          explicit=overrides or {})


def experiment_hash(cfg: dict, name: str) -> str:
    """sha256 (16 hex digits) of what determines an experiment's results: its resolved
    settings and the root seed."""
    exp = cfg["experiments"][name] if name in cfg["experiments"] else cfg["margins"][name]
    settings = {k: v for k, v in exp.items() if k != "description"}
    payload = {"root_seed": cfg["root_seed"], "experiment": name, "settings": settings}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
