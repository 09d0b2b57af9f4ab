"""The plan: the resolved config a main Snakemake process runs with, and the check that
every cluster job makes against it.

Snakemake re-reads the Snakefile and the config inside every job it submits through an
executor plugin (SLURM), rebuilding it from the options it forwards (`--configfiles`,
`--config`), not from what the main process resolved; `--replace-workflow-config`, for
one, is not forwarded. A job whose config differs would compute a cell other than the
one planned, silently. So the main process writes its resolved config to PLAN when the
run starts (Snakemake's `onstart`: real runs only, not dry runs), and a job in Snakemake's
remote mode compares its own resolved config with it and refuses to start on any
difference, naming the keys. `mediocrity status` reads the same file to know which grid
the last run used.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .config import ConfigError

PLAN = Path(".snakemake") / "mediocrity" / "plan.json"


class PlanMismatch(ConfigError):
    """A job's resolved config is not the one its main process planned."""


def _canonical(cfg: dict) -> dict:
    """cfg as JSON would give it back (tuples -> lists, keys -> str)."""
    return json.loads(json.dumps(cfg, sort_keys=True))


def write_plan(cfg: dict, path=PLAN) -> None:
    """Write cfg (the resolved config) with when/where it was planned, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"config": _canonical(cfg), "written": time.strftime("%Y-%m-%d %H:%M:%S"),
              "host": socket.gethostname(), "pid": os.getpid()}
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, sort_keys=True, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_plan(path=PLAN) -> dict | None:
    """The plan record ({config, written, host, pid}), or None if there is none."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def differing_keys(a, b, prefix: str = "") -> list[str]:
    """Dotted config keys whose values differ between a and b (mappings recursed into)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(name)
            else:
                out += differing_keys(a[key], b[key], name)
        return out
    return [] if a == b else [prefix or "(top level)"]


def _show(value, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_against_plan(cfg: dict, path=PLAN) -> None:
    """PlanMismatch unless cfg equals the planned config; the message names up to five
    differing keys with both values."""
    record = read_plan(path)
    if record is None:
        raise PlanMismatch(
            f"no plan at {path}: this job cannot check that it runs the config its main "
            "snakemake process planned (the main process writes the plan when a run "
            "starts; it does not with --no-hooks)")
    planned, mine = record["config"], _canonical(cfg)
    keys = differing_keys(planned, mine)
    if not keys:
        return

    def value(c, key):
        for part in key.split("."):
            if not isinstance(c, dict) or part not in c:
                return "(absent)"
            c = c[part]
        return _show(c)

    shown = "; ".join(f"'{k}' planned {value(planned, k)}, here {value(mine, k)}"
                      for k in keys[:5])
    more = f" (and {len(keys) - 5} more)" if len(keys) > 5 else ""
    raise PlanMismatch(
        f"this job's config differs from the one its main snakemake process planned "
        f"({path}, written {record.get('written')} on {record.get('host')}): {shown}{more}. "
        "Refusing to run a cell other than the planned one. Snakemake rebuilds a job's "
        "config from --configfile/--config only (not --replace-workflow-config); a config "
        "file edited, or another snakemake started in this directory, during the run does "
        "this too.")


def status_config(configfile, workflow_dir, overrides: dict) -> tuple[dict, str]:
    """(resolved config, where it came from) for `mediocrity status`: the given config
    file and overrides; with neither, the grid of the last run here (the plan), else
    config.yaml. A config file replaces config.yaml, as it does for snakemake."""
    from .config import deep_merge, load_yaml, resolve_config

    if configfile is None and not overrides:
        record = read_plan()
        if record is not None:
            cfg = record["config"]
            preset = f"preset {cfg['preset']}" if cfg.get("preset") else "no preset"
            return cfg, (f"the last snakemake run here ({PLAN}, started {record['written']}; "
                         f"{preset}; results in {cfg['results']}/)")
    # as snakemake does: a given file and --config are explicit (they win over a preset)
    explicit = deep_merge(load_yaml(configfile) if configfile else {}, overrides)
    configfile = configfile or "config.yaml"
    cfg = resolve_config(deep_merge(load_yaml(configfile), overrides), workflow_dir, explicit)
    given = " ".join(f"{k}={v}" for k, v in overrides.items())
    return cfg, f"{configfile}{' with ' + given if given else ''} (results in {cfg['results']}/)"
