"""The escape study (F1-F7): one-pass SGD of two-layer committees escaping mediocrity on
hard single-index targets, after Arnaboldi, Krzakala, Loureiro, Stephan (arXiv 2305.18502).

Config section `experiments`; cells (experiment, engine, d, p, gamma, noise, seed chunk) ->
<results>/<exp>/{sweep,ode,exit_times}.zarr -> figures F1-F7, fits.csv, numbers.tex
(rules.smk). Modules: config (checks, step sizes), sweep (cells, cost model, run_cell),
store (merge, exit times), fit, exponents (F7), measure, figures, paper, cli."""

from pathlib import Path

from ...pipeline.study import Study
from . import config, sweep


def _stores(cfg: dict, name: str) -> list[str]:
    return ["sweep", "exit_times"] + (["ode"] if cfg["experiments"][name]["ode"] else [])


def _targets(cfg: dict) -> list[str]:
    from ...pipeline import paths
    from . import paper

    stores = [paths.store(cfg["results"], name, store) for name in cfg["experiments"]
              for store in _stores(cfg, name)]
    return stores + paper.targets(cfg)


def _fit_tables(cfg: dict) -> list[str]:
    from . import paper

    return paper.f7_outputs(cfg)[2:4]


def _main_escape(argv: list[str]) -> int:
    from .cli import main_escape

    return main_escape(argv)


def _main_paper(argv: list[str]) -> int:
    from .paper import main_paper

    return main_paper(argv)


def _deprecated(command: str):
    def run(argv: list[str]) -> int:
        from .cli import deprecated

        return deprecated(command)(argv)
    return run


STUDY = Study(
    name="escape", section=config.SECTION, directory=Path(__file__).parent,
    summary="the escape study's pipeline steps (F1-F7)",
    check=config.check, cells=sweep.experiment_cells, cell_spec=sweep.cell_spec,
    modelled_seconds=sweep.modelled_seconds, stores=_stores, targets=_targets,
    fit_tables=_fit_tables, warmup=sweep.warmup, merge_preset=config.merge_preset,
    commands={"escape": _main_escape, "paper": _main_paper,
              **{c: _deprecated(c) for c in ("run-cell", "ode", "merge", "exit-times")}})
