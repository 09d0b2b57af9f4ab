"""Command line: `mediocrity --version`, `mediocrity info`, `mediocrity warmup`."""

from __future__ import annotations

import argparse
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

    problem = Problem(d=8, p=2, gamma=0.1, noise=0.1, t_max=0.01, t_min=1e-3)
    for engine in ("sgd", "gram"):
        simulate(problem, engine=engine, seeds=1, scheduler="sync")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediocrity", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mediocrity {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print versions and the numba threading layer")
    sub.add_parser("warmup", help="compile the numba kernels into the cache")
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
