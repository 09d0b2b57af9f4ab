"""`mediocrity margins ...`: the margins study's pipeline steps, one package call each
(used by workflow/rules/margins.smk), with the same argument checks as the escape
study's commands (one-line errors naming the argument; outputs inside ./results)."""

from __future__ import annotations

import argparse

from ..cli import (CLIError, _int_range, _json_arg, _results_tree, check_dask,
                   check_input_store, check_output, short_repr)
from .sweep import RUN_KEYS

CELL_KEYS = ("experiment", "engine", "d", "m", "n", "k", "separation", "seeds", "root_seed",
             *RUN_KEYS)


def check_cell_spec(text: str) -> dict:
    """--spec of run-cell (mediocrity.margins.sweep.cell_spec), every key checked."""
    import re

    from ..simulate import SEEDS_MAX, check_seed_arg
    from .sweep import problem_of

    spec = _json_arg("--spec", text)
    missing = [k for k in CELL_KEYS if k not in spec]
    unknown = sorted(k for k in spec if k not in CELL_KEYS)
    if missing or unknown:
        raise CLIError(f"--spec: {'missing keys ' + ', '.join(missing) if missing else ''}"
                       f"{'; ' if missing and unknown else ''}"
                       f"{'unknown keys ' + short_repr(unknown) if unknown else ''} "
                       f"(allowed: {', '.join(CELL_KEYS)})")
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
    except ValueError as err:
        raise CLIError(f"--spec: key 'root_seed': {err}") from None
    if not isinstance(spec["references"], list):
        raise CLIError(f"--spec: key 'references' = {short_repr(spec['references'])}: "
                       "allowed a list")
    try:
        problem_of(spec)
    except (ValueError, TypeError) as err:
        key = str(err).split("=")[0].removeprefix("MarginProblem.").strip()
        raise CLIError(f"--spec: key '{key if key in spec else '?'}': {err}") from None
    return spec


def main_margins(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mediocrity margins", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cell = sub.add_parser("run-cell", help="train the seeds of one cell into a Zarr store")
    cell.add_argument("--spec", required=True, help="cell spec (JSON, from the workflow)")
    cell.add_argument("--out", required=True, help="output store (written atomically)")
    cell.add_argument("--threads", type=_int_range("--threads", 1, 1024), default=1,
                      help="local Dask workers (1..1024)")
    cell.add_argument("--dask", default='{"scheduler": "local"}', help="dask config (JSON)")
    merge = sub.add_parser("merge", help="merge cell stores into the sweep store")
    merge.add_argument("--attrs", required=True, help="store attributes (JSON)")
    merge.add_argument("--out", required=True)
    merge.add_argument("cells", nargs="+", help="cell stores")
    summary = sub.add_parser("summary", help="one row per run: the end of training")
    summary.add_argument("--sweep", required=True)
    summary.add_argument("--out", required=True)
    figure = sub.add_parser("figure", help="figure M1..M5 with its fits")
    figure.add_argument("experiment")
    figure.add_argument("--stem", required=True, help="output path without .pdf/.png")
    figure.add_argument("--summary", required=True)
    figure.add_argument("--sweep", required=True)
    figure.add_argument("--csv", required=True, help="fit table (CSV)")
    figure.add_argument("--tex", required=True, help="LaTeX macros of the fits")
    figure.add_argument("--n-boot", type=_int_range("--n-boot", 10, 100_000), default=1000)
    figure.add_argument("--bootstrap-seed", type=_int_range("--bootstrap-seed", 0, 2**63 - 1),
                        default=0)
    for command in (cell, merge, summary):
        command.add_argument("--allow-outside-results", action="store_true",
                             help="allow --out outside ./results")
    args = parser.parse_args(argv)
    if args.command == "run-cell":
        from .sweep import run_cell

        spec, dask_cfg = check_cell_spec(args.spec), check_dask(args.dask)
        out = check_output("--out", args.out, args.allow_outside_results)
        run_cell(spec, out, args.threads, dask_cfg)
    elif args.command == "merge":
        from .store import merge_cells

        attrs = _json_arg("--attrs", args.attrs)
        cells = [check_input_store("cells", c) for c in args.cells]
        roots = [_results_tree(c, 4) for c in cells]
        out = check_output("--out", args.out, args.allow_outside_results, roots)
        merge_cells(cells, out, attrs)
    elif args.command == "summary":
        from .store import summarise

        sweep = check_input_store("--sweep", args.sweep)
        out = check_output("--out", args.out, args.allow_outside_results,
                           [_results_tree(sweep, 2)])
        summarise(sweep, out)
    else:
        from .paper import figure_with_fits

        summary = check_input_store("--summary", args.summary)
        sweep = check_input_store("--sweep", args.sweep)
        root = [_results_tree(summary, 2)]
        csv = check_output("--csv", args.csv, False, root, store=False)
        tex = check_output("--tex", args.tex, False, root, store=False)
        stem = check_output("--stem", args.stem + ".pdf", False, root, store=False)[:-4]
        figure_with_fits(args.experiment, summary, sweep, stem, csv, tex, args.n_boot,
                         args.bootstrap_seed)
    return 0

