"""`mediocrity escape ...`: the escape study's pipeline steps (`run-cell`, `ode`, `merge`,
`exit-times`), one package call each, used by its rules (rules.smk); `mediocrity paper
...` (its figures, fits and summaries) checks its arguments here too. The same steps
are still accepted without `escape` (`mediocrity run-cell ...`), with a deprecation note."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...pipeline.cli import (CLIError, add_run_cell, check_dask, check_input_store, check_output,
                             check_spec_cell, check_spec_keys, json_arg, short_repr)
from ...pipeline.paths import results_tree

def check_paper_args(args) -> None:
    """`mediocrity paper ...` arguments: input stores exist, numbers in range, outputs
    inside ./results or the results tree of the input stores (<results>/<exp>/<x>.zarr),
    unless --allow-outside-results; an existing output must be a regular file."""
    import math

    inputs = []
    for name in ("stores", "exit_times"):
        for path in getattr(args, name, None) or []:
            inputs.append(check_input_store(f"--{name.replace('_', '-')}", path))
    if getattr(args, "fits", None) is not None and not Path(args.fits).is_file():
        raise CLIError(f"--fits = {short_repr(args.fits)}: no such file; allowed the fits.nc "
                       "written by `mediocrity paper fits`")
    roots = [results_tree(path, 2) for path in inputs]
    outputs = {"--out": getattr(args, "out", None), "--csv": getattr(args, "csv", None),
               "--netcdf": getattr(args, "netcdf", None), "--tex": getattr(args, "tex", None),
               "--agreement": getattr(args, "agreement", None)}
    stem = getattr(args, "stem", None)
    if stem is not None:
        outputs.update({"--stem": stem + ".pdf", "--stem ": stem + ".png"})
    for name, path in outputs.items():
        if path is not None:
            check_output(name.strip(), path, args.allow_outside_results, roots, store=False)
    for name in ("d_min", "d_min_sde", "t_from"):
        value = getattr(args, name, None)
        low = 2.0 if name.startswith("d_min") else 0.0
        if value is not None and not (math.isfinite(value) and value >= low
                                      and (value > 0)):
            raise CLIError(f"--{name.replace('_', '-')} = {value!r}: allowed a finite number "
                           f"{'>= 2' if low else '> 0'}")


CELL_KEYS = ("experiment", "engine", "d", "p", "gamma", "noise", "seeds", "root_seed",
             "init", "init_seed", "threshold", "t_min", "t_max", "saves_per_decade",
             "stop_after")


def check_cell_spec(text: str):
    """(spec, Problem) of run-cell's --spec, the JSON cell spec the workflow writes
    (sweep.cell_spec), each key checked; the message names the key. The Problem is the
    one the job runs (built once)."""
    from ...problem import Problem
    from ...simulate import check_seed_arg

    spec = json_arg("--spec", text)
    check_spec_keys(spec, CELL_KEYS, optional=("model", "gamma_d_exponent"))
    check_spec_cell(spec)

    def bad(key, allowed):
        raise CLIError(f"--spec: key '{key}' = {short_repr(spec[key])}: allowed {allowed}")

    from ...engines import registry

    if spec["engine"] not in registry.sweep_names():
        bad("engine", f"one of {', '.join(registry.sweep_names())}")
    for key in ("d", "p"):
        if not (isinstance(spec[key], int) and not isinstance(spec[key], bool)):
            bad(key, "an integer")
    for key in ("gamma", "noise"):
        if not (isinstance(spec[key], int | float) and not isinstance(spec[key], bool)):
            bad(key, "a number")
    try:
        check_seed_arg("init_seed", spec["init_seed"])
    except ValueError:
        bad("init_seed", "an integer in [0, 2**63 - 1]")
    if spec["init"] not in ("fixed", "random", "annealed"):
        bad("init", "one of fixed, random, annealed")
    from .sweep import problem_of

    try:
        problem = problem_of(spec)
        if not isinstance(problem, Problem):
            raise ValueError("not a Problem")
        if spec["engine"] in registry.step_names():
            problem.check_steps()
    except (ValueError, TypeError, KeyError) as err:
        message = str(err)
        key = message.split("=")[0].removeprefix("Problem.").strip()
        key = key if key in spec else "?"
        raise CLIError(f"--spec: key '{key}': {message}") from None
    return spec, problem


def check_ode_spec(text: str) -> dict:
    """--spec of ode: an experiment's grid (sweep.ode_spec), checked like a config
    experiment; the message names the key."""
    from ...pipeline.config import ConfigError, validate_config
    from .config import GAMMA_KEYS, check_experiment

    spec = json_arg("--spec", text)
    for key in ("experiment", "root_seed"):
        if key not in spec:
            raise CLIError(f"--spec: key '{key}' is missing")
    try:
        from ...simulate import check_seed_arg

        check_seed_arg("root_seed", spec["root_seed"])
    except ValueError as err:
        raise CLIError(f"--spec: key 'root_seed': {err}") from None
    exp = {k: v for k, v in spec.items() if k not in ("experiment", "root_seed")}
    # a stand-in engine for the experiment checks: one that the step-count bound does not
    # apply to (the ODE has no steps), so only the grid and the model are checked
    from ...engines import registry

    exp.update(seeds=1, engines=[next(e.name for e in registry.ENGINES
                                      if e.sweep and not e.steps)])
    if not any(k in exp for k in GAMMA_KEYS):
        raise CLIError(f"--spec: one of {', '.join(GAMMA_KEYS)} is required")
    try:
        from ...pipeline.config import load_yaml

        schema = load_yaml(Path(__file__).with_name("schema.yaml"))
        sub = {"$defs": schema["$defs"], "type": "object",
               "properties": {"experiments": {"type": "object",
                                              "additionalProperties":
                                              {"$ref": "#/$defs/experiment"}}}}
        name = spec["experiment"] if isinstance(spec["experiment"], str) else "?"
        exp = validate_config({"experiments": {name: exp}}, sub)["experiments"][name]
        check_experiment(str(spec["experiment"]), exp, "")
    except (ConfigError, KeyError, TypeError, ValueError) as err:
        raise CLIError(f"--spec: {err}") from None
    return spec


def _add_pipeline_commands(sub) -> None:
    add_run_cell(sub, "simulate the seeds of one cell into a Zarr store")
    ode = sub.add_parser("ode", help="integrate the ODE over an experiment's grid")
    ode.add_argument("--spec", required=True, help="experiment ODE spec (JSON)")
    ode.add_argument("--attrs", required=True, help="store attributes (JSON)")
    ode.add_argument("--out", required=True, help="ode store (written atomically)")
    merge = sub.add_parser("merge", help="merge cell stores into the sweep store")
    merge.add_argument("--attrs", required=True, help="store attributes (JSON)")
    merge.add_argument("--engines", nargs="*", default=None,
                       help="engine order of the merged store (default: as found)")
    merge.add_argument("--out", required=True, help="sweep store (written atomically)")
    merge.add_argument("cells", nargs="+", help="cell stores")
    times = sub.add_parser("exit-times", help="exit-time table of an experiment")
    times.add_argument("--sweep", required=True, help="the experiment's sweep store")
    times.add_argument("--ode", default=None, help="its ode store (experiments with ode: true)")
    times.add_argument("--out", required=True, help="exit-time store (written atomically)")
    for name, command in sub.choices.items():
        if name in ("run-cell", "ode", "merge", "exit-times"):
            command.add_argument("--allow-outside-results", action="store_true",
                                 help="allow --out outside ./results (and outside the "
                                      "results tree of the inputs)")


def _run_pipeline_command(args) -> None:

    if args.command == "run-cell":
        from .sweep import run_cell

        (spec, problem), dask_cfg = check_cell_spec(args.spec), check_dask(args.dask)
        out = check_output("--out", args.out, args.allow_outside_results)
        run_cell(spec, out, args.threads, dask_cfg, problem)
    elif args.command == "ode":
        from .sweep import run_ode

        spec, attrs = check_ode_spec(args.spec), json_arg("--attrs", args.attrs)
        out = check_output("--out", args.out, args.allow_outside_results)
        run_ode(spec, out, attrs)
    elif args.command == "merge":
        from .store import merge_cells

        attrs = json_arg("--attrs", args.attrs)
        cells = [check_input_store("cells", c) for c in args.cells]
        # <results>/<experiment>/cells/<engine>/<cell>.zarr
        roots = [results_tree(c, 4) for c in cells]
        out = check_output("--out", args.out, args.allow_outside_results, roots)
        merge_cells(cells, out, attrs, args.engines)
    elif args.command == "exit-times":
        from .store import exit_time_table

        sweep = check_input_store("--sweep", args.sweep)
        ode = None if args.ode is None else check_input_store("--ode", args.ode)
        out = check_output("--out", args.out, args.allow_outside_results,
                           [results_tree(sweep, 2)])
        exit_time_table(sweep, out, ode)


def main_escape(argv: list[str]) -> int:
    """`mediocrity escape {run-cell,ode,merge,exit-times} ...`."""
    parser = argparse.ArgumentParser(prog="mediocrity escape", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_pipeline_commands(sub)
    _run_pipeline_command(parser.parse_args(argv))
    return 0


def deprecated(command: str):
    """`mediocrity <command> ...` of before the studies had their own subcommands."""
    def run(argv: list[str]) -> int:
        print(f"mediocrity {command}: deprecated, use `mediocrity escape {command}`",
              file=sys.stderr)
        return main_escape([command, *argv])
    return run
