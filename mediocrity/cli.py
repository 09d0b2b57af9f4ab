"""Command line: `mediocrity --version`, `mediocrity info`, `mediocrity warmup`,
`mediocrity paper ...` (figures, fits, summaries: mediocrity.paper); the
pipeline's steps (`run-cell`, `ode`, `merge`, `exit-times`, one package call each, used by the
Snakemake rules) and `mediocrity status` (sweep progress)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._version import __version__


def info() -> str:
    """Versions of the scientific stack and numba's threading layer."""
    import importlib.metadata as md
    import platform

    import numba

    lines = [f"mediocrity {__version__}", f"python {platform.python_version()}"]
    for pkg in ("numpy", "numba", "scipy", "xarray", "zarr", "dask", "distributed",
                "snakemake", "matplotlib"):
        try:
            lines.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            lines.append(f"{pkg} (not installed)")
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        layer = f"not initialised (config: {numba.config.THREADING_LAYER})"
    lines.append(f"numba threading layer: {layer}")
    lines.append(f"numba cache dir: {numba.config.CACHE_DIR or '(next to the sources)'}")
    return "\n".join(lines)


def warmup() -> None:
    """Compile (or load from cache) every numba kernel once, before any fan-out."""
    from .engines import registry
    from .models import available
    from .problem import Problem
    from .simulate import simulate

    for engine in registry.compiled_names():  # the numba-compiled engines, every model
        for model in available():
            if registry.get(engine).supports(model, 2):
                problem = Problem(d=8, p=2, gamma=0.1, noise=0.1, t_max=0.01, t_min=1e-3,
                                  model=model)
                simulate(problem, engine=engine, seeds=1, scheduler="sync")
    from .margins.problem import MarginProblem
    from .margins.simulate import simulate as train

    for record in registry.ENGINES:  # the margins study's compiled engines
        if record.family == "margins" and record.compiled:
            train(MarginProblem(data="parity", d=4, m=4, n=4, n_test=4, engine=record.name,
                                t_max=0.2), seeds=1, scheduler="sync")


def _overrides(pairs: list[str]) -> dict:
    """--config key=value pairs, parsed exactly as Snakemake's --config parses them (int,
    float, True/False, else YAML with every scalar as text), so that `mediocrity status`
    sees the config the pipeline runs with."""
    from snakemake.cli import parse_config

    for pair in pairs:
        if "=" not in pair:
            raise CLIError(f"--config = {short_repr(pair)}: allowed key=value pairs")
    try:
        return parse_config(pairs)
    except Exception as err:  # snakemake's own messages (ValueError, WorkflowError)
        raise CLIError(f"--config = {short_repr(' '.join(pairs))}: {err}") from None


# -- refusing bad arguments: one line naming the argument, the value, what is allowed ---
class CLIError(ValueError):
    """A refused command-line argument (printed as one line, exit status 2)."""


def short_repr(value) -> str:
    from .problem import short_repr as short

    return short(value)


def _json_arg(name: str, text: str) -> dict:
    """A JSON object argument (no NaN/Infinity)."""
    import json

    def no_constants(c):
        raise ValueError(f"{c} is not allowed")

    try:
        value = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError) as err:
        raise CLIError(f"{name} = {short_repr(text)}: not valid JSON ({err}); allowed a "
                       "JSON object {...}") from None
    if not isinstance(value, dict):
        raise CLIError(f"{name} = {short_repr(text)}: allowed a JSON object {{...}}")
    return value


def _int_range(name: str, lo: int, hi: int):
    """argparse type: an integer in [lo, hi], refused with a message naming `name`."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{short_repr(text)}: allowed an integer in [{lo}, {hi}]") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value}: allowed an integer in [{lo}, {hi}]")
        return value
    parse.__name__ = name
    return parse


def _positive_float(text):
    """argparse type: a finite number > 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{short_repr(text)}: allowed a number > 0") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{short_repr(text)}: allowed a finite number > 0")
    return value


def results_root() -> Path:
    return Path("results").resolve()


def check_output(name: str, path: str, allow_outside: bool = False, roots=(),
                 store: bool = True) -> str:
    """An output path: non-empty, inside ./results (or inside one of `roots`, the results
    trees of the inputs) unless allow_outside, and not an existing path that is not
    replaceable: for a store, anything but an empty directory or a store of this
    project; for a file, anything but a regular file."""
    from .store import check_replaceable

    if not isinstance(path, str) or not path.strip() or "\0" in path:
        raise CLIError(f"{name} = {short_repr(path)}: allowed a non-empty path")
    target = Path(path)
    resolved = target.resolve()
    allowed = [results_root(), *(Path(r).resolve() for r in roots if r is not None)]
    if not allow_outside and not any(a in resolved.parents for a in allowed):
        where = " or ".join(sorted({str(a) for a in allowed}))
        raise CLIError(f"{name} = {short_repr(path)}: outside the results directory; "
                       f"allowed a path inside {where} (or pass --allow-outside-results)")
    try:
        if store:
            check_replaceable(target)
        elif target.is_symlink() or (target.exists() and not target.is_file()):
            raise ValueError("it exists and is not a regular file: refusing to replace it")
    except ValueError as err:
        raise CLIError(f"{name} = {short_repr(path)}: {err}") from None
    return path


def check_input_store(name: str, path) -> str:
    """An input Zarr store that exists (a directory with Zarr metadata)."""
    p = Path(path)
    if not p.is_dir() or not any((p / f).exists() for f in (".zmetadata", ".zgroup",
                                                             "zarr.json")):
        what = "no such store" if not p.exists() else "not a Zarr store"
        raise CLIError(f"{name} = {short_repr(str(path))}: {what}; allowed an existing store "
                       "written by mediocrity")
    return str(path)


def _results_tree(store_path, depth: int) -> Path | None:
    """The results directory of an input store `depth` levels below it
    (<results>/<experiment>/<name>.zarr: depth 2), if it is a directory named `results`
    (e.g. another checkout's); None otherwise (then only ./results is allowed)."""
    parents = Path(store_path).resolve().parents
    root = parents[depth - 1] if depth < len(parents) else None
    return root if root is not None and root.name == "results" else None


def _schema_of(key: str):
    """The config schema's sub-schema `key` (from the workflow next to the package)."""
    from .config import SCHEMA, load_yaml

    path = Path(__file__).resolve().parent.parent / "workflow" / SCHEMA
    return load_yaml(path)["properties"][key] if path.is_file() else None


def check_dask(text: str) -> dict:
    """--dask: a JSON object valid as the config's `dask` key (scheduler local, address
    with an address, or slurm), defaults filled in."""
    from .config import ConfigError, validate_config

    value = _json_arg("--dask", text)
    schema = _schema_of("dask")
    if schema is None:  # installed without the workflow: the essential checks
        if value.get("scheduler", "local") not in ("local", "address", "slurm"):
            raise CLIError(f"--dask: key 'scheduler' = {short_repr(value.get('scheduler'))}: "
                           "allowed one of local, address, slurm")
        if value.get("scheduler") == "address" and not isinstance(value.get("address"), str):
            raise CLIError("--dask: key 'address' is missing: required when scheduler is "
                           "'address'")
        return value
    wrapper = {"type": "object", "additionalProperties": False,
               "properties": {"dask": schema}}
    try:
        return validate_config({"dask": value}, wrapper)["dask"]
    except ConfigError as err:
        raise CLIError(f"--dask: {err}") from None


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
    roots = [_results_tree(path, 2) for path in inputs]
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


def check_cell_spec(text: str) -> dict:
    """--spec of run-cell: the JSON cell spec the workflow writes (sweep.cell_spec), each
    key checked; the message names the key."""
    import re

    from .problem import Problem
    from .simulate import SEEDS_MAX, check_seed_arg

    spec = _json_arg("--spec", text)
    optional = {"model", "gamma_d_exponent"}
    missing = [k for k in CELL_KEYS if k not in spec]
    unknown = sorted(k for k in spec if k not in CELL_KEYS and k not in optional)
    if missing or unknown:
        raise CLIError(f"--spec: {'missing keys ' + ', '.join(missing) if missing else ''}"
                       f"{'; ' if missing and unknown else ''}"
                       f"{'unknown keys ' + short_repr(unknown) if unknown else ''} "
                       f"(allowed: {', '.join(CELL_KEYS)})")

    def bad(key, allowed):
        raise CLIError(f"--spec: key '{key}' = {short_repr(spec[key])}: allowed {allowed}")

    if not (isinstance(spec["experiment"], str)
            and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", spec["experiment"])):
        bad("experiment", "letters, digits, '_', '-', starting with a letter")
    from .engines import registry

    if spec["engine"] not in registry.sweep_names():
        bad("engine", f"one of {', '.join(registry.sweep_names())}")
    for key in ("d", "p"):
        if not (isinstance(spec[key], int) and not isinstance(spec[key], bool)):
            bad(key, "an integer")
    for key in ("gamma", "noise"):
        if not (isinstance(spec[key], int | float) and not isinstance(spec[key], bool)):
            bad(key, "a number")
    seeds = spec["seeds"]
    if not (isinstance(seeds, list) and len(seeds) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            and 0 <= seeds[0] < seeds[1] and seeds[1] - seeds[0] <= SEEDS_MAX):
        bad("seeds", f"[start, stop] with integers 0 <= start < stop, at most {SEEDS_MAX} "
                     "seeds")
    for key in ("root_seed", "init_seed"):
        try:
            check_seed_arg(key, spec[key])
        except ValueError:
            bad(key, "an integer in [0, 2**63 - 1]")
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
    return spec


def check_ode_spec(text: str) -> dict:
    """--spec of ode: an experiment's grid (sweep.ode_spec), checked like a config
    experiment; the message names the key."""
    from .config import GAMMA_KEYS, ConfigError, _check_experiment, validate_config

    spec = _json_arg("--spec", text)
    for key in ("experiment", "root_seed"):
        if key not in spec:
            raise CLIError(f"--spec: key '{key}' is missing")
    try:
        from .simulate import check_seed_arg

        check_seed_arg("root_seed", spec["root_seed"])
    except ValueError as err:
        raise CLIError(f"--spec: key 'root_seed': {err}") from None
    schema_path = Path(__file__).resolve().parent.parent / "workflow"
    exp = {k: v for k, v in spec.items() if k not in ("experiment", "root_seed")}
    # a stand-in engine for the experiment checks: one that the step-count bound does not
    # apply to (the ODE has no steps), so only the grid and the model are checked
    from .engines import registry

    exp.update(seeds=1, engines=[next(e.name for e in registry.ESCAPE_ENGINES
                                      if e.sweep and not e.steps)])
    if not any(k in exp for k in GAMMA_KEYS):
        raise CLIError(f"--spec: one of {', '.join(GAMMA_KEYS)} is required")
    try:
        if (schema_path / "schemas").is_dir():
            from .config import SCHEMA, load_yaml

            schema = load_yaml(schema_path / SCHEMA)
            sub = {"$defs": schema["$defs"], "type": "object",
                   "properties": {"experiments": {"type": "object",
                                                  "additionalProperties":
                                                  {"$ref": "#/$defs/experiment"}}}}
            name = spec["experiment"] if isinstance(spec["experiment"], str) else "?"
            exp = validate_config({"experiments": {name: exp}}, sub)["experiments"][name]
        _check_experiment(str(spec["experiment"]), exp, "")
    except (ConfigError, KeyError, TypeError, ValueError) as err:
        raise CLIError(f"--spec: {err}") from None
    return spec


def _add_pipeline_commands(sub) -> None:
    cell = sub.add_parser("run-cell", help="simulate one cell (or its ODE) into a Zarr store")
    cell.add_argument("--spec", required=True, help="cell spec (JSON, from the workflow)")
    cell.add_argument("--out", required=True, help="output store (written atomically)")
    cell.add_argument("--threads", type=_int_range("--threads", 1, 1024), default=1,
                      help="local Dask workers (1..1024)")
    cell.add_argument("--dask", default='{"scheduler": "local"}', help="dask config (JSON)")
    ode = sub.add_parser("ode", help="integrate the ODE over an experiment's grid")
    ode.add_argument("--spec", required=True, help="experiment ODE spec (JSON)")
    ode.add_argument("--attrs", required=True, help="store attributes (JSON)")
    ode.add_argument("--out", required=True, help="ode store (written atomically)")
    merge = sub.add_parser("merge", help="merge cell stores into the sweep store")
    merge.add_argument("--attrs", required=True, help="store attributes (JSON)")
    merge.add_argument("--engines", nargs="*", default=None, help="engine order")
    merge.add_argument("--out", required=True)
    merge.add_argument("cells", nargs="+", help="cell stores")
    times = sub.add_parser("exit-times", help="exit-time table of an experiment")
    times.add_argument("--sweep", required=True)
    times.add_argument("--ode", default=None)
    times.add_argument("--out", required=True)
    status = sub.add_parser("status", help="cells done/total and time left of a sweep")
    status.add_argument("--configfile", default=None,
                        help="config file (default: the grid of the last snakemake run"
                        " here, else config.yaml)")
    status.add_argument("--workflow-dir", default="workflow",
                        help="directory with schemas/ and presets/")
    status.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides, as for snakemake --config")
    status.add_argument("--cores", type=_int_range("--cores", 1, 100_000),
                        default=os.cpu_count() or 1)
    for name, command in sub.choices.items():
        if name in ("run-cell", "ode", "merge", "exit-times"):
            command.add_argument("--allow-outside-results", action="store_true",
                                 help="allow --out outside ./results (and outside the "
                                      "results tree of the inputs)")


def _run_pipeline_command(args) -> None:

    if args.command == "run-cell":
        from .sweep import run_cell

        spec, dask_cfg = check_cell_spec(args.spec), check_dask(args.dask)
        out = check_output("--out", args.out, args.allow_outside_results)
        run_cell(spec, out, args.threads, dask_cfg)
    elif args.command == "ode":
        from .sweep import run_ode

        spec, attrs = check_ode_spec(args.spec), _json_arg("--attrs", args.attrs)
        out = check_output("--out", args.out, args.allow_outside_results)
        run_ode(spec, out, attrs)
    elif args.command == "merge":
        from .store import merge_cells

        attrs = _json_arg("--attrs", args.attrs)
        cells = [check_input_store("cells", c) for c in args.cells]
        # <results>/<experiment>/cells/<engine>/<cell>.zarr
        roots = [_results_tree(c, 4) for c in cells]
        out = check_output("--out", args.out, args.allow_outside_results, roots)
        merge_cells(cells, out, attrs, args.engines)
    elif args.command == "exit-times":
        from .store import exit_time_table

        sweep = check_input_store("--sweep", args.sweep)
        ode = None if args.ode is None else check_input_store("--ode", args.ode)
        out = check_output("--out", args.out, args.allow_outside_results,
                           [_results_tree(sweep, 2)])
        exit_time_table(sweep, out, ode)
    else:
        from .config import ConfigError
        from .plan import status_config
        from .sweep import sweep_status

        try:
            cfg, source = status_config(args.configfile, args.workflow_dir,
                                        _overrides(args.config))
        except ConfigError as err:
            raise SystemExit(f"mediocrity status: {err}") from None
        print(f"grid: {source}")
        print(sweep_status(cfg, args.cores))


def guarded(prog: str, func, argv: list[str]) -> int:
    """func(argv) with every error turned into one line on stderr and a non-zero exit
    status (2: a refused argument or value, 1: any other failure, 130: Ctrl-C), never a
    traceback; `--debug` (anywhere in argv) or MEDIOCRITY_DEBUG=1 shows it instead."""
    debug = "--debug" in argv or os.environ.get("MEDIOCRITY_DEBUG") == "1"
    argv = [a for a in argv if a != "--debug"]
    try:
        return func(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as err:  # the point: no traceback, whatever the error
        if debug:
            raise
        from .config import ConfigError

        text = " ".join(str(err).split()) or type(err).__name__
        if len(text) > 500:
            text = text[:497] + "..."
        if not isinstance(err, CLIError | ConfigError | ValueError):
            text = f"{type(err).__name__}: {text}"
        print(f"{prog}: error: {text} (--debug shows the traceback)", file=sys.stderr)
        return 2 if isinstance(err, CLIError | ConfigError | ValueError) else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if [a for a in argv if a != "--debug"][:1] == ["paper"]:
        # figures, fits, summaries: mediocrity.paper's own parser
        from .paper import main_paper

        return guarded("mediocrity paper", lambda a: main_paper(a[1:]), argv)
    if [a for a in argv if a != "--debug"][:1] == ["margins"]:
        # the margins study's pipeline steps: mediocrity.margins.cli
        from .margins.cli import main_margins

        return guarded("mediocrity margins", lambda a: main_margins(a[1:]), argv)
    return guarded("mediocrity", _main, argv)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mediocrity", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mediocrity {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (default: a one-line message)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print versions and the numba threading layer")
    sub.add_parser("warmup", help="compile the numba kernels into the cache")
    sub.add_parser("paper", help="paper figures, fits and summaries (see `mediocrity paper -h`)")
    sub.add_parser("margins", help="the margins study's pipeline steps (see `mediocrity margins -h`)")
    _add_pipeline_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "info":
        print(info())
    elif args.command == "warmup":
        warmup()
        print("numba kernels compiled and cached")
    elif args.command is not None:
        _run_pipeline_command(args)
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
