"""`mediocrity margins ...`: the margins study's pipeline steps, one package call each
(used by its rules.smk), with the core's argument guards (one-line errors naming the
argument; outputs inside ./results)."""

from __future__ import annotations

import argparse

from ...pipeline.cli import (CLIError, add_bootstrap, add_run_cell, check_dask,
                             check_input_store, check_output, check_spec_cell, check_spec_keys,
                             json_arg, short_repr)
from ...pipeline.paths import results_tree
from .sweep import RUN_KEYS

CELL_KEYS = ("experiment", "engine", "d", "m", "n", "k", "separation", "seeds", "root_seed",
             *RUN_KEYS)


def check_cell_spec(text: str):
    """(spec, MarginProblem) of run-cell's --spec (sweep.cell_spec), every key checked;
    the problem is the one the job runs (built once)."""
    from .sweep import problem_of

    spec = json_arg("--spec", text)
    check_spec_keys(spec, CELL_KEYS)
    check_spec_cell(spec)
    if not isinstance(spec["references"], list):
        raise CLIError(f"--spec: key 'references' = {short_repr(spec['references'])}: "
                       "allowed a list")
    try:
        problem = problem_of(spec)
    except (ValueError, TypeError) as err:
        key = str(err).split("=")[0].removeprefix("MarginProblem.").strip()
        raise CLIError(f"--spec: key '{key if key in spec else '?'}': {err}") from None
    return spec, problem


def main_margins(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mediocrity margins", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cell = add_run_cell(sub, "train the seeds of one cell into a Zarr store")
    merge = sub.add_parser("merge", help="merge cell stores into the sweep store")
    merge.add_argument("--attrs", required=True, help="store attributes (JSON)")
    merge.add_argument("--out", required=True, help="sweep store (written atomically)")
    merge.add_argument("cells", nargs="+", help="cell stores")
    summary = sub.add_parser("summary", help="one row per run: the end of training")
    summary.add_argument("--sweep", required=True, help="the experiment's sweep store")
    summary.add_argument("--out", required=True, help="summary store (written atomically)")
    figure = sub.add_parser("figure", help="figure M1..M5 with its fits")
    figure.add_argument("experiment", help="M1, M2, M3, M4 or M5")
    figure.add_argument("--stem", required=True, help="output path without .pdf/.png")
    figure.add_argument("--summary", required=True, help="the experiment's summary store")
    figure.add_argument("--sweep", required=True, help="the experiment's sweep store")
    figure.add_argument("--csv", required=True, help="fit table (CSV)")
    figure.add_argument("--tex", required=True, help="LaTeX macros of the fits")
    add_bootstrap(figure)
    for command in (cell, merge, summary):
        command.add_argument("--allow-outside-results", action="store_true",
                             help="allow --out outside ./results")
    args = parser.parse_args(argv)
    if args.command == "run-cell":
        from .sweep import run_cell

        (spec, problem), dask_cfg = check_cell_spec(args.spec), check_dask(args.dask)
        out = check_output("--out", args.out, args.allow_outside_results)
        run_cell(spec, out, args.threads, dask_cfg, problem)
    elif args.command == "merge":
        from .store import merge_cells

        attrs = json_arg("--attrs", args.attrs)
        cells = [check_input_store("cells", c) for c in args.cells]
        roots = [results_tree(c, 4) for c in cells]
        out = check_output("--out", args.out, args.allow_outside_results, roots)
        merge_cells(cells, out, attrs)
    elif args.command == "summary":
        from .store import summarise

        sweep = check_input_store("--sweep", args.sweep)
        out = check_output("--out", args.out, args.allow_outside_results,
                           [results_tree(sweep, 2)])
        summarise(sweep, out)
    else:
        from .figures import figure_with_fits

        summary = check_input_store("--summary", args.summary)
        sweep = check_input_store("--sweep", args.sweep)
        root = [results_tree(summary, 2)]
        csv = check_output("--csv", args.csv, False, root, store=False)
        tex = check_output("--tex", args.tex, False, root, store=False)
        stem = check_output("--stem", args.stem + ".pdf", False, root, store=False)[:-4]
        figure_with_fits(args.experiment, summary, sweep, stem, csv, tex, args.n_boot,
                         args.bootstrap_seed)
    return 0

