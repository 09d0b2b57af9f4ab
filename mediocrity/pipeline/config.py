"""Pipeline configuration: safe YAML loading, presets, JSON-schema validation with
defaults, and each study's checks of what a schema cannot express. Every error names the
offending config key; each value is validated once, here, where the config is read.

The schema is the core's (schema.yaml beside this module: results, seeds, Dask, ...)
merged with every study's fragment (<study>/schema.yaml: its section). A preset
<name> is workflow/presets/<name>.yaml (core keys) merged with each study's
presets/<name>.yaml; functions here take the workflow directory as an argument.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
from pathlib import Path, PurePosixPath

import yaml

SCHEMA = Path(__file__).with_name("schema.yaml")  # the core's part of the schema
PRESETS = Path("presets")  # under the workflow directory: the core's part of each preset
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
    from ..problem import short_repr

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
        keys = [k for branch in error.schema["oneOf"] for k in branch.get("required", ())]
        given = [k for k in keys if k in error.instance]
        return (f"config key '{key}': give exactly one of {', '.join(keys)} "
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
    """A schema file, parsed once per modification (resolve_config runs per job)."""
    key = (str(path), path.stat().st_mtime_ns if path.is_file() else None)
    if key not in _SCHEMAS:
        _SCHEMAS[key] = load_yaml(path)
    return copy.deepcopy(_SCHEMAS[key])


def _merge_schema(into: dict, fragment: dict, where: str) -> None:
    """A study's schema fragment merged into the schema: its top-level properties added
    (a property both define, e.g. `paper`, gets the fragment's sub-properties too), its
    required keys and $defs added (a $defs name must be new)."""
    for key, sub in fragment.get("properties", {}).items():
        mine = into["properties"].get(key)
        if mine is None:
            into["properties"][key] = sub
        elif "properties" in mine and "properties" in sub:
            mine["properties"].update(sub["properties"])
        else:
            raise ConfigError(f"{where}: config key {key!r} is defined by the core schema")
    into["required"] = [*into.get("required", []), *fragment.get("required", [])]
    for name, sub in fragment.get("$defs", {}).items():
        if name in into.setdefault("$defs", {}):
            raise ConfigError(f"{where}: $defs.{name} is defined twice")
        into["$defs"][name] = sub


def preset_names(workflow_dir, studies) -> list[str]:
    """Every preset a core or study preset file defines."""
    dirs = [Path(workflow_dir) / PRESETS, *(Path(s.directory, "presets") for s in studies)]
    return sorted({f.stem for d in dirs if d.is_dir() for f in d.glob("*.yaml")})


def schema_of(studies, workflow_dir=None) -> dict:
    """The config schema: the core's with every study's fragment merged in (and the
    preset names found under workflow_dir as the `preset` enum)."""
    schema = _load_schema(SCHEMA)
    for study in studies:
        _merge_schema(schema, _load_schema(study.schema), str(study.schema))
    if workflow_dir is not None:
        schema["properties"]["preset"]["enum"] = [None, *preset_names(workflow_dir, studies)]
    return schema


def _studies(raw: dict):
    """The studies a raw config runs with: the built-in ones and its `studies` key."""
    from .study import StudyError, load

    try:
        return load(raw.get("studies") or [] if isinstance(raw, dict) else [])
    except StudyError as err:
        raise ConfigError(str(err)) from None


def _preset(workflow_dir: Path, name: str, studies) -> tuple[dict, list[Path]]:
    """A preset: the core's file and each study's, deep-merged in that order."""
    files = [f for f in [workflow_dir / PRESETS / f"{name}.yaml",
                         *(s.preset(name) for s in studies)] if f is not None and f.is_file()]
    if not files:
        raise ConfigError(f"config key 'preset' = {name!r}: no file "
                          f"{workflow_dir / PRESETS / f'{name}.yaml'}")
    preset: dict = {}
    for f in files:
        part = load_yaml(f)
        if "preset" in part:
            raise ConfigError(f"{f}: a preset may not set 'preset'")
        preset = deep_merge(preset, part)
    return preset, files


def resolve_config(raw: dict, workflow_dir, explicit: dict | None = None) -> dict:
    """Validated config with defaults filled and the preset (if any) merged in.

    raw: the config mapping (config.yaml plus command-line overrides); workflow_dir: the
    directory holding presets/<name>.yaml; explicit: the command-line overrides alone
    (Snakemake's workflow.config_settings.overwrite_config, `mediocrity status
    --config`): they win over the preset. Without them, a `results` that differs from
    both 'results' and the preset's is refused rather than overridden.
    """
    workflow_dir = Path(workflow_dir)
    if not isinstance(raw, dict):
        raise ConfigError("config: top level must be a mapping of config keys")
    check_tree(raw)
    explicit = dict(explicit or {})
    check_tree(explicit, "--config")
    _explicit_checks(raw, explicit)
    studies = _studies(raw)
    schema = schema_of(studies, workflow_dir)
    cfg = validate_config(raw, schema)
    context = ""
    if cfg["preset"] is not None:
        preset, files = _preset(workflow_dir, cfg["preset"], studies)
        preset_file = files[0]
        context = f" (after applying preset {cfg['preset']!r} from {preset_file})"
        if ("results" in preset and "results" not in explicit
                and cfg["results"] not in ("results", preset["results"])):
            raise ConfigError(
                f"config key 'results' = {_short(cfg['results'])} conflicts with preset "
                f"{cfg['preset']!r}, which writes to {preset['results']!r}: an explicit "
                "value is never overridden silently; give results on the command line "
                "(--config results=...) to use it with the preset, or drop one")
        merged = deep_merge(cfg, preset)
        for study in studies:
            if study.merge_preset is not None:
                study.merge_preset(merged, preset)
        merged = deep_merge(merged, explicit)  # explicit values win over the preset
        cfg = validate_config(merged, schema, context)
    check_results_dir(cfg["results"])
    owner: dict[str, str] = {}
    for study in studies:
        for name, exp in study.experiments(cfg).items():
            if name in owner:
                raise ConfigError(f"config key '{study.section}.{name}': the name {name!r} "
                                  f"is also an experiment of '{owner[name]}' (both would "
                                  f"write results/{name}/){context}")
            owner[name] = study.section
            study.check(name, exp, cfg, context)
    if not owner:
        raise ConfigError(f"config: no experiment in any study's section (config keys "
                          f"{', '.join(repr(s.section) for s in studies)}): nothing to run"
                          f"{context}")
    return cfg


def load_config(configfile, workflow_dir, overrides: dict | None = None) -> dict:
    """resolve_config of a YAML file with `overrides` (like --config) merged over it."""
    return resolve_config(deep_merge(load_yaml(configfile), overrides or {}), workflow_dir,
                          explicit=overrides or {})


def experiment_hash(cfg: dict, section: str, name: str) -> str:
    """sha256 (16 hex digits) of what determines an experiment's results: its resolved
    settings (cfg[section][name]) and the root seed."""
    exp = cfg[section][name]
    settings = {k: v for k, v in exp.items() if k != "description"}
    payload = {"root_seed": cfg["root_seed"], "experiment": name, "settings": settings}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
