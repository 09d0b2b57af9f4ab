"""Command line: `mediocrity --version`, `info`, `warmup` (every study's kernels),
`status` (cells done and time left, every study), and each study's subcommands
(`mediocrity <study> ...`: its pipeline steps, one package call each, used by its rules).

The argument guards here are the public ones every study's commands use: a refused
argument is one line naming it, the value and what is allowed (exit status 2)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .._version import __version__


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
    """Compile (or load from cache) every numba kernel of every study, before any fan-out."""
    from .study import load

    for study in load():
        if study.warmup is not None:
            study.warmup()


def overrides(pairs: list[str]) -> dict:
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
    from ..problem import short_repr as short

    return short(value)


def json_arg(name: str, text: str) -> dict:
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


def int_range(name: str, lo: int, hi: int):
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


def positive_float(text):
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
    from .stores import check_replaceable

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


def check_spec_keys(spec: dict, keys, optional=()) -> None:
    """A --spec names exactly `keys` (and any of `optional`): missing and unknown keys
    refused in one message."""
    missing = [k for k in keys if k not in spec]
    unknown = sorted(k for k in spec if k not in keys and k not in optional)
    if missing or unknown:
        raise CLIError(f"--spec: {'missing keys ' + ', '.join(missing) if missing else ''}"
                       f"{'; ' if missing and unknown else ''}"
                       f"{'unknown keys ' + short_repr(unknown) if unknown else ''} "
                       f"(allowed: {', '.join(keys)})")


def check_spec_cell(spec: dict) -> None:
    """The keys every study's cell spec has: experiment (a name), seeds [start, stop),
    root_seed."""
    import re

    from ..simulate import SEEDS_MAX, check_seed_arg

    if not (isinstance(spec["experiment"], str)
            and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", spec["experiment"])):
        raise CLIError(f"--spec: key 'experiment' = {short_repr(spec['experiment'])}: "
                       "allowed letters, digits, '_', '-', starting with a letter")
    seeds = spec["seeds"]
    if not (isinstance(seeds, list) and len(seeds) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            and 0 <= seeds[0] < seeds[1] and seeds[1] - seeds[0] <= SEEDS_MAX):
        raise CLIError(f"--spec: key 'seeds' = {short_repr(seeds)}: allowed [start, stop] "
                       f"with integers 0 <= start < stop, at most {SEEDS_MAX} seeds")
    try:
        check_seed_arg("root_seed", spec["root_seed"])
    except ValueError:
        raise CLIError(f"--spec: key 'root_seed' = {short_repr(spec['root_seed'])}: "
                       "allowed an integer in [0, 2**63 - 1]") from None


def add_run_cell(sub, help: str):
    """The `run-cell` subcommand every study has: --spec, --out, --threads, --dask."""
    cell = sub.add_parser("run-cell", help=help)
    cell.add_argument("--spec", required=True,
                      help="cell spec: JSON of every result-affecting value (from the workflow)")
    cell.add_argument("--out", required=True, help="output store (written atomically)")
    cell.add_argument("--threads", type=int_range("--threads", 1, 1024), default=1,
                      help="local Dask workers (1..1024)")
    cell.add_argument("--dask", default='{"scheduler": "local"}',
                      help="where the seeds run: JSON of the config key `dask` "
                           "(default: local threads)")
    return cell


def add_bootstrap(parser, n_boot: int = 1000, seed: int = 0) -> None:
    """--n-boot and --bootstrap-seed of every fit command (config paper.n_boot,
    paper.bootstrap_seed; the ranges of the schema)."""
    parser.add_argument("--n-boot", type=int_range("--n-boot", 1, 10**6), default=n_boot,
                        help="bootstrap replicates of the intervals (config paper.n_boot)")
    parser.add_argument("--bootstrap-seed", type=int_range("--bootstrap-seed", 0, 2**63 - 1),
                        default=seed, help="seed of the bootstrap (config paper.bootstrap_seed)")


def _schema_of(key: str) -> dict:
    """The core config schema's sub-schema `key` (mediocrity/pipeline/schema.yaml)."""
    from .config import SCHEMA, load_yaml

    return load_yaml(SCHEMA)["properties"][key]


def check_dask(text: str) -> dict:
    """--dask: a JSON object valid as the config's `dask` key (scheduler local, address
    with an address, or slurm), defaults filled in."""
    from .config import ConfigError, validate_config

    value = json_arg("--dask", text)
    schema = _schema_of("dask")
    wrapper = {"type": "object", "additionalProperties": False,
               "properties": {"dask": schema}}
    try:
        return validate_config({"dask": value}, wrapper)["dask"]
    except ConfigError as err:
        raise CLIError(f"--dask: {err}") from None


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


def status(argv: list[str]) -> int:
    """`mediocrity status`: cells done/total and time left of every study's grid."""
    parser = argparse.ArgumentParser(prog="mediocrity status", description=status.__doc__)
    parser.add_argument("--configfile", default=None,
                        help="config file (default: the grid of the last snakemake run here, "
                             "else config.yaml)")
    parser.add_argument("--workflow-dir", default="workflow",
                        help="directory with presets/ (default: workflow)")
    parser.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides, as for snakemake --config (e.g. preset=quick)")
    parser.add_argument("--cores", type=int_range("--cores", 1, 100_000),
                        default=os.cpu_count() or 1,
                        help="cores the estimate of the time left divides by "
                             "(default: this machine's)")
    args = parser.parse_args(argv)
    from .config import ConfigError
    from .plan import status_config
    from .status import sweep_status

    try:
        cfg, source = status_config(args.configfile, args.workflow_dir,
                                    overrides(args.config))
    except ConfigError as err:
        raise SystemExit(f"mediocrity status: {err}") from None
    print(f"grid: {source}")
    print(sweep_status(cfg, args.cores))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The `mediocrity` entry point: a study's subcommand goes to that study's parser."""
    from .study import commands, load

    argv = sys.argv[1:] if argv is None else list(argv)
    first = [a for a in argv if a != "--debug"][:1]
    if first == ["status"]:
        return guarded("mediocrity status", lambda a: status(a[1:]), argv)
    if first:
        try:
            handlers = commands(load())
        except ValueError as err:
            print(f"mediocrity: error: {err}", file=sys.stderr)
            return 2
        if first[0] in handlers:
            return guarded(f"mediocrity {first[0]}",
                           lambda a: handlers[first[0]](a[1:]), argv)
    return guarded("mediocrity", _main, argv)


def _main(argv: list[str]) -> int:
    from .study import load

    parser = argparse.ArgumentParser(prog="mediocrity", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mediocrity {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (default: a one-line message)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("info", help="print versions and the numba threading layer")
    sub.add_parser("warmup", help="compile every study's numba kernels into the cache")
    sub.add_parser("status", help="cells done/total and time left of every study's grid "
                                  "(see `mediocrity status -h`)")
    for study in load():
        for name in study.commands:
            sub.add_parser(name, help=f"{study.summary} (see `mediocrity {name} -h`)"
                           if name == study.name else f"the {study.name} study's "
                           f"`{name}` (see `mediocrity {name} -h`)")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(info())
    elif args.command == "warmup":
        warmup()
        print("numba kernels compiled and cached")
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
