"""Command line: `mediocrity --version`, `mediocrity info`, `mediocrity warmup`,
`mediocrity paper ...` (figures, fits, summaries: mediocrity.paper); the
pipeline's steps (`run-cell`, `ode`, `merge`, `exit-times`, one package call each, used by the
Snakemake rules) and `mediocrity status` (sweep progress)."""

from __future__ import annotations

import argparse
import os
import sys

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
    from .problem import Problem
    from .simulate import simulate

    from .engines import registry
    from .models import available

    for engine in registry.compiled_names():  # the numba-compiled engines, every model
        for model in available():
            if registry.get(engine).supports(model, 2):
                problem = Problem(d=8, p=2, gamma=0.1, noise=0.1, t_max=0.01, t_min=1e-3,
                                  model=model)
                simulate(problem, engine=engine, seeds=1, scheduler="sync")


def _overrides(pairs: list[str]) -> dict:
    """--config key=value pairs (values parsed as YAML, like Snakemake's --config)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--config expects key=value, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def _add_pipeline_commands(sub) -> None:
    cell = sub.add_parser("run-cell", help="simulate one cell (or its ODE) into a Zarr store")
    cell.add_argument("--spec", required=True, help="cell spec (JSON, from the workflow)")
    cell.add_argument("--out", required=True, help="output store (written atomically)")
    cell.add_argument("--threads", type=int, default=1, help="local Dask workers")
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
    status.add_argument("--cores", type=int, default=os.cpu_count() or 1)


def _run_pipeline_command(args) -> None:
    import json

    if args.command == "run-cell":
        from .sweep import run_cell

        run_cell(json.loads(args.spec), args.out, args.threads, json.loads(args.dask))
    elif args.command == "ode":
        from .sweep import run_ode

        run_ode(json.loads(args.spec), args.out, json.loads(args.attrs))
    elif args.command == "merge":
        from .store import merge_cells

        merge_cells(args.cells, args.out, json.loads(args.attrs), args.engines)
    elif args.command == "exit-times":
        from .store import exit_time_table

        exit_time_table(args.sweep, args.out, args.ode)
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["paper"]:  # figures, fits, summaries: mediocrity.paper's own parser
        from .paper import main_paper

        return main_paper(argv[1:])
    parser = argparse.ArgumentParser(prog="mediocrity", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mediocrity {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print versions and the numba threading layer")
    sub.add_parser("warmup", help="compile the numba kernels into the cache")
    sub.add_parser("paper", help="paper figures, fits and summaries (see `mediocrity paper -h`)")
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
